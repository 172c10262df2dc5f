"""The authorisation matrix, generated from the URLconf and the websocket routing.

Every route the project serves is enumerated (not listed by hand) and requested as each of five
roles: anonymous, the owner of the objects in the URL (a plain user), another plain user, a
manager and a prompt editor. What each role must get is declared once per route in POLICIES;
a route without a policy fails the test, so a new view cannot ship unclassified.

Other users' objects are 404 — never 403 (a hint that it exists) and never 200.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.test import Client, RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver

from api.keys import apikey_create
from chat.models import Conversation, Message

pytestmark = pytest.mark.django_db

# The owner last: its request may delete what the others were refused.
ROLES = ("anonymous", "other_user", "manager", "prompt_editor", "owner")


@dataclass(frozen=True)
class Route:
    pattern: str  # the full regex-free path pattern, e.g. "c/<uuid:conversation_id>/"
    name: str  # "namespace:name", or "" for unnamed routes


def _walk(patterns, prefix: str = "", namespace: str = "") -> Iterator[Route]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            space = entry.namespace or namespace
            if entry.namespace:
                space = f"{namespace}:{entry.namespace}" if namespace else entry.namespace
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), space)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}:{entry.name}" if namespace and entry.name else entry.name or ""
            yield Route(prefix + str(entry.pattern), name)


def http_routes() -> list[Route]:
    return list(_walk(get_resolver().url_patterns))


# --- what each role must get -------------------------------------------------------------

PUBLIC = "public"  # everyone: 2xx (or the page's own redirect)
TO_LOGIN = "to_login"  # everyone is sent to the login page (logging out)
HEALTH = "health"  # everyone the same answer: 200 or 503 by the app's health, never a login
API_KEY = "api_key"  # API-key auth, not sessions: any browser session gets 401, never data
PERMISSION = "permission"  # anonymous 401; signed in without the permission 403 (none has it)
SIGNED_IN = "signed_in"  # anonymous → login; every signed-in role → 2xx/3xx
OWNED = "owned"  # anonymous → login; owner → 2xx/3xx; everyone else → 404
ADMIN = "admin"  # Django admin: by the role's model permissions (see _admin_expectation)

POLICIES: dict[str, tuple] = {
    # name: (policy, method[, form data])
    "healthz": (PUBLIC, "GET"),
    "readyz": (HEALTH, "GET"),
    "login": (PUBLIC, "GET"),
    "logout": (TO_LOGIN, "POST"),
    "password_reset": (PUBLIC, "GET"),
    "password_reset_done": (PUBLIC, "GET"),
    "password_reset_confirm": (PUBLIC, "GET"),  # an invalid link says so, to anyone
    "password_reset_complete": (PUBLIC, "GET"),
    "chat:home": (SIGNED_IN, "GET"),
    "chat:new": (SIGNED_IN, "POST"),
    "chat:conversation": (OWNED, "GET"),
    "chat:delete": (OWNED, "POST"),
    "chat:search": (SIGNED_IN, "GET"),
    "chat:rename": (OWNED, "POST", {"title": "Renamed"}),
    "chat:archive": (OWNED, "POST", {"archived": "1"}),
    "chat:branch": (OWNED, "POST"),
    "observability:feedback": (OWNED, "POST", {"score": "up"}),
    "metrics": (PERMISSION, "GET"),
    "api:chat-completions": (API_KEY, "POST"),
    "api:models": (API_KEY, "GET"),
    "api:openapi": (PUBLIC, "GET"),
    "api:keys": (SIGNED_IN, "GET"),
    "api:revoke": (OWNED, "POST"),
}


def _policy(route: Route) -> tuple | None:
    if route.name.startswith("admin:") or route.pattern.startswith(settings.ADMIN_URL):
        return ADMIN, "GET"
    return POLICIES.get(route.name)


# --- the people and their things ---------------------------------------------------------


@pytest.fixture
def people(make_user, openai_template, staff_groups) -> dict:
    owner, other = make_user("owner"), make_user("other")
    manager, editor = make_user("manager"), make_user("editor")
    for user, group in ((manager, "Managers"), (editor, "Prompt editors")):
        user.is_staff = True
        user.save()
        user.groups.add(staff_groups[group])

    def owners_objects() -> dict:
        """Fresh objects of the owner's for one route (the owner may delete them)."""
        conversation = Conversation.objects.create(user=owner, template=openai_template)
        question = Message.objects.create(conversation=conversation, role="user", content="mine")
        reply = Message.objects.create(
            conversation=conversation, role="assistant", content="yours", parent=question
        )
        key = apikey_create(user=owner, name="matrix", scopes=["chat", "models"])
        return {
            "conversation_id": conversation.id,
            "message_id": reply.id,
            "key_id": key.key.id,
            "uidb64": "MQ",
            "token": "not-a-valid-token",
        }

    return {
        "users": {"owner": owner, "other_user": other, "manager": manager, "prompt_editor": editor},
        "objects": owners_objects,
    }


_ARGUMENT = re.compile(r"<(?:(\w+):)?(\w+)>")


