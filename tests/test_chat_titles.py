"""Conversation titles written in the background by a cheap model (chat/titles.py)."""

from __future__ import annotations

import time

import pytest

from chat.models import Conversation, Message
from chat.tasks import generate_conversation_title
from chat.titles import TITLE_REQUEST, generate_title
from tests.live import TITLE_MODEL

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
    simulator.post("/_sim/script", json={"model": TITLE_MODEL, "reply": '"Fresh pasta basics."'})

    assert generate_title(conversation.id) == "Fresh pasta basics"
    conversation.refresh_from_db()
    assert conversation.title == "Fresh pasta basics"
    (sent,) = simulator.get("/_sim/requests").json()["requests"]
    assert sent["model"] == TITLE_MODEL  # CHAT_TITLE_MODEL, not the conversation's model
    assert sent["messages"][-1]["content"].startswith(TITLE_REQUEST)
    assert "How do I make fresh pasta?" in sent["messages"][-1]["content"]


def test_a_title_job_never_uses_up_a_reply_scripted_for_the_chat(
    simulator, openai_template, make_user
):
    conversation = _first_exchange(make_user(), openai_template)
    simulator.post("/_sim/script", json={"reply": "Scripted for the chat.", "times": 1})

    title = generate_title(conversation.id)

    assert title and title != "Scripted for the chat"  # the simulator's own answer
    chat = simulator.post(  # the chat's model still gets the reply scripted for it
        "/v1/chat/completions",
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]},
        headers={"Authorization": "Bearer sk-test"},
    )
    assert chat.json()["choices"][0]["message"]["content"] == "Scripted for the chat."


def test_a_failing_title_model_leaves_the_conversation_untitled(
    simulator, openai_template, make_user
):
    conversation = _first_exchange(make_user(), openai_template)
    simulator.post("/_sim/script", json={"model": TITLE_MODEL, "status": 500, "times": 0})

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
    simulator.post("/_sim/script", json={"model": TITLE_MODEL, "reply": "Pasta from scratch"})
    generate_conversation_title.delay(str(conversation.id))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        conversation.refresh_from_db()
        if conversation.title:
            break
        time.sleep(0.2)
    assert conversation.title == "Pasta from scratch"
