"""Logging in: throttled against password guessing, without telling who has an account."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-test-password"


@pytest.fixture(autouse=True)
def _hourly_window(settings):
    # Counting windows are fixed; an hour-long one keeps a test's attempts inside one window.
    settings.LOGIN_RATE_LIMIT = "10/h"


def _comparable(html: str) -> str:
    """The page without what differs by design: the masked CSRF token."""
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)


def _attempt(client, username: str, password: str):
    return client.post("/accounts/login/", {"username": username, "password": password})


def test_the_right_password_logs_in(client, make_user):
    make_user("alice", PASSWORD)
    response = _attempt(client, "alice", PASSWORD)
    assert response.status_code == 302 and response.url == "/"


def test_repeated_guesses_are_throttled_and_even_the_right_password_waits(client, make_user):
    make_user("alice", PASSWORD)
    for _ in range(10):
        assert _attempt(client, "alice", "wrong guess").status_code == 200

    throttled = _attempt(client, "alice", PASSWORD)
    assert throttled.status_code == 429
    assert 0 < int(throttled["Retry-After"]) <= 3600  # until the hour's window ends
    assert "Too many login attempts" in throttled.content.decode()
    assert "_auth_user_id" not in client.session  # not logged in


def test_throttling_says_the_same_for_accounts_that_do_not_exist(client, make_user):
    make_user("alice", PASSWORD)
    for _ in range(10):
        _attempt(client, "nobody", "guess")
    existing = _attempt(client, "alice", "guess").content.decode()
    missing = _attempt(client, "nobody", "guess").content.decode()
    assert _comparable(existing) == _comparable(missing)


def test_wrong_username_and_wrong_password_get_the_same_message(client, make_user):
    make_user("alice", PASSWORD)
    wrong_password = _attempt(client, "alice", "nope").content.decode()
    no_such_user = _attempt(client, "mallory", "nope").content.decode()
    assert "didn't match" in wrong_password
    assert _comparable(wrong_password) == _comparable(no_such_user)


def _dead_ratelimit_cache(settings):
    from devstack.services import free_port

    caches = {**settings.CACHES}
    caches["ratelimit"] = {**caches["ratelimit"], "LOCATION": f"redis://127.0.0.1:{free_port()}/0"}
    settings.CACHES = caches


def _outages(policy: str) -> float:
    from observability.metrics import RATELIMIT_BACKEND_ERRORS

    return RATELIMIT_BACKEND_ERRORS.labels(policy=policy).get()


def test_without_redis_logins_are_refused_by_default_and_the_outage_is_counted(
    client, make_user, settings
):
    make_user("alice", PASSWORD)
    _dead_ratelimit_cache(settings)
    before = _outages("closed")

    response = _attempt(client, "alice", PASSWORD)

    assert response.status_code == 429  # fail closed: no unlimited password guessing
    assert "_auth_user_id" not in client.session
    assert _outages("closed") > before


def test_without_redis_logins_go_through_when_the_policy_is_fail_open(client, make_user, settings):
    make_user("alice", PASSWORD)
    _dead_ratelimit_cache(settings)
    settings.RATELIMIT_FAIL_OPEN = True
    before = _outages("open")

    response = _attempt(client, "alice", PASSWORD)

    assert response.status_code == 302 and response.url == "/"
    assert _outages("open") > before
