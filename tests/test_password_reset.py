"""Password reset: a working emailed link, the same answer for unknown addresses, throttled."""

from __future__ import annotations

import re
import time

import pytest

from tests.conftest import MAIL_DIR

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "a-long-test-password"


@pytest.fixture(autouse=True)
def _hourly_window(settings):
    settings.PASSWORD_RESET_RATE_LIMIT = "5/h"


def _request_reset(client, email: str):
    return client.post("/accounts/password_reset/", {"email": email})


def _emails_to(address: str, timeout: float = 30) -> list[str]:
    """Emails the Celery worker wrote for `address` (filemail backend), waiting for one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [
            path.read_text()
            for path in (MAIL_DIR.glob("*.log") if MAIL_DIR.exists() else [])
            if f"To: {address}" in path.read_text()
        ]
        if found:
            return found
        time.sleep(0.2)
    return []


def test_the_emailed_link_sets_a_new_password(client, make_user, celery_worker):
    user = make_user("carol", PASSWORD)
    user.email = "carol@example.com"
    user.save()

    response = _request_reset(client, "Carol@Example.com")
    assert response.status_code == 302 and response.url == "/accounts/password_reset/done/"

    [email] = _emails_to("carol@example.com")
    link = re.search(r"https?://[^/\s]+(/accounts/reset/\S+/)", email).group(1)
    form = client.get(link, follow=True)
    assert form.status_code == 200 and "Choose a new password" in form.content.decode()
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "a-brand-new-passphrase", "new_password2": "a-brand-new-passphrase"},
    )
    assert done.status_code == 302 and done.url == "/accounts/reset/done/"

    user.refresh_from_db()
    assert user.check_password("a-brand-new-passphrase")
    assert client.get(link, follow=True).content.decode().count("expired or was already used")


def test_unknown_addresses_get_the_same_answer_and_no_email(client, make_user, celery_worker):
    make_user("carol", PASSWORD)
    known = _request_reset(client, "carol@example.com")
    unknown = _request_reset(client, "nobody@example.com")
    assert (known.status_code, known.url) == (unknown.status_code, unknown.url)
    assert _emails_to("nobody@example.com", timeout=3) == []


def test_reset_requests_are_throttled_per_address(client, make_user):
    for _ in range(5):
        assert _request_reset(client, "someone@example.com").status_code == 302
    throttled = _request_reset(client, "someone@example.com")
    assert throttled.status_code == 429
    assert 0 < int(throttled["Retry-After"]) <= 3600
    assert "Too many reset requests" in throttled.content.decode()
