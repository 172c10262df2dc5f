"""Offline token counts, and history trimmed to the model's context budget."""

from __future__ import annotations

import re

import pytest

from budgets.models import TemplateCostPolicy
from chat.models import Conversation, Message, Role
from gateway.events import Accepted, Citation, Done, Error
from gateway.pipeline import Turn
from gateway.tokens import count_message_tokens, count_tokens, prompt_tokens, trim_history
from knowledge.models import RetrievalPolicy
from knowledge.services import document_create_from_text
from tests.turns import turn_events


def test_tokens_are_counted_offline_with_the_models_encoding():
    # o200k_base (gpt-4o family), from the tables inside the wheel: no network involved.
    assert count_tokens("Hello world", "gpt-4o-mini") == 2
    assert count_tokens("Hello world", "gpt-3.5-turbo") == 2  # cl100k_base
    assert count_tokens("", "gpt-4o-mini") == 0
    assert count_tokens(" word" * 1000, "gpt-4o-mini") == 1000


def test_claude_and_unknown_models_are_estimated_with_o200k():
    text = "Estimates are fine for budgets, as long as they are said to be estimates."
    assert count_tokens(text, "claude-haiku-4-5") == count_tokens(text, "gpt-4o")
    assert count_tokens(text, "some-local-model") == count_tokens(text, "gpt-4o")


def test_special_token_text_from_a_user_is_counted_as_text():
    assert count_tokens("<|endoftext|>", "gpt-4o-mini") > 1


def _turns(n: int, words: int = 100) -> list[dict[str, str]]:
    return [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i} " + "word " * words}
        for i in range(n)
    ]


def test_trimming_keeps_the_latest_turns_that_fit():
    messages = _turns(9)  # ends with a user message
    system = "You are terse."
    per_turn = count_message_tokens(messages[0], "gpt-4o-mini")
    budget = prompt_tokens(system, [], "gpt-4o-mini") + 3 * per_turn + 1

    kept = trim_history(system, messages, budget=budget, model="gpt-4o-mini")

    assert kept == messages[-3:]
    assert prompt_tokens(system, kept, "gpt-4o-mini") <= budget


def test_trimmed_history_starts_with_a_user_message():
    messages = _turns(9)
    per_turn = count_message_tokens(messages[0], "gpt-4o-mini")
    budget = prompt_tokens("", [], "gpt-4o-mini") + 4 * per_turn + 1  # 4 fit: a reply first

    kept = trim_history("", messages, budget=budget, model="gpt-4o-mini")

    assert kept == messages[-3:] and kept[0]["role"] == "user"


def test_the_system_suffix_counts_against_the_budget():
    messages = _turns(9)
    system, suffix = "You are terse.", "Passages:\n" + "fact " * 40
    per_turn = count_message_tokens(messages[0], "gpt-4o-mini")
    budget = prompt_tokens(system, [], "gpt-4o-mini") + 5 * per_turn + 1

    kept = trim_history(system, messages, budget=budget, model="gpt-4o-mini", suffix=suffix)

    assert 0 < len(kept) < 5 and kept == messages[-len(kept) :]
    assert prompt_tokens(system, kept, "gpt-4o-mini", suffix=suffix) <= budget
    assert prompt_tokens(f"{system}\n\n{suffix}", kept, "gpt-4o-mini") <= budget


def test_the_latest_message_is_sent_even_alone():
    messages = _turns(3, words=5000)
    assert trim_history("sys", messages, budget=10, model="gpt-4o-mini") == messages[-1:]


def test_everything_is_kept_when_it_fits():
    messages = _turns(5, words=3)
    assert trim_history("sys", messages, budget=100_000, model="gpt-4o-mini") == messages


@pytest.mark.django_db(transaction=True)
def test_a_long_conversation_is_trimmed_to_the_models_context_budget(
    make_user, openai_template, simulator
):
    model = openai_template.model
    model.context_window = 2_000
    model.save()
    openai_template.max_output_tokens = 500  # so 1,500 tokens of input
    openai_template.save()
    conversation = Conversation.objects.create(user=make_user(), template=openai_template)
    parent = None
    for i in range(12):  # 6 earlier exchanges of ~200 tokens each: ~2,400 tokens of history
        role = Role.USER if i % 2 == 0 else Role.ASSISTANT
        parent = Message.objects.create(
            conversation=conversation,
            role=role,
            content=f"old {i} " + "lorem " * 200,
            parent=parent,
        )
    conversation.current_leaf = parent  # the branch being shown: the new turn continues it
    conversation.save()

    events = turn_events(Turn(conversation.user_id, conversation.id, "And the latest question?"))

    assert isinstance(events[-1], Done)
    sent = simulator.get("/_sim/requests").json()["requests"][-1]["messages"]
    assert sent[0]["role"] == "system"
    assert sent[0]["content"].startswith(openai_template.system_prompt)  # then the canary
    assert sent[-1] == {"role": "user", "content": "And the latest question?"}
    history = sent[1:-1]
    assert 0 < len(history) < 12, "older turns dropped, recent ones kept"
    assert history[-1]["content"].startswith("old 11 ")  # the newest earlier turn survives
    assert history[0]["role"] == "user"
    # The budget covers all that is sent: the prompt, the guardrails' canary line and history.
    assert "Confidential marker: SB-" in sent[0]["content"]
    assert prompt_tokens(sent[0]["content"], sent[1:], "gpt-4o-mini") <= 1_500


