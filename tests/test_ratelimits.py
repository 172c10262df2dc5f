"""Rate limits: one count in Redis for every process, tiers by group, clear refusals everywhere.

Two Daphne processes share the test database and Redis, with low hourly limits (an hour-long
window keeps a test's requests inside one window).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import httpx
import openai
import pytest
from django.contrib.auth.models import Group
from django.test import override_settings
from playwright.sync_api import Browser, expect, sync_playwright

from api.keys import apikey_create
from api.ratelimits import UNKNOWN_WAIT_SECONDS, wait_seconds
from chat.models import Conversation, Message
from tests import live
from tests.browserkit import open_new_chat
from tests.wsclient import ChatSocket, visible_text

pytestmark = pytest.mark.django_db(transaction=True)

LIMITS = {
    "RATE_LIMITS_API": "default=4/h,pro=8/h",
    "RATE_LIMITS_CHAT": "default=2/h",
    "RATE_LIMITS_HTTP": "anonymous=5/h,default=6/h",
    "RATE_LIMIT_GROUP_TIERS": "pro-users=pro",
}


@pytest.fixture(scope="module")
def two_servers(live_env) -> Iterator[tuple[str, str]]:
    env = {**live_env, **LIMITS}
    with live.daphne(env) as first, live.daphne(env) as second:
        yield first, second


def _sdk(server: str, secret: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server}/v1", api_key=secret, max_retries=0, timeout=20)


def _key(user) -> str:
    return apikey_create(user=user, name="k", scopes=["chat", "models"]).secret


def test_api_limits_agree_across_two_server_processes(two_servers, make_user):
    secret = _key(make_user("alice"))
    clients = itertools.cycle([_sdk(server, secret) for server in two_servers])
    for _ in range(4):  # two requests on each process: within the one shared limit of 4
        next(clients).models.list()

    for client in (next(clients), next(clients)):  # both processes now refuse
        with pytest.raises(openai.RateLimitError) as raised:
            client.models.list()
        assert raised.value.code == "rate_limit_exceeded"
        assert 0 < int(raised.value.response.headers["Retry-After"]) <= 3600


def test_a_limited_completion_is_a_rate_limit_error_and_saves_nothing(
    two_servers, make_user, openai_template
):
    client = _sdk(two_servers[0], _key(make_user("alice")))
    for _ in range(4):
        client.models.list()
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(
            model="openai-assistant", messages=[{"role": "user", "content": "hi"}]
        )
    assert not Conversation.objects.exists()


def test_limits_are_per_user(two_servers, make_user):
    alice, bob = (
        _sdk(two_servers[0], _key(make_user("alice"))),
        _sdk(two_servers[1], _key(make_user("bob"))),
    )
    for _ in range(4):
        alice.models.list()
    with pytest.raises(openai.RateLimitError):
        alice.models.list()
    bob.models.list()


def test_a_group_can_put_a_user_in_a_higher_tier(two_servers, make_user):
    user = make_user("carol")
    user.groups.add(Group.objects.create(name="pro-users"))
    client = _sdk(two_servers[1], _key(user))
    for _ in range(8):
        client.models.list()
    with pytest.raises(openai.RateLimitError):
        client.models.list()


def test_pages_are_limited_per_signed_in_user_across_processes(
    two_servers, make_user, session_cookie
):
    cookie = session_cookie(make_user("alice"))
    servers = itertools.cycle(two_servers)
    for _ in range(6):
        assert httpx.get(f"{next(servers)}/", headers={"Cookie": cookie}).status_code == 200
    refused = httpx.get(f"{next(servers)}/", headers={"Cookie": cookie})
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 3600
    assert "Too many requests" in refused.text and "Slow down" in refused.text


def test_anonymous_visitors_are_limited_by_address(two_servers):
    for _ in range(5):
        assert httpx.get(f"{two_servers[0]}/").status_code == 302  # to the login page
    assert httpx.get(f"{two_servers[1]}/").status_code == 429
    # Probes and the login page (throttled on its own terms) still answer.
    assert httpx.get(f"{two_servers[1]}/healthz").status_code == 200
    assert httpx.get(f"{two_servers[1]}/accounts/login/").status_code == 200


def _finish_turn(socket: ChatSocket, conversation: Conversation, text: str) -> None:
    socket.send_message(text)
    socket.receive_until("composer-ack")
    socket.receive_final(conversation.messages.filter(role="assistant").latest("id").id)


def test_chat_messages_are_limited_with_a_slow_down_message_and_nothing_saved(
    two_servers, make_user, session_cookie, openai_template, simulator
):
    user = make_user("alice")
    conversation = Conversation.objects.create(user=user, template=openai_template)
    cookie = session_cookie(user)
    first = ChatSocket.open(two_servers[0], conversation.id, cookie)
    second = ChatSocket.open(two_servers[1], conversation.id, cookie)
    try:
        _finish_turn(first, conversation, "one")
        _finish_turn(second, conversation, "two")
        second.send_message("three")
        frame = second.receive_until("chat-error")
        assert "Slow down" in visible_text(frame) and "draft is kept" in visible_text(frame)
        assert "composer-ack" not in frame  # the page clears the draft only on an ack
        first.send_message("four")
        assert "Slow down" in visible_text(first.receive_until("chat-error"))
        first.stop()  # stopping is never limited
    finally:
        first.close()
        second.close()
    users_messages = Message.objects.filter(conversation=conversation, role="user")
    assert list(users_messages.values_list("content", flat=True)) == ["one", "two"]


def test_a_redis_outage_applies_the_fail_policy():
    unreachable = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "ratelimit": {
            "BACKEND": "config.cache_backends.RateLimitRedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        },
    }
    with override_settings(CACHES=unreachable, RATELIMIT_FAIL_OPEN=False):
        assert wait_seconds(scope="api", who="user:1", tier="default") == UNKNOWN_WAIT_SECONDS
    with override_settings(CACHES=unreachable, RATELIMIT_FAIL_OPEN=True):
        assert wait_seconds(scope="api", who="user:1", tier="default") is None


@pytest.fixture(scope="module")
def browser(two_servers) -> Iterator[Browser]:
    # As in test_browser.py: Playwright's sync API leaves a loop marked running in this thread.
    with pytest.MonkeyPatch.context() as env, sync_playwright() as playwright:
        env.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
        )
        yield browser
        browser.close()


@pytest.mark.browser
def test_the_chat_says_slow_down_and_keeps_the_draft(
    browser, two_servers, make_user, openai_template, simulator
):
    server = two_servers[0]
    make_user("alice")
    page = browser.new_page()
    page.set_default_timeout(15_000)
    page.add_init_script(
        'document.addEventListener("htmx:wsOpen", () => { window.__wsOpened = true; });'
    )
    open_new_chat(page, server, "alice")  # log in, pick the assistant, socket open
    while not page.evaluate("window.__wsOpened === true"):
        page.wait_for_timeout(20)
    composer = page.locator("#composer-input")
    replies = page.locator("#messages article.message.assistant")
    for count, text in enumerate(["one", "two"], start=1):
        composer.fill(text)
        composer.press("Enter")
        expect(replies).to_have_count(count)
        expect(replies.last).to_have_attribute("data-status", "complete")

    composer.fill("a third message, too soon")
    composer.press("Enter")
    expect(page.locator("#chat-error")).to_contain_text("Slow down")
    expect(composer).to_have_value("a third message, too soon")
    expect(replies).to_have_count(2)
    page.close()
