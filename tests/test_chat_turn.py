"""A chat turn end to end: real websocket, real Daphne, real SDKs against the simulator."""

from __future__ import annotations

import itertools
import json
import time
from decimal import Decimal

import pytest

from chat.models import Conversation, Message, Status
from observability.models import RequestLog
from tests.wsclient import ChatSocket, is_finished, visible_text

pytestmark = pytest.mark.django_db(transaction=True)

# Longer than a few guardrail hold-back windows (GUARDRAILS_HOLDBACK_CHARS), so it visibly streams.
WORDS = (
    "Streaming replies arrive one token after another in order, and each part shows up "
    "as soon as the output guardrails have read a little further ahead of it."
)


def _conversation(user, template) -> Conversation:
    return Conversation.objects.create(user=user, template=template)


def _stream_reply(socket: ChatSocket, reply_id: int) -> list[str]:
    """Texts shown for the reply after each frame, until the saved reply replaces it."""
    shown, blocks = [], ""
    while True:
        frame = socket.receive()
        if is_finished(frame, reply_id):
            return shown
        tail_swap = f'<div id="m{reply_id}-tail" hx-swap-oob="innerHTML">'
        if tail_swap in frame:
            tail = frame.split(tail_swap, 1)[1]
            if f'id="m{reply_id}-blocks"' in frame:
                blocks += visible_text(frame.split(f'<div id="m{reply_id}-tail"', 1)[0]) + " "
            shown.append(" ".join(f"{blocks}{visible_text(tail)}".split()))


def _run_turn(app_server, cookie, conversation, text) -> tuple[Message, list[str]]:
    socket = ChatSocket.open(app_server, conversation.id, cookie)
    try:
        socket.send_message(text)
        socket.receive_until("composer-ack")
        reply = conversation.messages.filter(role="assistant").latest("id")
        return reply, _stream_reply(socket, reply.id)
    finally:
        socket.close()


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_reply_streams_in_order_and_is_recorded_with_provider_usage(
    provider, request, app_server, simulator, make_user, session_cookie
):
    template = request.getfixturevalue(f"{provider}_template")
    user = make_user()
    conversation = _conversation(user, template)
    simulator.post(
        "/_sim/script",
        json={
            "match": "order please",
            "reply": WORDS,
            # Slow enough that a loaded machine still shows several frames, not one burst.
            "tokens_per_s": 15,
            "usage": {"input_tokens": 1200, "cached_input_tokens": 800, "output_tokens": 10},
        },
    )

    reply, shown = _run_turn(app_server, session_cookie(user), conversation, "In order please")

    assert len(shown) >= 3, f"expected a stream of frames, got {shown}"
    for before, after in itertools.pairwise(shown):
        assert WORDS.startswith(before) and after.startswith(before)
    assert shown[-1] == WORDS

    reply.refresh_from_db()
    assert (reply.content, reply.status, reply.model) == (
        WORDS,
        Status.COMPLETE,
        template.model.name,
    )
    assert reply.simulated and reply.ttft_ms is not None and reply.latency_ms >= reply.ttft_ms
    log = RequestLog.objects.get(message=reply)
    upstream = simulator.get("/_sim/requests").json()["requests"][-1]
    assert upstream["api"] == provider and upstream["status"] == "completed"
    assert (log.input_tokens, log.cached_input_tokens, log.output_tokens) == (1200, 800, 10)
    assert (log.status, log.user, log.template, log.model_used) == (
        "complete",
        user,
        template,
        template.model.name,
    )
    model = template.model
    expected = (
        1200 * model.input_price + 800 * model.cached_input_price + 10 * model.output_price
    ) / Decimal(1_000_000)
    assert log.cost == expected and reply.cost == expected and log.priced


def test_the_model_sees_the_system_prompt_and_the_conversation_so_far(
    app_server, simulator, openai_template, make_user, session_cookie
):
    user = make_user()
    conversation = _conversation(user, openai_template)
    cookie = session_cookie(user)
    _run_turn(app_server, cookie, conversation, "My name is Ada.")
    _run_turn(app_server, cookie, conversation, "What is my name?")

    sent = simulator.get("/_sim/requests").json()["requests"][-1]["messages"]
    # The template's prompt, then the guardrails' per-request canary.
    assert sent[0]["role"] == "system"
    assert sent[0]["content"].startswith(
        f"{openai_template.system_prompt}\n\nConfidential marker: SB-"
    )
    assert [m["role"] for m in sent[1:]] == ["user", "assistant", "user"]
    assert sent[1]["content"] == "My name is Ada." and sent[-1]["content"] == "What is my name?"


