"""A throwaway PostgreSQL server for the tests, and fresh databases on it.

``TemporaryPostgres`` runs ``initdb`` into a temporary folder and starts the server on a free port of
127.0.0.1 (durability off: the cluster is deleted at the end). PostgreSQL refuses to run as root, so
under root (the CI machines) the cluster belongs to the ``postgres`` user Debian's package creates and
the binaries run through ``runuser``. ``DatabaseFactory`` migrates one template database once and
copies it (``CREATE DATABASE ... TEMPLATE``) for every knowledge base a test makes: a copy takes
milliseconds, the migration chain a second.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

TEMPLATE = "kb_template"


class PostgresUnavailable(RuntimeError):
    """PostgreSQL cannot run here; the message says why (shown as the skip reason)."""


def _bindir() -> Path:
    """The folder of the server binaries: PATH first, then Debian's versioned folders (newest first)."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not candidates:
        raise PostgresUnavailable("no PostgreSQL server binaries (initdb): apt-get install postgresql")
    return Path(candidates[-1]).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TemporaryPostgres:
    """``with TemporaryPostgres() as pg: pg.url`` -- a superuser URL to a fresh cluster's ``postgres`` db."""

    def __init__(self) -> None:
        self.bindir = _bindir()
        self.port = _free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="kb-postgres-"))
        self.data = self.folder / "data"
        self._as_user: list[str] = []

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://kb@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        done = subprocess.run([*self._as_user, *args], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            log = self.folder / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise PostgresUnavailable(f"{Path(args[0]).name} failed: {done.stderr.strip()[-1000:]} {tail}")

    def start(self) -> TemporaryPostgres:
        if os.geteuid() == 0:  # the server refuses root: run it as Debian's postgres user
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError as exc:
                raise PostgresUnavailable("running as root and there is no 'postgres' user to run the server") from exc
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
            self._as_user = ["runuser", "-u", "postgres", "--"]
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", "kb", "--auth=trust", "-E", "UTF8",
                  "--locale=C", "--no-sync")
        options = (f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-o", options, "-l",
                  str(self.folder / "server.log"), "-w", "-t", "60", "start")
        return self

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            subprocess.run([*self._as_user, str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                            "-w", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> TemporaryPostgres:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()


class DatabaseFactory:
    """Fresh, migrated databases on one server, copied from a template migrated once."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self._admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", pool_size=1)
        self._count = 0
        self._lock = threading.Lock()
        self._template_ready = False
        self.prefix = f"kbtest_{os.getpid()}_"

    def _url_for(self, name: str) -> str:
        return make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)

    def _ensure_template(self) -> None:
        if self._template_ready:
            return
        from kb.db import make_engine, upgrade

        template = self.prefix + TEMPLATE
        with self._admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{template}"'))
        engine = make_engine(self._url_for(template))
        upgrade(engine)
        engine.dispose()  # a template must have no open connections to be copied
        self._template_ready = True

    def create(self, *, migrated: bool = True) -> str:
        """A new database's URL: a copy of the migrated template, or empty (for migration tests)."""
        with self._lock:
            if migrated:
                self._ensure_template()
            self._count += 1
            name = f"{self.prefix}{self._count}"
            source = f' TEMPLATE "{self.prefix}{TEMPLATE}"' if migrated else ""
            with self._admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"{source}'))
            return self._url_for(name)

    def drop(self, url: str) -> None:
        name = make_url(url).database
        with self._admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def close(self) -> None:
        if self._template_ready:
            with self._admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self.prefix}{TEMPLATE}" WITH (FORCE)'))
        self._admin.dispose()
