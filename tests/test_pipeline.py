"""The pipeline alone, with plain inputs: no websocket, no server but the provider."""

from __future__ import annotations

import pytest

from chat.models import Conversation, Message, Status
from devstack.services import free_port
from gateway.events import Accepted, Done, Error
from gateway.pipeline import UNAVAILABLE, Turn
from observability.models import RequestLog
from tests.turns import turn_events

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def conversation(make_user, openai_template) -> Conversation:
    return Conversation.objects.create(user=make_user(), template=openai_template)


def test_a_turn_yields_accepted_deltas_and_done(conversation, simulator):
    simulator.post("/_sim/script", json={"reply": "Hello there, friend."})
    events = turn_events(Turn(conversation.user_id, conversation.id, "Hi"))

    assert isinstance(events[0], Accepted) and isinstance(events[-1], Done)
    text = "".join(e.text for e in events[1:-1])
    assert text == "Hello there, friend."
    assert events[-1].cost is not None and events[-1].usage.output_tokens > 0


def test_an_unreachable_provider_fails_the_turn_but_keeps_the_users_message(conversation, settings):
    settings.SIMULATOR_URL = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    settings.ROUTER_MAX_RETRIES = 0
    events = turn_events(Turn(conversation.user_id, conversation.id, "Is anyone there?"))

    assert isinstance(events[-1], Error)
    assert events[-1].kind == "unavailable" and events[-1].message == UNAVAILABLE
    assert conversation.messages.get(role="user").content == "Is anyone there?"
    reply = conversation.messages.get(role="assistant")
    assert (reply.status, reply.error_kind) == (Status.FAILED, "unavailable")
    log = RequestLog.objects.get(message=reply)
    assert log.status == "failed" and log.cost is None
    assert [a["outcome"] for a in log.attempts] == ["connection"]


@pytest.mark.parametrize(
    ("text", "says"),
    [("   ", "Type a message"), ("x" * 16_001, "limit is 16,000"), ("a\x00b", "NUL")],
)
def test_unacceptable_input_is_refused_with_a_reason_and_nothing_is_saved(conversation, text, says):
    events = turn_events(Turn(conversation.user_id, conversation.id, text))

    assert len(events) == 1 and events[0].kind == "invalid_input" and says in events[0].message
    assert not Message.objects.exists()


def test_an_unpriced_model_records_unknown_cost_not_zero(conversation, simulator):
    model = conversation.template.model
    model.input_price = model.output_price = None
    model.save()
    events = turn_events(Turn(conversation.user_id, conversation.id, "Hi"))

    assert events[-1].cost is None
    log = RequestLog.objects.get()
    assert log.cost is None and not log.priced and log.output_tokens > 0


def test_an_openai_compatible_server_is_called_as_a_real_provider(
    conversation, simulator, simulator_url, settings
):
    # The simulator stands in for vLLM / Ollama / llama.cpp behind OPENAI_BASE_URL.
    settings.OPENAI_BASE_URL = f"{simulator_url}/v1"
    settings.OPENAI_API_KEY = "sk-local-test"
    events = turn_events(Turn(conversation.user_id, conversation.id, "Hi"))

    assert isinstance(events[-1], Done) and not events[0].simulated
    upstream = simulator.get("/_sim/requests").json()["requests"][-1]
    assert upstream["auth"] == "bearer" and upstream["stream"]
    # Compatible servers get the older parameter name, and usage in the stream is asked for.
    assert upstream["params"]["max_tokens"] == conversation.template.max_output_tokens
    assert upstream["params"]["stream_options"] == {"include_usage": True}
    reply = conversation.messages.get(role="assistant")
    assert not reply.simulated and reply.output_tokens > 0


def test_an_anthropic_key_sends_real_anthropic_requests(
    make_user, anthropic_template, simulator, simulator_url, settings
):
    conversation = Conversation.objects.create(user=make_user(), template=anthropic_template)
    settings.ANTHROPIC_BASE_URL = simulator_url
    settings.ANTHROPIC_API_KEY = "sk-ant-test"
    events = turn_events(Turn(conversation.user_id, conversation.id, "Hi"))

    assert isinstance(events[-1], Done) and not events[0].simulated
    upstream = simulator.get("/_sim/requests").json()["requests"][-1]
    assert upstream["api"] == "anthropic"
    # The system prompt is the stable prefix, marked cacheable (see test_prompts_caching.py);
    # the per-request canary comes after the cache breakpoint.
    prefix, canary = upstream["system"]
    assert prefix == {
        "type": "text",
        "text": anthropic_template.system_prompt,
        "cache_control": {"type": "ephemeral"},
    }
    assert canary["text"].startswith("Confidential marker: SB-") and "cache_control" not in canary
    assert upstream["params"]["max_tokens"] == anthropic_template.max_output_tokens