def _concrete(route: Route, objects: dict) -> str | None:
    """The route with the owner's objects filled in; None when it needs something we lack."""
    missing = []

    def fill(match: re.Match) -> str:
        value = objects.get(match.group(2))
        if value is None:
            missing.append(match.group(2))
            return ""
        return str(value)

    path = "/" + _ARGUMENT.sub(fill, route.pattern)
    return None if missing else path


def _client(people: dict, role: str) -> Client:
    client = Client()
    if role != "anonymous":
        client.force_login(people["users"][role])
    return client


def _is_login_redirect(response) -> bool:
    return response.status_code == 302 and "login" in response["Location"]


def _check(policy: str, role: str, response) -> str | None:
    """None when `response` is what `role` must get under `policy`, else what went wrong."""
    status = response.status_code
    ok = 200 <= status < 400 and not _is_login_redirect(response)
    if policy == PUBLIC:
        return None if ok else f"expected success, got {status}"
    if policy == TO_LOGIN:
        return None if _is_login_redirect(response) else f"expected login redirect, got {status}"
    if policy == API_KEY:
        return None if status == 401 else f"expected 401 without an API key, got {status}"
    if policy == PERMISSION:
        expected = 401 if role == "anonymous" else 403
        return None if status == expected else f"expected {expected}, got {status}"
    if policy == HEALTH:
        return None if status in (200, 503) else f"expected 200 or 503, got {status}"
    if role == "anonymous":
        return None if _is_login_redirect(response) else f"expected login redirect, got {status}"
    if policy == SIGNED_IN or role == "owner":
        return None if ok else f"expected success, got {status}"
    if policy == OWNED:
        return None if status == 404 else f"expected 404 for someone else's object, got {status}"
    raise AssertionError(policy)


def test_every_route_has_a_declared_policy():
    unclassified = [r for r in http_routes() if _policy(r) is None]
    assert not unclassified, f"classify these routes in POLICIES: {unclassified}"


def test_every_role_gets_exactly_what_the_policy_says(people):
    failures = []
    for route in http_routes():
        policy, method, *data = _policy(route) or (None, None)
        if policy in (None, ADMIN):
            continue
        path = _concrete(route, people["objects"]())
        assert path, f"no test object for {route}"
        for role in ROLES:
            response = getattr(_client(people, role), method.lower())(path, *data)
            if problem := _check(policy, role, response):
                failures.append(f"{method} {path} as {role}: {problem}")
    assert not failures, "\n".join(failures)


# --- Django admin: by model permission ----------------------------------------------------


def _admin_pages(people) -> Iterator[tuple[str, str, str]]:
    """(path, app_label.model, action) for every registered model's list page, and its add page
    where the admin has one at all (versions, labels and logs are never added by hand)."""
    superuser = RequestFactory().get("/")
    superuser.user = get_user_model()(is_superuser=True, is_staff=True, is_active=True)
    for model, model_admin in admin.site._registry.items():
        label = f"{model._meta.app_label}/{model._meta.model_name}"
        yield f"/{settings.ADMIN_URL}{label}/", label, "view"
        if model_admin.has_add_permission(superuser):
            yield f"/{settings.ADMIN_URL}{label}/add/", label, "add"


def _admin_expectation(user, label: str, action: str) -> int:
    app_label, model = label.split("/")
    perms = [f"{app_label}.{action}_{model}"]
    if action == "view":  # change permission implies view in Django admin
        perms.append(f"{app_label}.change_{model}")
    return 200 if any(user.has_perm(p) for p in perms) else 403


def test_admin_is_for_staff_only_and_by_model_permission(people):
    failures = []
    for path, label, action in _admin_pages(people):
        for role in ROLES:
            response = _client(people, role).get(path)
            if role in ("anonymous", "owner", "other_user"):
                if not _is_login_redirect(response):
                    failures.append(f"{path} as {role}: {response.status_code}, not to login")
                continue
            user = people["users"][role]
            expected = _admin_expectation(user, label, action)
            if response.status_code != expected and not (
                expected == 403 and response.status_code == 302  # e.g. add → changelist
            ):
                failures.append(f"{path} as {role}: {response.status_code}, expected {expected}")
    assert not failures, "\n".join(failures)


# --- websocket routes ---------------------------------------------------------------------


def websocket_routes() -> list[str]:
    from chat.routing import websocket_urlpatterns

    return [str(pattern.pattern) for pattern in websocket_urlpatterns]


@pytest.mark.django_db(transaction=True)
def test_every_websocket_route_admits_only_the_owner(app_server, people, session_cookie):
    from websockets.exceptions import InvalidStatus

    from tests.wsclient import ChatSocket

    routes = websocket_routes()
    assert routes == ["ws/c/<uuid:conversation_id>/"], "classify the new websocket route"
    conversation = people["objects"]()["conversation_id"]
    for role in ROLES:
        cookie = None if role == "anonymous" else session_cookie(people["users"][role])
        if role == "owner":
            ChatSocket.open(app_server, conversation, cookie).close()
            continue
        with pytest.raises(InvalidStatus) as refused:
            ChatSocket.open(app_server, conversation, cookie)
        assert refused.value.response.status_code == 403, role
