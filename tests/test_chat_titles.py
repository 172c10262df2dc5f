"""Conversation titles written in the background by a cheap model (chat/titles.py)."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from chat.models import Conversation, Message
from chat.tasks import generate_conversation_title
from chat.title_log import TitleCall, record_title_call
from chat.titles import TITLE_REQUEST, generate_title, title_request
from observability.evals import evaluate
from observability.models import EvalResult, RequestLog
from prompts_admin.stats import Sample
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


# Title model prices (tests/conftest.py): $0.15 in and $0.60 out per million tokens.
TITLE_USAGE = {"input_tokens": 1000, "cached_input_tokens": 0, "output_tokens": 500}


def test_a_title_job_is_logged_as_spend_with_its_cost(simulator, openai_template, make_user):
    user = make_user()
    conversation = _first_exchange(user, openai_template)
    simulator.post(
        "/_sim/script", json={"model": TITLE_MODEL, "reply": "Pasta", "usage": TITLE_USAGE}
    )

    generate_title(conversation.id)

    log = RequestLog.objects.get()
    assert log.purpose == RequestLog.Purpose.TITLE
    assert (log.user, log.conversation_id, log.status) == (user, conversation.id, "complete")
    assert (log.model_requested, log.model_used, log.provider) == (
        TITLE_MODEL,
        TITLE_MODEL,
        "openai",
    )
    assert (log.input_tokens, log.output_tokens) == (1000, 500)
    assert log.cost == Decimal("0.00045") and log.priced and log.latency_ms is not None
    assert evaluate(log.request_id) is None  # a title is not an answer to grade
    assert not EvalResult.objects.exists()


def test_a_failed_title_call_is_logged_as_failed(simulator, openai_template, make_user):
    conversation = _first_exchange(make_user(), openai_template)
    simulator.post("/_sim/script", json={"model": TITLE_MODEL, "status": 500, "times": 0})

    assert generate_title(conversation.id) is None

    log = RequestLog.objects.get()
    assert (log.purpose, log.status, log.model_used) == ("title", "failed", "")
    assert log.error_kind and log.cost is None


def test_a_title_is_not_a_turn_in_prompt_statistics(simulator, openai_template, make_user):
    user = make_user()
    conversation = _first_exchange(user, openai_template)
    RequestLog.objects.create(
        user=user, conversation=conversation, model_requested="gpt-4o-mini", status="complete"
    )
    simulator.post("/_sim/script", json={"model": TITLE_MODEL, "status": 500, "times": 0})
    generate_title(conversation.id)  # a failed title: it would count as an error if it were a turn

    sample = Sample.of(RequestLog.objects.filter(conversation=conversation))

    assert RequestLog.objects.filter(conversation=conversation).count() == 2
    assert (sample.requests, sample.errors) == (1, 0)


def test_a_title_for_a_conversation_deleted_meanwhile_is_still_logged(
    simulator, openai_template, make_user, title_model
):
    user = make_user()
    conversation = _first_exchange(user, openai_template)
    request = title_request(conversation)
    Conversation.objects.filter(id=conversation.id).delete()  # while the title model answered

    log = record_title_call(
        conversation, title_model, request, TitleCall(started=time.monotonic(), text="Pasta")
    )

    assert (log.user, log.conversation_id, log.purpose) == (user, None, "title")
    assert log.input_tokens > 0 and log.cost > 0  # no usage reported: estimated from the text
