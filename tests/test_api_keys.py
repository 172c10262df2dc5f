"""Settings → API keys: shown once, stored hashed, listed by prefix, revoked; private to owners."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from api.keys import apikey_create, key_authenticate
from api.models import ApiKey

pytestmark = pytest.mark.django_db

PAGE = "/settings/api-keys/"


@pytest.fixture
def alice(make_user):
    return make_user("alice")


@pytest.fixture
def bob(make_user):
    return make_user("bob")


def _create(client, name="ci", scopes=("chat", "models")):
    return client.post(PAGE, {"name": name, "scopes": list(scopes)})


def _shown_secret(html: str) -> str:
    return re.search(r'<code id="new-key">(sb-[\w-]+)</code>', html).group(1)


def test_anonymous_visitors_are_sent_to_log_in(client):
    assert client.get(PAGE).url.startswith("/accounts/login/")
    assert client.post(PAGE, {"name": "x", "scopes": ["chat"]}).status_code == 302
    assert not ApiKey.objects.exists()


def test_a_new_key_is_shown_once_and_stored_only_as_a_hash(client, alice):
    client.force_login(alice)
    response = _create(client, "nightly report")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    secret = _shown_secret(response.content.decode())

    key = ApiKey.objects.get(user=alice)
    assert key.name == "nightly report" and key.scopes == ["chat", "models"]
    assert secret.startswith(key.prefix) and len(secret) > 40
    assert secret not in str(list(ApiKey.objects.values()))  # no column holds the key itself

    again = client.get(PAGE).content.decode()
    assert secret not in again
    assert f"<code>{key.prefix}…</code>" in again and "nightly report" in again
    assert "never" in again  # not used yet
    assert key_authenticate(secret) == key
    assert "never" not in client.get(PAGE).content.decode()


def test_scopes_are_chosen_and_required(client, alice):
    client.force_login(alice)
    _create(client, "models only", scopes=["models"])
    assert ApiKey.objects.get().scopes == ["models"]
    refused = client.post(PAGE, {"name": "none"})
    assert refused.status_code == 400 and ApiKey.objects.count() == 1
    refused = client.post(PAGE, {"name": "bad", "scopes": ["admin"]})
    assert refused.status_code == 400 and ApiKey.objects.count() == 1


def test_revoking_a_key_stops_it_at_once_and_keeps_it_listed(client, alice):
    client.force_login(alice)
    new = apikey_create(user=alice, name="old", scopes=["chat"])
    assert key_authenticate(new.secret) is not None
    response = client.post(f"{PAGE}{new.key.id}/revoke/", follow=True)
    assert "Revoked" in response.content.decode() and "revoked" in response.content.decode()
    assert key_authenticate(new.secret) is None


def test_a_user_never_sees_another_users_keys(client, alice, bob):
    bobs = apikey_create(user=bob, name="bob's secret key", scopes=["chat"])
    client.force_login(alice)
    page = client.get(PAGE).content.decode()
    assert "bob's secret key" not in page and bobs.key.prefix not in page


def test_another_users_key_cannot_be_revoked(client, alice, bob):
    bobs = apikey_create(user=bob, name="bob's", scopes=["chat"])
    client.force_login(alice)
    assert client.post(f"{PAGE}{bobs.key.id}/revoke/").status_code == 404
    assert key_authenticate(bobs.secret) is not None


def test_creating_and_revoking_need_the_csrf_token(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert _create(client).status_code == 403
    key = apikey_create(user=alice, name="k", scopes=["chat"]).key
    assert client.post(f"{PAGE}{key.id}/revoke/").status_code == 403
    key.refresh_from_db()
    assert not key.is_revoked


def test_revoking_needs_a_post(client, alice):
    client.force_login(alice)
    key = apikey_create(user=alice, name="k", scopes=["chat"]).key
    assert client.get(f"{PAGE}{key.id}/revoke/").status_code == 405


def test_a_deactivated_users_keys_stop_working(alice):
    new = apikey_create(user=alice, name="k", scopes=["chat"])
    alice.is_active = False
    alice.save()
    assert key_authenticate(new.secret) is None
