"""`make test`: pytest against the embedded PostgreSQL + pgvector and Redis (or the env's own)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

from devstack.processes import ROOT, manage
from devstack.services import embedded_services

DATA = ROOT / ".data" / "test"


def test_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    env.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
    env.setdefault("CSRF_TRUSTED_ORIGINS", "http://127.0.0.1,http://localhost")
    env.setdefault("SECURE_COOKIES", "false")
    env.setdefault("SECURE_SSL_REDIRECT", "false")
    env.setdefault("SECURE_HSTS_SECONDS", "0")
    env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    # Close connections after each use: worker threads must not keep the test database open,
    # or it cannot be dropped at the end of the run.
    env.setdefault("DATABASE_CONN_MAX_AGE", "0")
    # Tests never reach a real provider: every SDK call goes to the simulator they start.
    for key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"):
        env.pop(key, None)
    return env


def main(pytest_args: list[str]) -> int:
    DATA.mkdir(parents=True, exist_ok=True)
    with embedded_services(test_env(), DATA, persist_redis=False) as env:
        manage(env, "collectstatic", "--noinput", "-v", "0")
        return subprocess.call([sys.executable, "-m", "pytest", *pytest_args], env=env, cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
