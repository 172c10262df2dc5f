"""/healthz and /readyz against real processes, including a Redis that goes away and comes back."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import httpx
import pytest
from django.conf import settings

from devstack.services import EmbeddedRedis, free_port
from tests import live

pytestmark = pytest.mark.django_db(transaction=True)

CHECKS = {"database", "redis", "channel_layer", "celery", "providers"}


def readyz(base_url: str) -> httpx.Response:
    # Each check is bounded to 3 s and they run concurrently, so one probe answers well within 10.
    return httpx.get(f"{base_url}/readyz", timeout=10)


def wait_for_readyz(
    base_url: str, until: Callable[[httpx.Response], bool], timeout: float
) -> httpx.Response:
    """Poll /readyz until `until` holds; fail with the last answer when it never does."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = readyz(base_url)
        if until(last):
            return last
        time.sleep(0.25)
    raise AssertionError(
        f"/readyz never reached the expected state within {timeout:.0f} s; last answer: "
        f"{last.status_code if last else None} {last.text if last else ''}"
    )


def is_ready(response: httpx.Response) -> bool:
    return response.status_code == 200


def assert_no_secrets(response: httpx.Response, *secret_values: str) -> None:
    for value in (settings.SECRET_KEY, *secret_values):
        assert value not in response.text, "/readyz leaks a secret"


@dataclass
class OwnStack:
    url: str
    redis: EmbeddedRedis
    worker: ExitStack

    def stop_worker(self) -> None:
        self.worker.close()


@pytest.fixture
def own_stack(tmp_path, live_env, openai_template) -> Iterator[OwnStack]:
    """Daphne and a Celery worker on a Redis of their own, which this test may stop at will;
    the session's Redis, shared by every other test, is left alone."""
    # A password, so that the no-secrets assertion has something to look for.
    redis = EmbeddedRedis(tmp_path / "redis", free_port(), False, secrets.token_urlsafe(16))
    redis.start()
    env = {**live_env, "REDIS_URL": redis.url, "CELERY_BROKER_URL": redis.url}
    with ExitStack() as stack:
        stack.callback(redis.stop)
        url = stack.enter_context(live.daphne(env))
        # Its own exit stack, so a test can stop the worker alone.
        worker = stack.enter_context(ExitStack())
        worker.enter_context(live.celery_worker(env))
        yield OwnStack(url, redis, worker)


def test_healthz_answers_ok(app_server):
    response = httpx.get(f"{app_server}/healthz", timeout=5)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_is_ok_when_every_dependency_runs(
    app_server, celery_worker, simulator, openai_template, anthropic_template
):
    # The worker may still be starting: wait for readiness, bounded.
    response = wait_for_readyz(app_server, is_ready, timeout=90)

    report = response.json()
    assert report["status"] == "ok" and report["failed"] == []
    assert set(report["checks"]) == CHECKS
    for name, check in report["checks"].items():
        assert check["ok"] is True and "error" not in check, name
    assert_no_secrets(response)


def test_readyz_names_redis_when_it_is_down_and_recovers(own_stack):
    url, redis = own_stack.url, own_stack.redis
    ready = wait_for_readyz(url, is_ready, timeout=90)  # a fresh worker on a busy machine
    assert_no_secrets(ready, redis.password)

    redis.stop()
    down = wait_for_readyz(url, lambda r: r.status_code == 503, timeout=15)
    report = down.json()
    assert report["status"] == "fail"
    assert "redis" in report["failed"]
    assert report["checks"]["redis"]["ok"] is False
    # The reason is named (the connection was refused), not just "failed".
    assert "connect" in report["checks"]["redis"]["error"].lower()
    assert_no_secrets(down, redis.password)

    restarted = time.monotonic()
    redis.start()  # same port, same password: the app's processes must find it again
    back = wait_for_readyz(url, is_ready, timeout=90)
    assert back.json()["failed"] == []
    assert_no_secrets(back, redis.password)
    print(f"ready again {time.monotonic() - restarted:.1f} s after Redis restarted")


def test_readyz_names_celery_when_no_worker_runs(own_stack):
    wait_for_readyz(own_stack.url, is_ready, timeout=90)

    own_stack.stop_worker()
    down = wait_for_readyz(own_stack.url, lambda r: r.status_code == 503, timeout=15)
    report = down.json()
    assert report["failed"] == ["celery"]
    assert report["checks"]["celery"]["error"] == "no Celery worker answered"
    assert_no_secrets(down, own_stack.redis.password)
