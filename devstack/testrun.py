"""`make test`: pytest against the embedded PostgreSQL + pgvector and Redis (or the env's own)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

from devstack.processes import ROOT, manage
from devstack.services import EmbeddedPostgres, EmbeddedRedis

DATA = ROOT / ".data" / "test"


def test_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    env.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
    env.setdefault("CSRF_TRUSTED_ORIGINS", "http://127.0.0.1,http://localhost")
    env.setdefault("SECURE_COOKIES", "false")
    env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    # Tests never reach a real provider: every SDK call goes to the simulator they start.
    for key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"):
        env.pop(key, None)
    return env


def main(pytest_args: list[str]) -> int:
    DATA.mkdir(parents=True, exist_ok=True)
    env = test_env()
    postgres = EmbeddedPostgres(DATA / "pg") if not env.get("DATABASE_URL") else None
    redis = EmbeddedRedis(DATA / "redis", persist=False) if not env.get("REDIS_URL") else None
    try:
        if postgres:
            env["DATABASE_URL"] = postgres.start()
        if redis:
            env["REDIS_URL"] = redis.start()
        manage(env, "collectstatic", "--noinput", "-v", "0")
        return subprocess.call([sys.executable, "-m", "pytest", *pytest_args], env=env, cwd=ROOT)
    finally:
        if redis:
            redis.stop()
        if postgres:
            postgres.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
