"""Logging in: throttled against password guessing, without telling who has an account."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-test-password"


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
    assert throttled.status_code == 429 and throttled["Retry-After"] == "60"
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
