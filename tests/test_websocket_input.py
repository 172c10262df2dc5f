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


def test_a_message_with_control_characters_is_refused_with_a_reason(socket):
    socket.send_message("zero\x00byte")
    assert "NUL character" in socket.receive_until("chat-error")
    assert not Message.objects.exists()


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
