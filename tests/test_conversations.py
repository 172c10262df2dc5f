"""Conversation management and branches: services and selectors on the real database, and
the views' access rules."""

from __future__ import annotations

import pytest
from django.db import connection

from chat import selectors, services
from chat.models import Conversation, Status
from chat.services import AlreadySent, branch_select, turn_begin

pytestmark = pytest.mark.django_db


def _answer(saved, text: str) -> None:
    """What the pipeline's record stage does at the end of a turn."""
    saved.conversation.messages.filter(id=saved.reply_id).update(
        content=text, status=Status.COMPLETE
    )


def _turn(conversation, text=None, **branch):
    return turn_begin(
        user_id=conversation.user_id, conversation_id=conversation.id, text=text, **branch
    )


@pytest.fixture
def conversation(make_user, openai_template) -> Conversation:
    return Conversation.objects.create(user=make_user(), template=openai_template)


def _shown(conversation) -> list[str]:
    conversation.refresh_from_db()
    return [m.content for m in selectors.active_path(conversation)]


def test_regenerate_adds_a_sibling_reply_and_shows_it(conversation):
    first = _turn(conversation, "Question")
    _answer(first, "Answer one")
    again = _turn(conversation, None, regenerate_of=first.reply_id)
    _answer(again, "Answer two")

    assert again.user_message_id == first.user_message_id  # the question is not saved twice
    assert _shown(conversation) == ["Question", "Answer two"]
    reply = selectors.active_path(conversation)[-1]
    assert (reply.branch_index, reply.branch_count, reply.previous_branch_id) == (
        2,
        2,
        first.reply_id,
    )
    branch_select(conversation=conversation, message_id=first.reply_id)
    assert _shown(conversation) == ["Question", "Answer one"]


def test_an_edit_starts_a_branch_and_the_model_sees_only_that_branch(conversation):
    first = _turn(conversation, "Capital of France?")
    _answer(first, "Paris")
    follow_up = _turn(conversation, "And its population?")
    _answer(follow_up, "About two million")
    edit = _turn(conversation, "Capital of Italy?", edit_of=first.user_message_id)

    history = selectors.history_before(conversation.id, edit.reply_id, 20)
    assert history == [{"role": "user", "content": "Capital of Italy?"}]
    _answer(edit, "Rome")
    assert _shown(conversation) == ["Capital of Italy?", "Rome"]

    # Back to the first version: its whole branch, down to the latest reply, comes back.
    branch_select(conversation=conversation, message_id=first.user_message_id)
    assert _shown(conversation) == [
        "Capital of France?",
        "Paris",
        "And its population?",
        "About two million",
    ]
    assert selectors.history_before(conversation.id, follow_up.reply_id, 20) == [
        {"role": "user", "content": "Capital of France?"},
        {"role": "assistant", "content": "Paris"},
        {"role": "user", "content": "And its population?"},
    ]


def test_a_new_message_follows_the_branch_shown(conversation):
    first = _turn(conversation, "Hi")
    _answer(first, "Hello A")
    second = _turn(conversation, None, regenerate_of=first.reply_id)
    _answer(second, "Hello B")
    branch_select(conversation=conversation, message_id=first.reply_id)
    nxt = _turn(conversation, "Go on")
    _answer(nxt, "Going on")
    assert _shown(conversation) == ["Hi", "Hello A", "Go on", "Going on"]


def test_a_draft_sent_twice_is_saved_once(conversation):
    saved = _turn(conversation, "Only once", client_id="draft-1")
    _answer(saved, "Done")
    with pytest.raises(AlreadySent):
        _turn(conversation, "Only once", client_id="draft-1")
    assert conversation.messages.filter(content="Only once").count() == 1


def test_no_branch_switch_while_a_reply_streams(conversation):
    first = _turn(conversation, "Hi")
    with pytest.raises(services.ConversationBusy):
        branch_select(conversation=conversation, message_id=first.user_message_id)