def test_stop_closes_the_upstream_request_and_saves_the_reply_as_cancelled(
    app_server, simulator, openai_template, make_user, session_cookie
):
    user = make_user()
    conversation = _conversation(user, openai_template)
    long_reply = " ".join(f"word{i}" for i in range(200))
    simulator.post("/_sim/script", json={"reply": long_reply, "tokens_per_s": 20})
    socket = ChatSocket.open(app_server, conversation.id, session_cookie(user))
    try:
        socket.send_message("Tell me a long story")
        socket.receive_until("composer-ack")
        reply = conversation.messages.get(role="assistant")
        socket.receive_until("word3")
        socket.stop()
        final = socket.receive_final(reply.id)
    finally:
        socket.close()

    assert 'data-status="cancelled"' in final and "Stopped" in final
    reply.refresh_from_db()
    assert reply.status == Status.CANCELLED
    assert reply.content.startswith("word0 word1 word2 word3") and reply.content != long_reply
    upstream = simulator.get("/_sim/requests").json()["requests"][-1]
    assert upstream["status"] == "client_disconnected"
    assert upstream["tokens_sent"] < 200
    assert RequestLog.objects.get(message=reply).status == "cancelled"


def test_a_reload_mid_stream_shows_the_saved_message_and_the_partial_reply(
    app_server, simulator, openai_template, make_user, session_cookie, client
):
    user = make_user()
    conversation = _conversation(user, openai_template)
    simulator.post(
        "/_sim/script",
        json={"reply": " ".join(f"part{i}" for i in range(60)), "tokens_per_s": 20},
    )
    socket = ChatSocket.open(app_server, conversation.id, session_cookie(user))
    socket.send_message("Please keep talking")
    socket.receive_until("part12")
    socket.close()  # the page goes away mid-answer; the reply keeps being written

    client.force_login(user)
    page = client.get(f"/c/{conversation.id}/").content.decode()
    assert "Please keep talking" in page
    reply = conversation.messages.get(role="assistant")
    assert f'id="m{reply.id}" class="message assistant" data-status="streaming"' in page
    assert "part0 part1" in page and "Writing…" in page

    again = ChatSocket.open(app_server, conversation.id, session_cookie(user))
    try:  # the new page is caught up, then sees the end
        snapshot = again.receive_until(f'id="m{reply.id}"')
        assert "part0 part1" in snapshot
        final = again.receive_final(reply.id, timeout=20)
    finally:
        again.close()
    assert 'data-status="complete"' in final and "part59" in final
    reply.refresh_from_db()
    assert reply.status == Status.COMPLETE


def test_a_second_message_while_a_reply_streams_is_refused_and_not_saved(
    app_server, simulator, openai_template, make_user, session_cookie
):
    user = make_user()
    conversation = _conversation(user, openai_template)
    simulator.post("/_sim/script", json={"reply": "slow " * 40, "tokens_per_s": 20})
    socket = ChatSocket.open(app_server, conversation.id, session_cookie(user))
    try:
        socket.send_message("first")
        socket.receive_until("composer-ack")
        socket.send_message("second")
        error = socket.receive_until("chat-error")
    finally:
        socket.close()
    assert "still being written" in error
    assert not conversation.messages.filter(content="second").exists()
    assert conversation.messages.filter(content="first").exists()


def test_deleting_a_conversation_mid_reply_stops_it_and_keeps_the_spend_logged(
    app_server, simulator, openai_template, make_user, session_cookie, client
):
    user = make_user()
    conversation = _conversation(user, openai_template)
    simulator.post("/_sim/script", json={"reply": "tick " * 200, "tokens_per_s": 20})
    socket = ChatSocket.open(app_server, conversation.id, session_cookie(user))
    try:
        socket.send_message("Count for me")
        socket.receive_until("tick tick tick")
        client.force_login(user)
        assert client.post(f"/c/{conversation.id}/delete/").status_code == 302
    finally:
        socket.close()

    deadline = time.monotonic() + 10
    while not RequestLog.objects.filter(user=user).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    log = RequestLog.objects.get(user=user)
    assert (log.status, log.conversation, log.message) == ("cancelled", None, None)
    assert simulator.get("/_sim/requests").json()["requests"][-1]["status"] == "client_disconnected"


def test_an_interrupted_reply_offers_retry_which_answers_the_same_message_again(
    app_server, simulator, openai_template, make_user, session_cookie
):
    user = make_user()
    conversation = _conversation(user, openai_template)  # no fallback model
    simulator.post("/_sim/script", json={"reply": "half an answer and then", "disconnect_after": 3})
    simulator.post("/_sim/script", json={"reply": "A whole answer."})
    socket = ChatSocket.open(app_server, conversation.id, session_cookie(user))
    try:
        socket.send_message("Explain it")
        socket.receive_until("composer-ack")
        broken = conversation.messages.filter(role="assistant").latest("id")
        final = socket.receive_final(broken.id)
        assert 'data-status="interrupted"' in final and "Retry" in final
        assert "half an answer" in final

        socket.connection.send(json.dumps({"action": "retry", "HEADERS": {}}))
        socket.receive_until("A whole answer")
        retried = conversation.messages.filter(role="assistant").latest("id")
        assert 'data-status="complete"' in socket.receive_final(retried.id)
    finally:
        socket.close()

    assert conversation.messages.filter(role="user").count() == 1  # not saved twice
    assert retried.id != broken.id
    retried.refresh_from_db()
    assert retried.content == "A whole answer."
    # The broken half-answer is not shown to the model as its own words.
    sent = simulator.get("/_sim/requests").json()["requests"][-1]["messages"]
    assert [m["role"] for m in sent] == ["system", "user"]
