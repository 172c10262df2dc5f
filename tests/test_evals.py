"""Every answer is scored in the background: cheap checks always, the LLM judge on a sample."""

from __future__ import annotations

import time
import uuid
from decimal import Decimal

import pytest
from celery import Celery

from chat.models import Conversation
from config.celery import app
from devstack.services import free_port
from gateway.events import Done
from gateway.models import LanguageModel
from gateway.pipeline import Turn
from observability.evals import JudgeFailed, cheap_checks, evaluate, in_judge_sample, parse_verdict
from observability.metrics import ENQUEUE_FAILURES
from observability.models import DailyRollup, EvalResult, EvalRubric, RequestLog
from observability.rollups import rollup_recent
from tests.turns import turn_events

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def conversation(make_user, openai_template) -> Conversation:
    return Conversation.objects.create(user=make_user(), template=openai_template)


@pytest.fixture
def rubric(openai_template) -> EvalRubric:
    judge, _ = LanguageModel.objects.update_or_create(
        name="judge-model",
        defaults={
            "provider": "openai",
            "input_price": Decimal("0.1"),
            "output_price": Decimal("0.1"),
        },
    )
    return EvalRubric.objects.create(
        name="Helpful and correct",
        instructions="Is the answer correct and helpful?",
        judge_model=judge,
        sample_rate=Decimal("1"),
    )


def _answer(simulator, conversation, reply: str, question: str = "What is 2+2?") -> RequestLog:
    simulator.post("/_sim/script", json={"model": "gpt-4o-mini", "reply": reply, "times": 1})
    events = turn_events(Turn(conversation.user_id, conversation.id, question))
    assert isinstance(events[-1], Done)
    return RequestLog.objects.filter(conversation=conversation).latest("created_at")


@pytest.mark.parametrize(
    ("content", "status", "problem"),
    [
        ("", "complete", "empty"),
        ("I'm sorry, but I can't help with that.", "complete", "refusal"),
        ("It was going well until", "interrupted", "truncated"),
        ("```python\nprint(1)\n", "complete", "format"),
    ],
)
def test_cheap_checks_flag_each_problem(content, status, problem):
    checks = cheap_checks(content, status)
    assert [name for name, bad in checks.items() if bad] == [problem]


def test_a_good_answer_passes_every_cheap_check():
    assert not any(cheap_checks("Four. `2+2` is 4.", "complete").values())


def test_sampling_is_sticky_and_follows_the_rate():
    ids = [uuid.uuid4() for _ in range(2000)]
    chosen = [i for i in ids if in_judge_sample(i, 0.25)]
    assert 400 < len(chosen) < 600
    assert chosen == [i for i in ids if in_judge_sample(i, 0.25)]
    assert not any(in_judge_sample(i, 0) for i in ids) and all(in_judge_sample(i, 1) for i in ids)


@pytest.mark.parametrize("reply", ["Looks fine to me", '{"score": 9, "reason": "x"}', "{bad json"])
def test_a_judge_reply_without_a_usable_score_is_a_failure(reply):
    with pytest.raises(JudgeFailed):
        parse_verdict(reply)


def test_the_judge_score_lands_on_the_turns_version(simulator, conversation, rubric):
    log = _answer(simulator, conversation, "Four.")
    simulator.post(
        "/_sim/script",
        # Every call: the turn's own eval job may reach a running worker and ask the judge too.
        json={
            "model": "judge-model",
            "reply": '{"score": 4, "reason": "Correct, terse."}',
            "times": 0,
        },
    )

    result = evaluate(log.request_id)

    assert result.status == "ok" and result.judge_score == pytest.approx(0.75)
    assert result.judge_reason == "Correct, terse." and result.judge_model == "judge-model"
    judged = [
        r for r in simulator.get("/_sim/requests").json()["requests"] if r["model"] == "judge-model"
    ]
    assert "Four." in str(judged[-1]) and "What is 2+2?" in str(judged[-1])
    rollup_recent(lookback_days=1)
    row = DailyRollup.objects.get(template=conversation.template)
    assert (row.judged, row.judge_score_sum, row.evals) == (1, pytest.approx(0.75), 1)
    assert log.prompt_version is not None
    assert row.prompt_version == f"v{log.prompt_version.number}"  # as the dashboard shows it


def test_a_failing_judge_is_recorded_with_its_reason(simulator, conversation, rubric, admin_client):
    log = _answer(simulator, conversation, "Four.")
    simulator.post("/_sim/script", json={"model": "judge-model", "status": 503, "times": 5})

    result = evaluate(log.request_id)

    assert result.status == "failed" and "judge-model" in result.reason
    assert result.check_score == 1.0  # the cheap checks still count
    page = admin_client.get("/admin/observability/evalresult/?status__exact=failed")
    assert "judge-model" in page.content.decode()


def test_without_a_rubric_only_the_cheap_checks_run(simulator, conversation):
    log = _answer(simulator, conversation, "Four.")
    result = evaluate(log.request_id)
    assert result.status == "ok" and result.judge_score is None and result.rubric is None


def test_a_recorded_turn_is_evaluated_by_the_celery_worker(celery_worker, simulator, conversation):
    log = _answer(simulator, conversation, "I cannot help with that request.")
    deadline = time.monotonic() + 60
    while not EvalResult.objects.filter(request_log=log).exists():
        assert time.monotonic() < deadline, "the eval job never ran"
        time.sleep(0.2)
    result = EvalResult.objects.get(request_log=log)
    assert result.checks["refusal"] is True and result.check_score == 0.75


@pytest.fixture
def dead_broker_eval_task(monkeypatch):
    """evaluate_turn as enqueued by the record stage, but on a broker nobody listens on."""
    dead = Celery("dead", broker=f"redis://127.0.0.1:{free_port()}/0", set_as_current=False)
    dead.conf.broker_transport_options = app.conf.broker_transport_options

    @dead.task(name="observability.tasks.evaluate_turn")
    def evaluate_turn(request_id: str) -> None: ...

    monkeypatch.setattr("observability.tasks.evaluate_turn", evaluate_turn)
    yield evaluate_turn
    dead.close()


def test_a_dead_broker_costs_the_eval_not_the_turn(simulator, conversation, dead_broker_eval_task):
    failures = ENQUEUE_FAILURES.labels(task="observability.tasks.evaluate_turn")
    before = failures.get()

    log = _answer(simulator, conversation, "Still answered.")

    assert conversation.messages.get(role="assistant").content == "Still answered."
    assert log.status == "complete"
    assert failures.get() == before + 1
    assert not EvalResult.objects.exists()
