"""OpenTelemetry traces: one span per pipeline stage and per model attempt.

Attribute names follow the GenAI semantic conventions (`gen_ai.*`); what those conventions do
not cover (cost, prompt version, experiment arm) is under `switchboard.*`. With
OTEL_TRACES_EXPORTER=none no SDK provider is installed: the API's no-op tracer costs ~nothing.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode

tracer = trace.get_tracer("switchboard")

OPERATION = "chat"


def configure_tracing(
    exporter: str, *, otlp_endpoint: str = "", service_name: str = "switchboard"
) -> None:
    """Install an SDK provider for "console" or "otlp"; "none" leaves the no-op API in place."""
    if exporter == "none":
        return
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    if exporter == "console":
        span_exporter = ConsoleSpanExporter()
    elif exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        span_exporter = OTLPSpanExporter(endpoint=f"{otlp_endpoint.rstrip('/')}/v1/traces")
    else:
        raise ValueError(f"OTEL_TRACES_EXPORTER must be none, console or otlp, not {exporter!r}")
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(BatchSpanProcessor(span_exporter))
    trace.set_tracer_provider(provider)


@contextlib.contextmanager
def stage_span(stage: str, **attributes) -> Iterator[Span]:
    """A span for one pipeline stage, e.g. `with stage_span("retrieval"): ...`."""
    with tracer.start_as_current_span(
        f"switchboard.{stage}", attributes={"switchboard.stage": stage, **attributes}
    ) as span:
        yield span


@contextlib.contextmanager
def turn_span(*, request_id: str, user_id: int) -> Iterator[Span]:
    attributes = {
        "gen_ai.operation.name": OPERATION,
        "switchboard.request_id": request_id,
        "enduser.id": str(user_id),
    }
    with tracer.start_as_current_span(f"{OPERATION} turn", attributes=attributes) as span:
        yield span


def annotate_turn(span: Span, outcome) -> None:
    """Copy what the turn used and produced onto its span (`outcome`: a TurnOutcome)."""
    if not span.is_recording():
        return
    span.set_attributes(_gen_ai_attributes(outcome.provider, outcome.model_requested))
    if outcome.model:
        span.set_attribute("gen_ai.response.model", outcome.model)
    if outcome.usage:
        span.set_attribute("gen_ai.usage.input_tokens", _input_tokens(outcome.usage))
        span.set_attribute("gen_ai.usage.output_tokens", outcome.usage.output_tokens)
    if outcome.cost is not None:
        span.set_attribute("switchboard.cost_usd", float(outcome.cost))
    span.set_attribute("switchboard.status", outcome.status)
    span.set_attribute("switchboard.fallback_used", outcome.fallback_used)
    for name in ("prompt_version", "arm"):  # set by prompt selection when it knows them
        if (value := getattr(outcome, name, None)) is not None:
            span.set_attribute(f"switchboard.{name}", str(value))
    if outcome.error_kind:
        span.set_status(Status(StatusCode.ERROR, outcome.error_kind))
        span.set_attribute("error.type", outcome.error_kind)


class _ModelCall:
    route = None  # the router's Route, once planned


@contextlib.contextmanager
def model_call_span() -> Iterator[_ModelCall]:
    """The model-call stage; on exit, a child span per attempt the route made."""
    call, started = _ModelCall(), time.time_ns()
    with stage_span("model_call"):
        try:
            yield call
        finally:
            if call.route is not None:
                record_attempt_spans([a.as_json() for a in call.route.attempts], started_ns=started)


def record_attempt_spans(attempts: list[dict], *, started_ns: int) -> None:
    """One child span per model attempt, laid out on the model call's timeline.

    The router records each attempt's backoff wait and duration; the spans are built from that
    record afterwards, so the router itself stays free of tracing code.
    """
    if not trace.get_current_span().is_recording():
        return
    at = started_ns
    for attempt in attempts:
        at += attempt["wait_ms"] * 1_000_000
        end = at + attempt["duration_ms"] * 1_000_000
        span = tracer.start_span(
            f"{OPERATION} {attempt['model']}",
            start_time=at,
            kind=trace.SpanKind.CLIENT,
            attributes=_attempt_attributes(attempt),
        )
        if attempt["outcome"] != "ok":
            span.set_status(Status(StatusCode.ERROR, attempt["outcome"]))
        span.end(end_time=end)
        at = end


def _attempt_attributes(attempt: dict) -> dict:
    attributes = {
        **_gen_ai_attributes(attempt["provider"], attempt["model"]),
        "switchboard.attempt.outcome": attempt["outcome"],
        "switchboard.attempt.wait_ms": attempt["wait_ms"],
    }
    if attempt["outcome"] == "ok":
        attributes["gen_ai.response.model"] = attempt["model"]
    else:
        attributes["error.type"] = attempt["outcome"]
    if attempt.get("status"):
        attributes["http.response.status_code"] = attempt["status"]
    if usage := attempt.get("usage"):
        attributes["gen_ai.usage.input_tokens"] = (
            usage["input_tokens"] + usage["cached_input_tokens"] + usage["cache_write_tokens"]
        )
        attributes["gen_ai.usage.output_tokens"] = usage["output_tokens"]
    if attempt.get("cost") is not None:
        attributes["switchboard.cost_usd"] = float(attempt["cost"])
    return attributes


def _gen_ai_attributes(provider: str, model: str) -> dict:
    return {
        "gen_ai.operation.name": OPERATION,
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": model,
    }


def _input_tokens(usage) -> int:
    """gen_ai.usage.input_tokens counts all input, cached included (the convention's meaning)."""
    return usage.input_tokens + usage.cached_input_tokens + usage.cache_write_tokens
