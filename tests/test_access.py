"""Conversations are private: other users and anonymous visitors get nothing, not even hints."""

from __future__ import annotations

import pytest
from websockets.exceptions import InvalidStatus

from chat.models import Conversation, Message
from tests.wsclient import ChatSocket

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def alices_conversation(make_user, openai_template) -> Conversation:
    conversation = Conversation.objects.create(user=make_user("alice"), template=openai_template)
    Message.objects.create(conversation=conversation, role="user", content="alice's secret")
    return conversation


@pytest.fixture
def bob(make_user):
    return make_user("bob")


def test_anonymous_visitors_are_sent_to_log_in(client, alices_conversation):
    for response in (
        client.get("/"),
        client.get(f"/c/{alices_conversation.id}/"),
        client.post("/c/new/"),
        client.post(f"/c/{alices_conversation.id}/delete/"),
    ):
        assert response.status_code == 302 and response.url.startswith("/accounts/login/")
    assert Conversation.objects.filter(id=alices_conversation.id).exists()


def test_another_users_conversation_is_not_found(client, alices_conversation, bob):
    client.force_login(bob)
    response = client.get(f"/c/{alices_conversation.id}/")
    assert response.status_code == 404
    assert "alice's secret" not in response.content.decode()


def test_another_user_cannot_delete_a_conversation(client, alices_conversation, bob):
    client.force_login(bob)
    assert client.post(f"/c/{alices_conversation.id}/delete/").status_code == 404
    assert Conversation.objects.filter(id=alices_conversation.id).exists()


def test_another_users_conversations_are_not_listed(client, alices_conversation, bob):
    alices_conversation.title = "Alice's plans"
    alices_conversation.save()
    client.force_login(bob)
    assert "Alice&#x27;s plans" not in client.get("/").content.decode()


def test_the_owner_reads_and_deletes_their_conversation(client, alices_conversation):
    client.force_login(alices_conversation.user)
    assert "alice&#x27;s secret" in client.get(f"/c/{alices_conversation.id}/").content.decode()
    response = client.post(f"/c/{alices_conversation.id}/delete/")
    assert response.status_code == 302
    assert not Conversation.objects.filter(id=alices_conversation.id).exists()


def test_deleting_needs_a_csrf_token(alices_conversation):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(alices_conversation.user)
    assert client.post(f"/c/{alices_conversation.id}/delete/").status_code == 403
    assert Conversation.objects.filter(id=alices_conversation.id).exists()


def _refused(app_server: str, conversation_id, cookie: str | None, origin: str | None = None):
    with pytest.raises(InvalidStatus) as refused:
        socket = ChatSocket.open(app_server, conversation_id, cookie, origin=origin)
        socket.close()
    return refused.value.response.status_code


def test_an_anonymous_websocket_is_refused(app_server, alices_conversation):
    assert _refused(app_server, alices_conversation.id, cookie=None) == 403


def test_another_user_cannot_open_or_stream_into_a_conversation(
    app_server, alices_conversation, bob, session_cookie
):
    assert _refused(app_server, alices_conversation.id, session_cookie(bob)) == 403
    assert alices_conversation.messages.count() == 1


def test_a_websocket_from_a_foreign_origin_is_refused(
    app_server, alices_conversation, session_cookie
):
    cookie = session_cookie(alices_conversation.user)
    status = _refused(app_server, alices_conversation.id, cookie, origin="http://evil.example")
    assert status == 403


def test_the_owner_can_open_the_websocket(app_server, alices_conversation, session_cookie):
    socket = ChatSocket.open(
        app_server, alices_conversation.id, session_cookie(alices_conversation.user)
    )
    socket.close()
