"""`make run`: bring up the whole app on its embedded defaults, stop it all on Ctrl-C."""

from __future__ import annotations

import os
import secrets
import signal
import sys
import threading
from pathlib import Path

from devstack.daphne import daphne_argv
from devstack.processes import ROOT, Supervisor, manage
from devstack.services import embedded_services, free_port, wait_for_port

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
    env.setdefault("SECURE_SSL_REDIRECT", "false")
    env.setdefault("SECURE_HSTS_SECONDS", "0")
    env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    return env


def provider_configured(env: dict[str, str]) -> bool:
    keys = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL")
    return any(env.get(key) for key in keys)


def prepare(env: dict[str, str]) -> None:
    """Everything that runs once and is idempotent: a second `make run` redoes nothing."""
    manage(env, "migrate", "--noinput", "-v", "0")
    manage(env, "collectstatic", "--noinput", "-v", "0")
    manage(env, "seed_demo")


def start_simulator(supervisor: Supervisor, env: dict[str, str]) -> None:
    """The provider simulator, when no provider is configured (sets SIMULATOR_URL in `env`)."""
    if provider_configured(env):
        return
    sim_port = free_port()
    env["SIMULATOR_URL"] = f"http://127.0.0.1:{sim_port}"
    argv = [sys.executable, "-m", "gateway.simulator", "--port", str(sim_port)]
    supervisor.spawn("simulator", argv, env)
    wait_for_port(sim_port)
    print("no provider key set: replies come from the provider simulator", flush=True)


def start_web(
    supervisor: Supervisor,
    env: dict[str, str],
    host: str,
    port: int,
    *,
    name: str = "web",
    behind_proxy: bool = False,
) -> None:
    supervisor.spawn(name, daphne_argv(host, port, env, behind_proxy=behind_proxy), env)


def start_workers(supervisor: Supervisor, env: dict[str, str]) -> None:
    celery = [sys.executable, "-m", "celery", "-A", "config", "-q"]
    supervisor.spawn("worker", [*celery, "worker", "-l", "warning", "-c", "2"], env)
    schedule = str(DATA / "celerybeat-schedule")
    supervisor.spawn("beat", [*celery, "beat", "-l", "warning", "-s", schedule], env)


def start_processes(supervisor: Supervisor, env: dict[str, str], host: str, port: int) -> None:
    start_simulator(supervisor, env)
    start_web(supervisor, env, host, port)
    start_workers(supervisor, env)


def main() -> int:
    DATA.mkdir(parents=True, exist_ok=True)
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8000"))
    env = local_env(host, port)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())

    embedded = {name: not env.get(name) for name in ("DATABASE_URL", "REDIS_URL")}
    try:
        with embedded_services(env, DATA):
            if embedded["DATABASE_URL"]:
                print(f"embedded PostgreSQL + pgvector: {DATA / 'pg'}", flush=True)
            if embedded["REDIS_URL"]:
                print(f"embedded Redis: {env['REDIS_URL']}", flush=True)
            return serve(env, host, port, stop)
    finally:
        print(f"stopped; data kept in {DATA}", flush=True)


def serve(env: dict[str, str], host: str, port: int, stop: threading.Event) -> int:
    """Run the app's processes until Ctrl-C (0) or until one of them dies (1)."""
    supervisor = Supervisor()
    try:
        prepare(env)
        start_processes(supervisor, env, host, port)
        wait_for_port(port, timeout=30, host=host)
        print(f"\nSwitchboard is running at http://{host}:{port}/  (Ctrl-C stops it)\n", flush=True)
        while not stop.wait(0.5):
            if dead := supervisor.exited():
                print(f"stopping: {', '.join(dead)} exited", file=sys.stderr, flush=True)
                return 1
        return 0
    finally:
        print("stopping...", flush=True)
        supervisor.stop_all()  # the app's processes first, then the services they use


if __name__ == "__main__":
    sys.exit(main())
