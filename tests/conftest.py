from __future__ import annotations

import importlib
import os
import time
from decimal import Decimal

import httpx
import pytest
import redis
from django.conf import settings
from django.core.management.base import CommandError
from django.core.management.commands import flush
from django.test import Client
from django.test.utils import override_settings

from devstack.processes import ROOT
from gateway.models import LanguageModel
from prompts_admin.models import PromptTemplate
from tests import live

MAIL_DIR = ROOT / ".data" / "test" / f"mail-{os.getpid()}"


@pytest.fixture(scope="session")
def django_db_modify_db_settings():
    """A test database per run, so two suites on one machine never drop each other's."""
    from django.conf import settings

    settings.DATABASES["default"].setdefault("TEST", {})["NAME"] = (
        f"test_{settings.DATABASES['default']['NAME']}_{os.getpid()}"
    )


@pytest.fixture(scope="session", autouse=True)
def _flush_survives_background_writers():
    """Between transactional tests the database is flushed (TRUNCATE) while the live Daphne and
    Celery processes may still be writing (an eval job, a title): Postgres then picks one side of
    the lock cycle to abort. Retry the flush instead of failing an unrelated test. And put the
    content types and permissions back as they were, ids included, instead of letting
    post_migrate recreate them under new ids that the live processes do not know."""
    original = flush.Command.handle

    def handle(self, **options):
        # Content types and permissions keep their ids: the live Daphne and Celery processes
        # cache them (admin's LogEntry, permission checks) for the whole session.
        from django.contrib.auth.models import Permission
        from django.contrib.contenttypes.models import ContentType

        content_types, permissions = list(ContentType.objects.all()), list(Permission.objects.all())
        options["inhibit_post_migrate"] = True
        for attempt in range(5):
            try:
                original(self, **options)
                break
            except CommandError as error:
                if "deadlock" not in str(error.__cause__) or attempt == 4:
                    raise
                time.sleep(0.2 * (attempt + 1))
        ContentType.objects.bulk_create(content_types, ignore_conflicts=True)
        Permission.objects.bulk_create(permissions, ignore_conflicts=True)

    flush.Command.handle = handle
    yield
    flush.Command.handle = original


@pytest.fixture(autouse=True)
def _fresh_shared_state():
    """Breakers and rate-limit counters live in Redis, shared by every test: reset them."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    keys = [*client.scan_iter("sb:breaker:*"), *client.scan_iter("sb:*rl:*")]
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture(scope="session")
def simulator_url():
    """One provider simulator for the session; every SDK call of the app goes to it."""
    with (
        live.simulator(ttft_ms=20, tokens_per_s=200, own_model=live.TITLE_MODEL) as url,
        override_settings(SIMULATOR_URL=url, CHAT_TITLE_MODEL=live.TITLE_MODEL),
    ):
        yield url


@pytest.fixture
def simulator(simulator_url):
    """The simulator's control API, with its script and request log emptied for this test."""
    with httpx.Client(base_url=simulator_url, timeout=5) as client:
        client.delete("/_sim/script")
        client.delete("/_sim/requests")
        yield client


@pytest.fixture(scope="session")
def live_env(django_db_setup, simulator_url) -> dict[str, str]:
    """Environment for app processes: the test database and the session's simulator."""
    from django.db import connection

    options = connection.settings_dict
    host = options.get("HOST") or options.get("OPTIONS", {}).get("host")
    port = f":{options['PORT']}" if options.get("PORT") else ""
    if host and host.startswith("/"):
        url = f"postgres://{options['USER']}@{port}/{options['NAME']}?host={host}"
    else:
        auth = options["USER"] + (f":{options['PASSWORD']}" if options.get("PASSWORD") else "")
        url = f"postgres://{auth}@{host}{port}/{options['NAME']}"
    return {
        "DATABASE_URL": url,
        "SIMULATOR_URL": simulator_url,
        "CHAT_TITLE_MODEL": live.TITLE_MODEL,
        # Emails sent by app processes and the worker land as files tests can read.
        "EMAIL_URL": f"filemail:///{MAIL_DIR}",  # django-environ drops one leading slash
    }


@pytest.fixture(scope="session")
def app_server(live_env):
    """Daphne serving the app (http + websocket) on the test database."""
    with live.daphne(live_env) as url:
        yield url


@pytest.fixture(scope="session")
def celery_worker(live_env):
    with live.celery_worker(live_env):
        yield


def _model(name: str, provider: str) -> LanguageModel:
    model, _ = LanguageModel.objects.update_or_create(
        name=name,
        defaults={
            "provider": provider,
            "input_price": Decimal("0.15"),
            "cached_input_price": Decimal("0.075"),
            "output_price": Decimal("0.60"),
        },
    )
    return model


@pytest.fixture
def title_model(db) -> LanguageModel:
    """The model CHAT_TITLE_MODEL names in tests (see tests/live.py): titles are asked of it."""
    return _model(live.TITLE_MODEL, "openai")


@pytest.fixture
def openai_template(db, title_model) -> PromptTemplate:
    return PromptTemplate.objects.create(
        slug="openai-assistant",
        name="OpenAI assistant",
        system_prompt="You are a test assistant.",
        model=_model("gpt-4o-mini", "openai"),
        is_default=True,
    )


@pytest.fixture
def anthropic_template(db, title_model) -> PromptTemplate:
    model, _ = LanguageModel.objects.update_or_create(
        name="claude-haiku-4-5",
        defaults={
            "provider": "anthropic",
            "input_price": Decimal("1.00"),
            "cached_input_price": Decimal("0.10"),
            "cache_write_price": Decimal("1.25"),
            "output_price": Decimal("5.00"),
        },
    )
    return PromptTemplate.objects.create(
        slug="claude-assistant",
        name="Claude assistant",
        system_prompt="You are a test assistant.",
        model=model,
    )


@pytest.fixture
def staff_groups(db):
    """The "Prompt editors" and "Managers" groups as the migrations define them. Transactional
    tests flush every table, data migrations' rows included, so they are made again here."""
    from django.apps import apps
    from django.contrib.auth.models import Group

    for migration in ("0005_prompt_groups", "0006_group_permissions_across_apps"):
        module = importlib.import_module(f"prompts_admin.migrations.{migration}")
        (module.make_groups if hasattr(module, "make_groups") else module.grant)(apps, None)
    return {group.name: group for group in Group.objects.filter(name__in=STAFF_GROUPS)}


STAFF_GROUPS = ("Prompt editors", "Managers")


@pytest.fixture
def make_user(db, django_user_model):
    def make(username: str = "alice", password: str = "a-long-test-password"):
        return django_user_model.objects.create_user(username=username, password=password)

    return make


@pytest.fixture
def session_cookie():
    """A logged-in session for `user`, as the Cookie header value a browser would send."""

    def cookie(user) -> str:
        client = Client()
        client.force_login(user)
        return f"sessionid={client.cookies['sessionid'].value}"

    return cookie
