"""``kb serve --workers N`` / ``--production``: the web app under gunicorn, one knowledge base per worker.

gunicorn is driven from Python (a :class:`gunicorn.app.base.BaseApplication`), so ``kb serve`` stays the one
command and the settings come from ``config.toml``. Decisions:

* **No preloading.** Each worker builds its own :class:`KnowledgeBase` after the fork (database engine,
  model, indexes): database connections and ONNX Runtime must not cross a fork (the master never even imports
  it: a worker forked with it loaded aborts at exit; :mod:`kb.cores`), and the model
  is small (~90 MB for the int8 ONNX model; a worker with the demo index measured ~250 MB resident). The
  master only brings the schema to head, once, before any worker starts, so workers never race to migrate.
* **Warm start.** A worker loads the model and the index before it accepts its first request, so the
  first search is not the one paying for it; ``/readyz`` says when a worker is ready.
* **gthread workers** (``serve.threads`` threads each): an ask or a slow page does not hold up the searches
  queued behind it; the index swap is safe under threads (``KnowledgeBase.indexes``).
* **Timeouts**: a worker silent for ``serve.timeout_seconds`` is replaced; SIGTERM stops accepting, lets
  requests in flight finish for ``serve.graceful_timeout_seconds``, then exits (graceful shutdown).
* **Model threads shared out**: unless ``embedding.threads`` is set, each worker's model gets the cores
  divided by the workers (1 each for 2 workers on 2 cores). Two workers each running a query on every core
  oversubscribe them, and short requests (a tracked-link redirect) queue behind: in the load test the
  redirect p99 fell from 91 to 66 ms with everything else unchanged.
* **Logs**: gunicorn's own access log is off; :mod:`web.request_log` writes one line per request with the
  request id and user; every logger goes through one handler as JSON lines (or text on a terminal).
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from kb.settings import Settings


class KnowledgeBaseServer(BaseApplication):
    """gunicorn with its options given in code and the app built in each worker."""

    def __init__(self, settings: Settings, options: dict[str, Any]) -> None:
        self.settings = settings
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings:  # e.g. control_socket_disable exists only from gunicorn 24 on
                self.cfg.set(key, value)

    def load(self) -> Flask:
        return worker_app(self.settings)


def worker_settings(settings: Settings, workers: int) -> Settings:
    """``settings`` with each worker's share of the cores for its model, unless ``embedding.threads`` is set."""
    from kb.cores import available_cores  # not kb.onnx_embedding: no ONNX Runtime in the master (kb.cores)
    from kb.settings import with_overrides

    if settings.embedding.threads > 0 or workers < 2:
        return settings
    return with_overrides(settings, embedding={"threads": max(1, available_cores() // workers)})


def worker_app(settings: Settings) -> Flask:
    """The app of one worker, its model and indexes loaded (runs in the worker, after the fork)."""
    from kb.knowledge_base import KnowledgeBase
    from kb.runtime_settings import apply_runtime_settings
    from web import create_app

    kb = KnowledgeBase(settings)
    apply_runtime_settings(kb)
    app = create_app(kb)
    kb.indexes()  # model and index in memory before the first request
    return app


def logging_config(log_format: str) -> dict[str, Any]:
    """gunicorn's ``logconfig_dict``: every logger (gunicorn's and ours) through one stderr handler."""
    formatter: dict[str, Any] = (
        {"()": "kb.logging_setup.JsonFormatter"} if log_format == "json"
        else {"format": "%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"kb": formatter},
        "handlers": {"kb": {"class": "logging.StreamHandler", "formatter": "kb", "stream": "ext://sys.stderr"}},
        "root": {"level": "INFO", "handlers": ["kb"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": [], "propagate": True, "qualname": "gunicorn.error"},
            "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": True, "qualname": "gunicorn.access"},
            "faiss.loader": {"level": "WARNING"},  # which CPU build loaded, at every start of every worker
        },
    }


def server_options(settings: Settings, *, host: str, port: int, workers: int, log_format: str) -> dict[str, Any]:
    serve = settings.serve
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "gthread",
        "threads": serve.threads,
        "timeout": serve.timeout_seconds,
        "graceful_timeout": serve.graceful_timeout_seconds,
        "keepalive": 5,
        "accesslog": None,  # web.request_log writes the structured per-request line instead
        "logconfig_dict": logging_config(log_format),
        "proc_name": "kb-serve",
        "control_socket_disable": True,  # gunicorn 24+'s control socket is one per user: two servers would clash
    }


def serve_production(settings: Settings, *, host: str, port: int, workers: int, log_format: str) -> None:
    """Run gunicorn in the foreground until SIGTERM/SIGINT. The schema is migrated here, once, first."""
    from kb import db

    if workers < 1:
        from kb.errors import ValidationError

        raise ValidationError("--workers must be at least 1")
    engine = db.make_engine(settings.database_url, busy_timeout_ms=settings.database.busy_timeout_ms)
    try:
        db.ensure_schema(engine)
    finally:
        engine.dispose()  # no connection may cross the fork into the workers
    options = server_options(settings, host=host, port=port, workers=workers, log_format=log_format)
    KnowledgeBaseServer(worker_settings(settings, workers), options).run()
