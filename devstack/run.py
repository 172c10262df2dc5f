"""`make run`: bring up the whole app on its embedded defaults, stop it all on Ctrl-C."""

from __future__ import annotations

import os
import secrets
import signal
import sys
import threading
from pathlib import Path

from devstack.processes import ROOT, Supervisor, manage
from devstack.services import EmbeddedPostgres, EmbeddedRedis, free_port, wait_for_port

# DATA_DIR moves the embedded database, Redis data and secret key (README: Configuration).
DATA = Path(os.environ.get("DATA_DIR") or ROOT / ".data").resolve()


def read_or_create_secret(path: Path) -> str:
    """A SECRET_KEY generated once and kept under .data/, so sessions survive restarts."""
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


def local_env(host: str, port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("SECRET_KEY", read_or_create_secret(DATA / "secret_key"))
    env.setdefault("ALLOWED_HOSTS", f"{host},localhost,127.0.0.1")
    env.setdefault("CSRF_TRUSTED_ORIGINS", f"http://{host}:{port},http://localhost:{port}")
    # Plain http on the local machine: a Secure cookie would never be sent back.
    env.setdefault("SECURE_COOKIES", "false")
    env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    return env


def provider_configured(env: dict[str, str]) -> bool:
    keys = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL")
    return any(env.get(key) for key in keys)


def main() -> int:
    DATA.mkdir(parents=True, exist_ok=True)
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8000"))
    env = local_env(host, port)
    python = sys.executable

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())

    postgres = EmbeddedPostgres(DATA / "pg") if not env.get("DATABASE_URL") else None
    redis = EmbeddedRedis(DATA / "redis") if not env.get("REDIS_URL") else None
    supervisor = Supervisor()
    try:
        if postgres:
            env["DATABASE_URL"] = postgres.start()
            print(f"embedded PostgreSQL + pgvector: {DATA / 'pg'}", flush=True)
        if redis:
            env["REDIS_URL"] = redis.start()
            print(f"embedded Redis: {env['REDIS_URL']}", flush=True)
        manage(env, "migrate", "--noinput", "-v", "0")
        manage(env, "collectstatic", "--noinput", "-v", "0")
        manage(env, "seed_demo")
        if not provider_configured(env):
            sim_port = free_port()
            env["SIMULATOR_URL"] = f"http://127.0.0.1:{sim_port}"
            supervisor.spawn(
                "simulator", [python, "-m", "gateway.simulator", "--port", str(sim_port)], env
            )
            wait_for_port(sim_port)
            print("no provider key set: replies come from the provider simulator", flush=True)
        supervisor.spawn(
            "web",
            [python, "-m", "daphne", "-b", host, "-p", str(port), "config.asgi:application"],
            env,
        )
        supervisor.spawn(
            "worker",
            [python, "-m", "celery", "-A", "config", "-q", "worker", "-l", "warning", "-c", "2"],
            env,
        )
        supervisor.spawn(
            "beat",
            [
                python,
                "-m",
                "celery",
                "-A",
                "config",
                "-q",
                "beat",
                "-l",
                "warning",
                "-s",
                str(DATA / "celerybeat-schedule"),
            ],
            env,
        )
        wait_for_port(port, timeout=30, host=host)
        print(f"\nSwitchboard is running at http://{host}:{port}/  (Ctrl-C stops it)\n", flush=True)
        while not stop.wait(0.5):
            if dead := supervisor.exited():
                print(f"stopping: {', '.join(dead)} exited", file=sys.stderr, flush=True)
                return 1
        return 0
    finally:
        print("stopping...", flush=True)
        supervisor.stop_all()
        if redis:
            redis.stop()
        if postgres:
            postgres.stop()
        print(f"stopped; data kept in {DATA}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