@pytest.mark.django_db(transaction=True)
def test_a_message_over_the_assistants_input_limit_is_refused_and_nothing_is_saved(
    make_user, openai_template, simulator
):
    TemplateCostPolicy.objects.create(template=openai_template, max_input_tokens=300)
    conversation = Conversation.objects.create(user=make_user(), template=openai_template)

    events = turn_events(Turn(conversation.user_id, conversation.id, " word" * 400))

    assert len(events) == 1 and isinstance(events[0], Error)
    assert events[0].kind == "input_too_long"
    assert "400 tokens" in events[0].message and "at most" in events[0].message
    assert not Message.objects.exists()
    assert simulator.get("/_sim/requests").json()["requests"] == []

    ok = turn_events(Turn(conversation.user_id, conversation.id, " word" * 200))
    assert isinstance(ok[0], Accepted) and isinstance(ok[-1], Done)


@pytest.mark.django_db(transaction=True)
def test_a_message_at_the_limit_fits_the_models_context_with_the_canary_line(
    make_user, openai_template, simulator
):
    model = openai_template.model
    model.context_window = 1_000
    model.save()
    openai_template.max_output_tokens = 200  # so 800 tokens of input, canary line included
    openai_template.save()
    conversation = Conversation.objects.create(user=make_user(), template=openai_template)
    for i, role in enumerate([Role.USER, Role.ASSISTANT]):  # an earlier exchange
        parent = Message.objects.create(
            conversation=conversation,
            role=role,
            content=f"old {i} " + "lorem " * 100,
            parent=conversation.current_leaf,
        )
        conversation.current_leaf = parent
        conversation.save()
    refused = turn_events(Turn(conversation.user_id, conversation.id, " word" * 1_000))
    room = int(re.search(r"at most ([\d,]+)", refused[0].message)[1].replace(",", ""))
    at_the_limit = " word" * room
    assert count_tokens(at_the_limit, "gpt-4o-mini") == room

    events = turn_events(Turn(conversation.user_id, conversation.id, at_the_limit))

    assert isinstance(events[-1], Done)
    sent = simulator.get("/_sim/requests").json()["requests"][-1]["messages"]
    assert "Confidential marker: SB-" in sent[0]["content"]
    assert sent[1:] == [{"role": "user", "content": at_the_limit}]  # no room for history
    assert prompt_tokens(sent[0]["content"], sent[1:], "gpt-4o-mini") <= 800


@pytest.mark.django_db(transaction=True)
def test_with_a_message_near_the_limit_passages_give_way_and_only_those_sent_are_cited(
    make_user, openai_template, simulator
):
    TemplateCostPolicy.objects.create(template=openai_template, max_input_tokens=700)
    RetrievalPolicy.objects.create(template=openai_template, enabled=True, top_k=3)
    for topic in ("refunds", "shipping", "warranty"):  # three passages of ~150 tokens each
        document_create_from_text(
            title=f"Policy on {topic}", text=f"# {topic}\n" + f"The {topic} policy says. " * 30
        )
    conversation = Conversation.objects.create(user=make_user(), template=openai_template)
    question = "What do the refunds, shipping and warranty policies say?" + " please" * 380

    events = turn_events(Turn(conversation.user_id, conversation.id, question))

    assert isinstance(events[-1], Done)
    request = simulator.get("/_sim/requests").json()["requests"][-1]
    system, sent = request["messages"][0]["content"], request["messages"][1:]
    assert sent == [{"role": "user", "content": question}]  # the question is sent whole
    assert prompt_tokens(system, sent, "gpt-4o-mini") <= 700  # the policy's cap holds
    passages_sent = system.count("<passage ")
    assert 0 < passages_sent < 3  # some context still fits; the rest gave way
    cited = [e for e in events if isinstance(e, Citation)]
    assert len(cited) == passages_sent  # the user is shown only what the model was given
