"""Conversation titles written in the background by a cheap model (chat/titles.py)."""

from __future__ import annotations

import time

import pytest

from chat.models import Conversation, Message
from chat.tasks import generate_conversation_title
from chat.titles import TITLE_REQUEST, generate_title

pytestmark = pytest.mark.django_db(transaction=True)


def _first_exchange(user, template) -> Conversation:
    conversation = Conversation.objects.create(user=user, template=template)
    question = Message.objects.create(
        conversation=conversation, role="user", content="How do I make fresh pasta?"
    )
    Message.objects.create(
        conversation=conversation, role="assistant", content="Flour, eggs, time.", parent=question
    )
    return conversation


def test_a_title_is_generated_from_the_first_exchange(simulator, openai_template, make_user):
    conversation = _first_exchange(make_user(), openai_template)
    simulator.post("/_sim/script", json={"match": TITLE_REQUEST, "reply": '"Fresh pasta basics."'})

    assert generate_title(conversation.id) == "Fresh pasta basics"
    conversation.refresh_from_db()
    assert conversation.title == "Fresh pasta basics"
    sent = simulator.get("/_sim/requests").json()["requests"][-1]["messages"]
    assert "How do I make fresh pasta?" in sent[-1]["content"]


def test_a_failing_title_model_leaves_the_conversation_untitled(
    simulator, openai_template, make_user
):
    conversation = _first_exchange(make_user(), openai_template)
    simulator.post("/_sim/script", json={"status": 500, "times": 0})

    assert generate_title(conversation.id) is None
    conversation.refresh_from_db()
    assert conversation.title == ""  # shown as "New chat"


def test_a_title_the_user_chose_is_never_overwritten(simulator, openai_template, make_user):
    conversation = _first_exchange(make_user(), openai_template)
    conversation.title = "My pasta notes"
    conversation.save()
    assert generate_title(conversation.id) is None
    conversation.refresh_from_db()
    assert conversation.title == "My pasta notes"


def test_the_celery_task_titles_the_conversation(
    celery_worker, simulator, openai_template, make_user
):
    conversation = _first_exchange(make_user(), openai_template)
    simulator.post("/_sim/script", json={"match": TITLE_REQUEST, "reply": "Pasta from scratch"})
    generate_conversation_title.delay(str(conversation.id))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        conversation.refresh_from_db()
        if conversation.title:
            break
        time.sleep(0.2)
    assert conversation.title == "Pasta from scratch"
