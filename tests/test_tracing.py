"""Traces: a span per pipeline stage and per model attempt, with GenAI attributes."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from chat.models import Conversation
from gateway.events import Done
from gateway.pipeline import Turn
from observability.models import RequestLog
from prompts_admin.models import FallbackStep
from tests.turns import turn_events

pytestmark = pytest.mark.django_db(transaction=True)

STAGES = [
    "admission",
    "persist_input",
    "prompt_selection",
    "build_messages",
    "model_call",
    "record",
]

_EXPORTER = InMemorySpanExporter()


@pytest.fixture(scope="module", autouse=True)
def _tracer_provider():
    """The SDK provider the OTEL_TRACES_EXPORTER setting would install, exporting to memory."""
    current = trace.get_tracer_provider()
    if not isinstance(current, TracerProvider):
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
        trace.set_tracer_provider(provider)
    elif not getattr(current, "_test_memory", False):
        current.add_span_processor(SimpleSpanProcessor(_EXPORTER))
    trace.get_tracer_provider()._test_memory = True


@pytest.fixture
def spans():
    _EXPORTER.clear()
    return _EXPORTER


def test_a_turn_has_a_span_per_stage_and_attempt_with_gen_ai_attributes(
    spans, simulator, make_user, openai_template
):
    simulator.post(
        "/_sim/script",
        json={"reply": "Traced reply.", "usage": {"input_tokens": 40, "output_tokens": 7}},
    )
    conversation = Conversation.objects.create(user=make_user(), template=openai_template)
    events = turn_events(Turn(conversation.user_id, conversation.id, "Trace this"))
    assert isinstance(events[-1], Done)

    finished = spans.get_finished_spans()
    by_name = {span.name: span for span in finished}
    turn = by_name["chat turn"]
    assert {span.context.trace_id for span in finished} == {turn.context.trace_id}
    for stage in STAGES:
        assert by_name[f"switchboard.{stage}"].parent.span_id == turn.context.span_id

    attempt = by_name["chat gpt-4o-mini"]
    assert attempt.parent.span_id == by_name["switchboard.model_call"].context.span_id
    assert attempt.kind == trace.SpanKind.CLIENT
    assert attempt.attributes["gen_ai.operation.name"] == "chat"
    assert attempt.attributes["gen_ai.provider.name"] == "openai"
    assert attempt.attributes["gen_ai.request.model"] == "gpt-4o-mini"
    assert attempt.attributes["gen_ai.response.model"] == "gpt-4o-mini"
    assert attempt.attributes["gen_ai.usage.input_tokens"] == 40
    assert attempt.attributes["gen_ai.usage.output_tokens"] == 7
    assert attempt.attributes["switchboard.cost_usd"] > 0

    assert turn.attributes["gen_ai.request.model"] == "gpt-4o-mini"
    assert turn.attributes["gen_ai.response.model"] == "gpt-4o-mini"
    assert turn.attributes["gen_ai.usage.output_tokens"] == 7
    log = RequestLog.objects.get(message__conversation=conversation)
    assert turn.attributes["switchboard.request_id"] == str(log.request_id)
    assert turn.attributes["switchboard.cost_usd"] == pytest.approx(float(log.cost))
    assert turn.attributes["switchboard.status"] == "complete"


def test_a_fallback_shows_as_a_failed_attempt_span_then_a_served_one(
    spans, simulator, make_user, openai_template, anthropic_template, settings
):
    settings.ROUTER_MAX_RETRIES = 0
    FallbackStep.objects.create(template=openai_template, model=anthropic_template.model)
    simulator.post("/_sim/script", json={"model": "gpt-4o-mini", "status": 500, "times": 1})
    simulator.post(
        "/_sim/script", json={"model": "claude-haiku-4-5", "reply": "From the fallback."}
    )
    conversation = Conversation.objects.create(user=make_user(), template=openai_template)
    events = turn_events(Turn(conversation.user_id, conversation.id, "Fall back please"))
    assert isinstance(events[-1], Done)

    finished = spans.get_finished_spans()
    call = next(s for s in finished if s.name == "switchboard.model_call")
    children = sorted(
        (
            s
            for s in finished
            if s.parent
            and s.parent.span_id == call.context.span_id
            and "switchboard.attempt.outcome" in s.attributes  # not the SDK's own spans
        ),
        key=lambda s: s.start_time,
    )
    assert len(children) == 2, [(c.name, dict(c.attributes)) for c in children]
    failed, served = children
    assert failed.attributes["gen_ai.request.model"] == "gpt-4o-mini"
    assert failed.attributes["error.type"] == "server_error"
    assert failed.attributes["http.response.status_code"] == 500
    assert failed.status.status_code == trace.StatusCode.ERROR
    assert failed.end_time <= served.start_time
    assert served.attributes["gen_ai.provider.name"] == "anthropic"
    assert served.attributes["gen_ai.response.model"] == "claude-haiku-4-5"
    turn = next(s for s in finished if s.name == "chat turn")
    assert turn.attributes["gen_ai.response.model"] == "claude-haiku-4-5"
    assert turn.attributes["switchboard.fallback_used"] is True


def test_with_no_exporter_the_tracer_is_a_no_op():
    from opentelemetry.trace import NoOpTracerProvider

    span = NoOpTracerProvider().get_tracer("x").start_span("y")
    assert not span.is_recording()
