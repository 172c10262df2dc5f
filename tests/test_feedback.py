"""Thumbs up or down on a reply: own replies only, CSRF-protected, one per user and reply."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from chat.models import Conversation, Message
from observability.models import Feedback, RequestLog
from observability.rollups import rollup_recent

pytestmark = pytest.mark.django_db


@pytest.fixture
def reply(make_user, openai_template) -> Message:
    conversation = Conversation.objects.create(user=make_user(), template=openai_template)
    conversation.messages.create(role="user", content="Tell me a joke")
    reply = conversation.messages.create(
        role="assistant", content="Knock knock.", status="complete"
    )
    RequestLog.objects.create(
        user=conversation.user,
        conversation=conversation,
        message=reply,
        template=openai_template,
        model_requested="gpt-4o-mini",
        model_used="gpt-4o-mini",
        status="complete",
    )
    return reply


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _url(message: Message) -> str:
    return reverse("observability:feedback", args=[message.id])


def test_a_thumbs_down_with_a_comment_is_saved_and_shown_pressed(reply):
    owner = reply.conversation.user
    response = _client(owner).post(_url(reply), {"score": "down", "comment": "Not funny."})

    assert response.status_code == 200
    feedback = Feedback.objects.get(message=reply, user=owner)
    assert (feedback.score, feedback.comment) == (-1, "Not funny.")
    html = response.content.decode()
    assert (
        'value="down" class="thumb thumb-down" aria-label="Bad reply" aria-pressed="true"' in html
    )
    assert "Not funny." in html and "Thanks for the feedback." in html


def test_changing_ones_mind_replaces_the_feedback(reply):
    client = _client(reply.conversation.user)
    client.post(_url(reply), {"score": "down"})
    client.post(_url(reply), {"score": "up"})
    assert list(Feedback.objects.values_list("score", flat=True)) == [1]


def test_someone_elses_reply_is_not_found(reply, make_user):
    response = _client(make_user("mallory")).post(_url(reply), {"score": "down"})
    assert response.status_code == 404
    assert not Feedback.objects.exists()


def test_a_user_message_cannot_be_rated(reply):
    question = reply.conversation.messages.get(role="user")
    response = _client(reply.conversation.user).post(_url(question), {"score": "up"})
    assert response.status_code == 404


def test_anonymous_is_sent_to_log_in(reply):
    response = Client().post(_url(reply), {"score": "up"})
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert not Feedback.objects.exists()


def test_a_post_without_the_csrf_token_is_refused(reply):
    client = Client(enforce_csrf_checks=True)
    client.force_login(reply.conversation.user)
    assert client.post(_url(reply), {"score": "up"}).status_code == 403
    assert not Feedback.objects.exists()


def test_get_is_not_allowed(reply):
    assert _client(reply.conversation.user).get(_url(reply)).status_code == 405


@pytest.mark.parametrize(
    "data", [{"score": "sideways"}, {"score": "up", "comment": "x" * 2001}, {}]
)
def test_bad_feedback_gets_a_clear_error_and_keeps_what_was_saved(reply, data):
    client = _client(reply.conversation.user)
    client.post(_url(reply), {"score": "up", "comment": "Good one."})
    response = client.post(_url(reply), data)

    assert response.status_code == 400
    assert 'role="alert"' in response.content.decode()
    kept = Feedback.objects.get()
    assert (kept.score, kept.comment) == (1, "Good one.")


def test_the_conversation_page_shows_the_thumbs_on_replies(reply):
    client = _client(reply.conversation.user)
    client.post(_url(reply), {"score": "up"})
    page = client.get(reverse("chat:conversation", args=[reply.conversation_id])).content.decode()
    assert f'id="feedback-{reply.id}"' in page
    assert 'aria-label="Good reply" aria-pressed="true"' in page


def test_a_thumbs_down_reaches_the_quality_dashboard(reply, make_user):
    _client(reply.conversation.user).post(_url(reply), {"score": "down", "comment": "Wrong."})
    rollup_recent(lookback_days=1)

    manager = make_user("manager")
    manager.is_staff = True
    manager.save()
    manager.user_permissions.add(Permission.objects.get(codename="view_dashboards"))
    page = _client(manager).get(reverse("dashboards:quality")).content.decode()

    row = page.split("<tbody><tr>", 1)[1].split("</tr>", 1)[0]
    assert "OpenAI assistant" in row and "gpt-4o-mini" in row
    cells = [c.split("</td>")[0] for c in row.split('<td class="num">')[1:]]
    # turns, check score, judge score, thumbs up, thumbs down, thumbs-up rate
    assert cells[0] == "1" and cells[3] == "0" and cells[4] == "1" and cells[5] == "0%"
