"""Production settings are safe by default, and the schema matches the models."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

import pytest
from django.core.management import call_command

from devstack.processes import ROOT

REQUIRED = ("SECRET_KEY", "ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS", "DATABASE_URL", "REDIS_URL")
PRINT_SETTINGS = (
    "from django.conf import settings as s; "
    "print(s.DEBUG, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.CORS_ALLOWED_ORIGINS, "
    "s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS > 0)"
)
LOCAL_ONLY = ("DEBUG", "SECURE_COOKIES", "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS")


def _settings_process(env: dict[str, str], code: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in (*REQUIRED, *LOCAL_ONLY)}
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        env={**clean, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("missing", REQUIRED)
def test_the_app_refuses_to_start_without_a_required_variable(missing):
    env = {name: os.environ[name] for name in REQUIRED if name != missing}
    result = _settings_process(env, "pass")
    assert result.returncode != 0
    assert f"Set the {missing} environment variable" in result.stderr


def test_production_defaults_are_the_safe_ones():
    result = _settings_process({name: os.environ[name] for name in REQUIRED}, PRINT_SETTINGS)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True", "True", "[]", "True", "True"]


def test_the_deploy_checklist_is_clean_on_production_defaults():
    env = {name: os.environ[name] for name in REQUIRED}
    env["SECRET_KEY"] = secrets.token_urlsafe(50)
    check = "call_command('check', '--deploy', '--fail-level', 'WARNING')"
    result = _settings_process(env, f"from django.core.management import call_command; {check}")
    assert result.returncode == 0, result.stderr


def test_migrations_match_the_models(db):
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def test_django_system_checks_pass():
    call_command("check", fail_level="WARNING")
