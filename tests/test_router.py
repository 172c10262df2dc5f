"""The router under staged provider faults: real SDKs against the simulator's fault knobs."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from chat.models import Conversation, Status
from gateway import pipeline
from gateway.events import Done, Error
from gateway.pipeline import CUT_OFF, MISCONFIGURED, UNAVAILABLE, Turn
from gateway.router.route import CONTINUE_INSTRUCTION
from observability.models import RequestLog
from prompts_admin.models import FallbackStep
from tests.turns import turn_events

pytestmark = pytest.mark.django_db(transaction=True)

PRIMARY, FALLBACK = "gpt-4o-mini", "claude-haiku-4-5"


@pytest.fixture(autouse=True)
def quick_backoff(settings):
    settings.ROUTER_BACKOFF_BASE_SECONDS = 0.01
    settings.ROUTER_MAX_RETRIES = 2


@pytest.fixture
def conversation(make_user, openai_template, anthropic_template) -> Conversation:
    """A conversation whose assistant falls back from OpenAI to Anthropic."""
    FallbackStep.objects.create(template=openai_template, model=anthropic_template.model)
    return Conversation.objects.create(user=make_user(), template=openai_template)


def _turn(conversation: Conversation, text: str = "Hello") -> tuple[list, RequestLog]:
    events = turn_events(Turn(conversation.user_id, conversation.id, text))
    return events, RequestLog.objects.latest("created_at")


def _script(simulator, **entry) -> None:
    simulator.post("/_sim/script", json=entry).raise_for_status()


def _requests_to(simulator, model: str) -> list[dict]:
    return [r for r in simulator.get("/_sim/requests").json()["requests"] if r["model"] == model]


def _text(events) -> str:
    return "".join(e.text for e in events if hasattr(e, "text"))


def test_a_429_with_retry_after_is_waited_for_and_then_succeeds(conversation, simulator):
    _script(simulator, model=PRIMARY, status=429, retry_after=1, times=1)
    _script(simulator, model=PRIMARY, reply="Worth the wait.", times=1)
    started = time.monotonic()
    events, log = _turn(conversation)

    assert isinstance(events[-1], Done) and _text(events) == "Worth the wait."
    assert time.monotonic() - started >= 1.0
    assert [a["outcome"] for a in log.attempts] == ["rate_limited", "ok"]
    assert log.attempts[0]["status"] == 429 and log.attempts[1]["wait_ms"] == 1000
    assert (log.model_used, log.fallback_used) == (PRIMARY, False)


def test_three_server_errors_fall_through_to_the_next_model(conversation, simulator):
    _script(simulator, model=PRIMARY, status=500, times=3)
    _script(simulator, model=FALLBACK, reply="Served by the fallback.", times=1)
    events, log = _turn(conversation)

    assert _text(events) == "Served by the fallback."
    assert [a["outcome"] for a in log.attempts] == ["server_error"] * 3 + ["ok"]
    assert [a["model"] for a in log.attempts] == [PRIMARY] * 3 + [FALLBACK]
    assert all(a["wait_ms"] > 0 for a in log.attempts[1:3])  # backed off between retries
    assert (log.model_requested, log.model_used, log.fallback_used) == (PRIMARY, FALLBACK, True)
    reply = conversation.messages.get(role="assistant")
    assert (reply.model, reply.status) == (FALLBACK, Status.COMPLETE)


def test_a_bad_key_is_not_retried(conversation, simulator):
    _script(simulator, model=PRIMARY, status=401, times=0)
    _script(simulator, model=FALLBACK, reply="Anthropic answers.", times=1)
    events, log = _turn(conversation)

    assert _text(events) == "Anthropic answers."
    assert [a["outcome"] for a in log.attempts] == ["auth", "ok"]
    assert len(_requests_to(simulator, PRIMARY)) == 1


def test_a_stall_mid_answer_is_cut_and_continued_by_the_next_model(conversation, simulator):
    conversation.template.stall_timeout_seconds = 0.5
    conversation.template.save()
    _script(simulator, model=PRIMARY, reply="one two three four five six", stall_after=3)
    _script(simulator, model=FALLBACK, reply="four five six.", times=1)
    started = time.monotonic()
    events, log = _turn(conversation)

    assert isinstance(events[-1], Done)
    assert _text(events) == "one two three four five six."
    assert time.monotonic() - started < 10
    assert [a["outcome"] for a in log.attempts] == ["stall", "ok"]
    continued = _requests_to(simulator, FALLBACK)[-1]["messages"]
    # A token carries its trailing space: what the user saw is "one two three ".
    assert continued[-2] == {"role": "assistant", "content": "one two three "}
    assert continued[-1] == {"role": "user", "content": CONTINUE_INSTRUCTION}
    # Both providers billed once each: the cut one by estimate (it reported no usage).
    assert log.attempts[0]["usage_estimated"] and not log.attempts[1]["usage_estimated"]
    assert log.output_tokens == sum(a["usage"]["output_tokens"] for a in log.attempts)
    assert log.cost == sum(Decimal(a["cost"]) for a in log.attempts)


def test_a_broken_stream_with_no_model_left_is_saved_as_interrupted(
    conversation, simulator, settings
):
    FallbackStep.objects.all().delete()
    _script(simulator, model=PRIMARY, reply="alpha beta gamma delta epsilon", disconnect_after=2)
    events, log = _turn(conversation)

    assert isinstance(events[-1], Error) and events[-1].message == CUT_OFF
    reply = conversation.messages.get(role="assistant")
    assert reply.status == Status.INTERRUPTED and reply.content == "alpha beta "
    assert log.status == "interrupted" and log.attempts[0]["text_chars"] == len("alpha beta ")


def test_an_open_breaker_skips_the_model_and_half_opens_after_its_cool_down(
    conversation, simulator, settings
):
    settings.BREAKER_FAILURE_THRESHOLD = 2
    settings.BREAKER_COOLDOWN_SECONDS = 1.0
    settings.ROUTER_MAX_RETRIES = 0
    _script(simulator, model=PRIMARY, status=503, times=2)
    _script(simulator, model=FALLBACK, reply="fallback", times=0)
    _turn(conversation)
    _turn(conversation)  # second consecutive failure: the breaker opens

    _events_skipped, skipped = _turn(conversation)
    assert [a["outcome"] for a in skipped.attempts] == ["breaker_open", "ok"]
    assert skipped.attempts[0]["duration_ms"] == 0
    assert len(_requests_to(simulator, PRIMARY)) == 2  # no call while open

    time.sleep(1.1)
    _script(simulator, model=PRIMARY, reply="primary is back", times=1)
    events, probed = _turn(conversation)
    assert _text(events) == "primary is back" and probed.attempts[0]["outcome"] == "ok"


def test_every_model_down_gives_an_honest_message_and_keeps_the_users_message(
    conversation, simulator
):
    _script(simulator, model=PRIMARY, status=503, times=0)
    _script(simulator, model=FALLBACK, status=529, times=0)
    events, log = _turn(conversation, "Are you there?")

    assert isinstance(events[-1], Error) and events[-1].message == UNAVAILABLE
    assert conversation.messages.get(role="user").content == "Are you there?"
    assert conversation.messages.get(role="assistant").status == Status.FAILED
    assert len(log.attempts) == 6 and log.status == "failed" and log.cost is None


def test_bad_keys_everywhere_are_reported_as_a_misconfiguration(conversation, simulator):
    _script(simulator, status=401, times=0)
    events, log = _turn(conversation)

    assert events[-1].message == MISCONFIGURED
    assert [a["outcome"] for a in log.attempts] == ["auth", "auth"]


@pytest.mark.parametrize(
    ("fault", "outcome"),
    [
        ({"status": 500}, "server_error"),
        ({"status": 503}, "server_error"),
        ({"status": 404}, "not_found"),
        ({"status": 400}, "bad_request"),
        ({"status": 429, "retry_after": 0.05}, "rate_limited"),
        ({"ttft_ms": 3000}, "ttft_timeout"),
        ({"malformed_after": 0}, "stream_broken"),
        ({"disconnect_after": 0}, "connection"),
        ({"error_event_after": 0}, "stream_broken"),
    ],
)
def test_each_kind_of_primary_failure_is_answered_by_the_fallback(
    fault, outcome, conversation, simulator, settings
):
    settings.ROUTER_MAX_RETRIES = 0
    conversation.template.first_token_timeout_seconds = 0.5
    conversation.template.save()
    _script(simulator, model=PRIMARY, times=0, **fault)
    _script(simulator, model=FALLBACK, reply="Still answered.", times=0)
    events, log = _turn(conversation)

    assert isinstance(events[-1], Done) and _text(events) == "Still answered."
    assert [a["outcome"] for a in log.attempts] == [outcome, "ok"]
    assert log.fallback_used and log.status == "complete"


def test_a_turn_still_completes_when_redis_is_down(conversation, simulator, settings):
    # The breaker lives in Redis; without it, traffic flows and the outage is counted.
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    _script(simulator, model=PRIMARY, reply="No Redis needed.", times=1)
    events, log = _turn(conversation)

    assert isinstance(events[-1], Done) and _text(events) == "No Redis needed."
    assert log.status == "complete"


def test_admin_shows_an_open_breaker(conversation, simulator, settings, admin_client):
    settings.BREAKER_FAILURE_THRESHOLD = 1
    settings.ROUTER_MAX_RETRIES = 0
    _script(simulator, model=PRIMARY, status=500, times=1)
    _turn(conversation)

    page = admin_client.get("/admin/gateway/languagemodel/").content.decode()
    row = next(line for line in page.split("<tr") if f">{PRIMARY}<" in line)
    assert ">open<" in row


def test_a_bad_key_is_said_once_in_the_logs_not_on_every_turn(conversation, simulator, caplog):
    pipeline._operator_problems_reported.clear()  # "once" is per process: start this one afresh
    _script(simulator, model=PRIMARY, status=401, times=0)
    _script(simulator, model=FALLBACK, reply="fine", times=0)
    with caplog.at_level("WARNING", logger="gateway.pipeline"):
        _turn(conversation)
        _turn(conversation)

    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "check its API key" in errors[0].getMessage()
    assert "sk-" not in caplog.text and "simulated" not in caplog.text  # no key, ever


@pytest.mark.parametrize("template", ["openai_template", "anthropic_template"])
def test_a_refusal_reaches_the_user_as_the_reply(template, request, make_user, simulator):
    template = request.getfixturevalue(template)
    conversation = Conversation.objects.create(user=make_user(), template=template)
    _script(simulator, reply="I can't help with that request.", refusal=True)
    events, _ = _turn(conversation)

    assert isinstance(events[-1], Done) and _text(events) == "I can't help with that request."
    assert conversation.messages.get(role="assistant").content == _text(events)


def test_a_reply_cut_off_on_the_fallback_is_recorded_as_the_fallbacks(conversation, simulator):
    _script(simulator, model=PRIMARY, status=500, times=0)
    _script(simulator, model=FALLBACK, reply="partial words here", disconnect_after=2, times=0)
    events, log = _turn(conversation)

    assert isinstance(events[-1], Error) and log.status == "interrupted"
    assert conversation.messages.get(role="assistant").model == FALLBACK
    assert log.model_used == FALLBACK
