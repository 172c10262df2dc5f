"""Hostile or broken websocket frames get a clear error, save nothing, and show no trace."""

from __future__ import annotations

import json

import pytest
from websockets.exceptions import ConnectionClosed

from chat.models import Conversation, Message
from tests.wsclient import ChatSocket

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def socket(app_server, make_user, openai_template, session_cookie):
    user = make_user()
    conversation = Conversation.objects.create(user=user, template=openai_template)
    chat = ChatSocket.open(app_server, conversation.id, session_cookie(user))
    yield chat
    chat.close()


@pytest.mark.parametrize(
    ("frame", "says"),
    [
        ("this is not json", "unreadable"),
        ("[1, 2, 3]", "unreadable"),
        ('"just a string"', "unreadable"),
        (json.dumps({"action": "launch-missiles"}), "unknown request"),
        (json.dumps({"action": "send", "message": 42}), "unknown request"),
        (json.dumps({"action": "send"}), "unknown request"),
        (json.dumps({"action": "send", "message": ["a"]}), "unknown request"),
    ],
)
def test_a_malformed_frame_gets_a_clear_error_and_saves_nothing(socket, frame, says):
    socket.connection.send(frame)
    error = socket.receive_until("chat-error")
    assert says in error and "Traceback" not in error
    assert not Message.objects.exists()
    socket.send_message("still works afterwards")  # the connection stays usable
    socket.receive_until("composer-ack")


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("zero\x00byte", "NUL character (U+0000)"),
        ("bell\x07", "U+0007"),
        ("\x1b[31mred", "U+001B"),  # a terminal escape sequence
        ("del\x7f", "U+007F"),
        ("next line\x85", "U+0085"),  # C1 controls too
        ("csi\x9b2J", "U+009B"),
        ("lone \ud800 surrogate", "U+D800"),  # not storable as UTF-8
    ],
    ids=["nul", "bel", "esc", "del", "nel", "csi", "surrogate"],
)
def test_a_message_with_control_characters_is_refused_with_a_reason(socket, text, code):
    socket.send_message(text)
    error = socket.receive_until("chat-error")
    assert code in error and "Remove it and retry" in error and "Traceback" not in error
    assert not Message.objects.exists()
    socket.send_message("still works afterwards")
    socket.receive_until("composer-ack")


def test_tabs_newlines_and_bidi_marks_are_kept_as_typed(socket):
    # Right-to-left writers use bidi marks and isolates; guardrails normalise them for checks.
    text = "col\tcol\r\nline two \u2067\u05e9\u05dc\u05d5\u05dd\u2069 \u202eflip\u202c"
    socket.send_message(text)
    socket.receive_until("composer-ack")
    assert Message.objects.get(role="user").content == text


def test_a_client_id_with_control_characters_is_dropped_not_stored(socket):
    frame = {"action": "send", "message": "hello", "client_id": "id\x00\x1b", "HEADERS": {}}
    socket.connection.send(json.dumps(frame))
    socket.receive_until("composer-ack")
    assert Message.objects.get(role="user").client_id == ""


def test_an_oversized_frame_closes_the_connection_and_saves_nothing(socket):
    socket.send_message("x" * 100_000)
    assert "too large" in socket.receive_until("chat-error")
    with pytest.raises(ConnectionClosed) as closed:
        socket.receive(timeout=5)
    assert closed.value.rcvd.code == 4009  # private-range twin of 1009, message too big
    assert not Message.objects.exists()


def test_a_message_over_the_limit_but_under_the_frame_cap_is_refused_not_truncated(socket):
    socket.send_message("y" * 16_001)
    assert "limit is 16,000" in socket.receive_until("chat-error")
    assert not Message.objects.exists()
