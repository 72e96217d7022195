"""The ``kb`` root command group, the shared context and JSON output.

Commands parse arguments, call one function of ``kb``/``ingest`` and render. The ``kb.cli`` package
is the composition root: the one place in ``kb`` allowed to import ``ingest`` and ``web``, and only
inside command functions so ``kb --help`` stays fast. Typed ``KBError``s become one
clear line on stderr and the exit code the error class declares; no tracebacks for user mistakes.
"""

from __future__ import annotations

import json
from typing import Any

import click

from kb.errors import KBError
from kb.settings import Settings, load_settings


class KBGroup(click.Group):
    """A click group that turns typed knowledge-base errors into one line and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KBError as exc:
            click.echo(f"error: {exc.message}", err=True)
            ctx.exit(exc.exit_code)


class Context:
    """Lazily built settings and knowledge base shared by the commands of one invocation."""

    def __init__(self, config: str | None) -> None:
        self.config = config
        self.log_format: str | None = None  # --log-format, when given
        self._settings: Settings | None = None
        self._kb = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config)
        return self._settings

    @property
    def kb(self):  # type: ignore[no-untyped-def]
        from kb.knowledge_base import KnowledgeBase

        if self._kb is None:
            from kb.runtime_settings import apply_runtime_settings

            self._kb = KnowledgeBase(self.settings)
            apply_runtime_settings(self._kb)  # what admins changed in the web app applies to commands too
        return self._kb


pass_ctx = click.make_pass_decorator(Context)


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str, ensure_ascii=False))


@click.group(cls=KBGroup)
@click.option("--config", "config", envvar="KB_CONFIG", type=click.Path(dir_okay=False),
              help="Settings file (default: ./config.toml; env KB_CONFIG).")
@click.option("--log-format", type=click.Choice(["text", "json"]), envvar="KB_LOG_FORMAT", default=None,
              help="Log lines (crawler, server) on stderr as text or JSON (env KB_LOG_FORMAT); unset: warnings only, "
                   "as text, except `kb serve`, which logs JSON unless stderr is a terminal.")
@click.version_option(package_name="smarketing-kb")
@click.pass_context
def cli(ctx: click.Context, config: str | None, log_format: str | None) -> None:
    """Smarketing KB: crawl your content, search it, and find the questions it does not answer."""
    ctx.obj = Context(config)
    ctx.obj.log_format = log_format
    if log_format is not None:
        from kb.logging_setup import configure_logging

        configure_logging(log_format)


@cli.command()
@pass_ctx
def init(ctx: Context) -> None:
    """Create the database (run migrations) and load the sites from the config file."""
    from kb.sites import sync_config_sites

    with ctx.kb.transaction() as session:
        sites = sync_config_sites(session, ctx.settings.sites)
    click.echo(f"database ready: {ctx.settings.database_url}")
    click.echo(f"sites from config: {', '.join(s.name for s in sites) or 'none'}")
