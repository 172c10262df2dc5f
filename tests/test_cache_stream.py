"""A cache hit over the real websocket path: streamed like a model reply, marked cached, free."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from chat.models import Conversation
from gateway.cache.models import CacheEntry
from observability.models import RequestLog
from tests.wsclient import ChatSocket, is_finished, visible_text

pytestmark = pytest.mark.django_db(transaction=True)

ANSWER = "Open **Settings**, then *Security*, and press Reset password. " * 4


def _turn(app_server, cookie, conversation, text) -> tuple[list[str], str]:
    """The frames that streamed the reply, and the final one that replaced it."""
    socket = ChatSocket.open(app_server, conversation.id, cookie)
    try:
        socket.send_message(text)
        socket.receive_until("composer-ack")
        reply = conversation.messages.filter(role="assistant").latest("id")
        streamed = []
        while not is_finished(frame := socket.receive(), reply.id):
            if f'id="m{reply.id}-tail"' in frame:
                streamed.append(frame)
        return streamed, frame
    finally:
        socket.close()


def test_a_cached_answer_streams_is_marked_cached_and_costs_nothing(
    app_server, simulator, openai_template, make_user, session_cookie
):
    user = make_user()
    cookie = session_cookie(user)
    simulator.post("/_sim/script", json={"reply": ANSWER})
    first = Conversation.objects.create(user=user, template=openai_template)
    _, final = _turn(app_server, cookie, first, "How do I reset my password?")
    assert ">cached<" not in final and CacheEntry.objects.count() == 1
    simulator.delete("/_sim/requests")

    second = Conversation.objects.create(user=user, template=openai_template)
    streamed, final = _turn(app_server, cookie, second, "How can I reset my password?")

    assert streamed, "the cached answer should arrive through the streaming frames"
    assert "Open Settings" in visible_text(streamed[-1])
    assert ">cached<" in final and "Reset password" in visible_text(final)
    # No model was asked this question (a background title job may call the simulator).
    asked = [r for r in simulator.get("/_sim/requests").json()["requests"] if "How can I" in str(r)]
    assert asked == []
    log = RequestLog.objects.get(conversation=second)
    assert (log.cache_hit, log.cost, log.cache_entry_id) == (
        True,
        Decimal(0),
        CacheEntry.objects.get().id,
    )
    assert log.message.content == ANSWER

    client = Client()
    client.force_login(user)
    page = client.get(reverse("chat:conversation", args=[second.id])).content.decode()
    assert page.count(">cached<") == 1