def test_search_matches_titles_and_message_text_of_the_users_own_conversations(
    make_user, openai_template
):
    alice, bob = make_user("alice"), make_user("bob")
    trip = Conversation.objects.create(user=alice, template=openai_template, title="Trip")
    trip.messages.create(role="user", content="Booking the ferries to Naxos")
    named = Conversation.objects.create(user=alice, template=openai_template, title="Ferry times")
    Conversation.objects.create(user=alice, template=openai_template, title="Groceries")
    theirs = Conversation.objects.create(user=bob, template=openai_template, title="Ferry")
    theirs.messages.create(role="user", content="ferry")

    found = set(selectors.conversations_matching(alice, "ferry"))
    assert found == {trip, named}  # stemmed: "ferries" and "Ferry" both match
    assert list(selectors.conversations_matching(alice, "naxos")) == [trip]
    assert not selectors.conversations_matching(alice, "zeppelin").exists()


def test_search_has_full_text_indexes():
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename LIKE 'chat_%'")
        indexes = dict(cursor.fetchall())
    for name in ("message_content_search", "conversation_title_search"):
        assert "USING gin" in indexes[name] and "to_tsvector" in indexes[name]


def test_the_sidebar_groups_conversations_by_recency(make_user, openai_template):
    from datetime import timedelta

    from django.utils import timezone

    user = make_user()
    now = timezone.now()
    for title, days in [("today", 0), ("yesterday", 1), ("last week", 5), ("long ago", 40)]:
        c = Conversation.objects.create(user=user, template=openai_template, title=title)
        Conversation.objects.filter(id=c.id).update(updated_at=now - timedelta(days=days))
    groups = selectors.grouped_by_recency(selectors.conversations_for(user))
    assert [(g.label, [c.title for c in g.conversations]) for g in groups] == [
        ("Today", ["today"]),
        ("Yesterday", ["yesterday"]),
        ("Previous 7 days", ["last week"]),
        ("Older", ["long ago"]),
    ]


@pytest.mark.parametrize("action", ["rename", "archive", "delete"])
def test_other_users_conversation_is_not_found(client, make_user, openai_template, action):
    theirs = Conversation.objects.create(user=make_user("bob"), template=openai_template)
    client.force_login(make_user("alice"))
    response = client.post(f"/c/{theirs.id}/{action}/", {"title": "mine", "archived": "1"})
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert (theirs.title, theirs.archived) == ("", False)


def test_another_users_message_cannot_be_selected_as_a_branch(client, make_user, openai_template):
    bob = make_user("bob")
    theirs = Conversation.objects.create(user=bob, template=openai_template)
    message = theirs.messages.create(role="user", content="secret")
    alice = make_user("alice")
    mine = Conversation.objects.create(user=alice, template=openai_template)
    client.force_login(alice)
    assert client.post(f"/c/{theirs.id}/branch/{message.id}/").status_code == 404
    assert client.post(f"/c/{mine.id}/branch/{message.id}/").status_code == 404


def test_search_view_shows_only_matches(client, make_user, openai_template):
    alice = make_user("alice")
    Conversation.objects.create(user=alice, template=openai_template, title="Tax return")
    Conversation.objects.create(user=alice, template=openai_template, title="Holiday")
    client.force_login(alice)
    page = client.get("/c/search/", {"q": "tax"}).content.decode()
    assert "Tax return" in page and "Holiday" not in page


def test_a_new_conversation_uses_the_assistant_picked(
    client, make_user, openai_template, anthropic_template
):
    client.force_login(make_user())
    page = client.get("/").content.decode()
    assert "Claude assistant" in page and "OpenAI assistant" in page
    client.post("/c/new/", {"template": anthropic_template.id})
    assert Conversation.objects.get().template == anthropic_template


def test_editing_or_regenerating_a_message_of_another_conversation_is_refused(
    conversation, make_user, openai_template
):
    other = Conversation.objects.create(user=make_user("bob"), template=openai_template)
    theirs = _turn(other, "Bob's question")
    _answer(theirs, "Bob's answer")
    with pytest.raises(services.NothingToRetry):
        _turn(conversation, "hijack", edit_of=theirs.user_message_id)
    with pytest.raises(services.NothingToRetry):
        _turn(conversation, None, regenerate_of=theirs.reply_id)
    assert not conversation.messages.exists()
