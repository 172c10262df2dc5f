"""Experiments: sticky hash assignment, ramping, automatic rollback on real (simulated) faults,
and shadow answers that are recorded but never reach the user's page."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from decimal import Decimal

import pytest
from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.db import connections

from chat.models import Conversation, Message
from gateway.models import LanguageModel
from gateway.pipeline import Turn, run_turn
from observability.models import EvalResult, Feedback, RequestLog
from prompts_admin.assignment import arm_for, bucket_of
from prompts_admin.audit import AUTO_ROLLBACK_USERNAME
from prompts_admin.auto_rollback import stop_reason
from prompts_admin.models import Experiment, ExperimentArm, ExperimentEvent, ShadowRun
from prompts_admin.selectors import prompt_for_turn
from prompts_admin.services import experiment_ramp, experiment_start, version_create
from prompts_admin.shadow import shadow_run
from prompts_admin.stats import Sample, mean_higher_p, mean_lower_p
from prompts_admin.tasks import check_experiments
from tests.wsclient import ChatSocket, visible_text

USERS = 10_000


@dataclass
class Arm:
    name: str
    is_control: bool = False
    percent: int = 0


def _split(salt: str, arms: list[Arm]) -> dict[str, float]:
    counts = dict.fromkeys((a.name for a in arms), 0)
    for user_id in range(1, USERS + 1):
        counts[arm_for(user_id, salt, arms).name] += 1
    return {name: 100 * n / USERS for name, n in counts.items()}


@pytest.mark.parametrize("variants", [[10], [25], [50], [100], [20, 30], [10, 10, 10]], ids=str)
def test_assignment_lands_within_two_points_of_the_target_split(variants):
    arms = [Arm("control", is_control=True)] + [
        Arm(f"v{i}", percent=p) for i, p in enumerate(variants)
    ]
    shares = _split("exp-salt-1", arms)

    for arm in arms[1:]:
        assert abs(shares[arm.name] - arm.percent) <= 2, shares
    assert abs(shares["control"] - (100 - sum(variants))) <= 2, shares


def test_assignment_is_identical_in_another_process():
    salt = "cross-process-salt"
    script = (
        "import json, sys; from prompts_admin.assignment import bucket_of; "
        f"json.dump([bucket_of(u, {salt!r}) for u in range(1, {USERS + 1})], sys.stdout)"
    )
    # A different hash seed: nothing may depend on Python's per-process hash().
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    other = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, check=True, text=True
    )
    assert json.loads(other.stdout) == [bucket_of(u, salt) for u in range(1, USERS + 1)]


def test_ramping_up_keeps_every_user_already_in_the_variant():
    control, variant = Arm("control", is_control=True), Arm("variant", percent=10)
    before = {u for u in range(1, USERS + 1) if arm_for(u, "s", [control, variant]) is variant}
    for step in (25, 50, 100):
        variant.percent = step
        after = {u for u in range(1, USERS + 1) if arm_for(u, "s", [control, variant]) is variant}
        assert before <= after
        before = after
    assert len(before) == USERS


# --- with the database -------------------------------------------------------------------


def _users(count: int, prefix: str) -> list:
    User = get_user_model()
    User.objects.bulk_create([User(username=f"{prefix}{i}", password="!") for i in range(count)])
    return list(User.objects.filter(username__startswith=prefix).order_by("id"))


def _experiment(template, variant_version, *, mode="ab", percent=10) -> Experiment:
    experiment = Experiment.objects.create(template=template, name="tone test", mode=mode)
    ExperimentArm.objects.create(
        experiment=experiment,
        name="control",
        is_control=True,
        version=template.labels.get(name="production").version,
    )
    ExperimentArm.objects.create(
        experiment=experiment, name="variant", version=variant_version, percent=percent
    )
    return experiment_start(experiment=experiment, actor=None)


@pytest.mark.django_db
def test_a_users_arm_is_sticky_across_requests_and_ramps(openai_template):
    v2 = version_create(template=openai_template, system_prompt="Variant.", change_note="v2")
    experiment = _experiment(openai_template, v2, percent=10)
    users = _users(300, "sticky")

    def arms() -> dict[int, str]:
        return {
            u.id: prompt_for_turn(template=openai_template, user_id=u.id, user_name="x").arm.name
            for u in users
        }

    first = arms()
    assert arms() == first  # every request, the same arm
    in_variant = {uid for uid, name in first.items() if name == "variant"}
    assert 10 <= len(in_variant) <= 60

    experiment_ramp(experiment=experiment, actor=None)  # 10 → 25 %
    ramped = arms()
    assert in_variant <= {uid for uid, name in ramped.items() if name == "variant"}
    assert experiment.arms.get(name="variant").percent == 25


def _run_turns(users, template, text: str = "How are you?") -> None:
    conversations = [Conversation.objects.create(user=u, template=template) for u in users]

    async def run_all():
        limit = asyncio.Semaphore(8)

        async def one(conversation):
            async with limit:
                async for _ in run_turn(Turn(conversation.user_id, conversation.id, text)):
                    pass

        try:
            await asyncio.gather(*(one(c) for c in conversations))
        finally:
            await database_sync_to_async(connections.close_all)()

    asyncio.run(run_all())


def _split_users(users, experiment: Experiment, per_arm: int) -> list:
    """`per_arm` users of each arm (the assignment is known in advance: it is a hash)."""
    arms = sorted(experiment.arms.all(), key=lambda a: a.pk)
    by_arm: dict[str, list] = {"control": [], "variant": []}
    for user in users:
        by_arm[arm_for(user.id, experiment.salt, arms).name].append(user)
    assert all(len(group) >= per_arm for group in by_arm.values())
    return by_arm["control"][:per_arm] + by_arm["variant"][:per_arm]


@pytest.fixture
def flaky_model(db) -> LanguageModel:
    return LanguageModel.objects.create(
        name="gpt-flaky",
        provider="openai",
        input_price=Decimal("0.15"),
        output_price=Decimal("0.60"),
    )


@pytest.mark.django_db(transaction=True)
def test_auto_rollback_stops_a_variant_failing_twice_as_often(
    openai_template, flaky_model, simulator, settings
):
    settings.ROUTER_MAX_RETRIES = 0
    simulator.post("/_sim/script", json={"model": "gpt-flaky", "status": 500, "times": 0})
    simulator.post("/_sim/script", json={"model": "gpt-4o-mini", "reply": "Fine.", "times": 0})
    bad = version_create(
        template=openai_template,
        system_prompt="Same words, new model.",
        model=flaky_model,
        change_note="try the new model",
    )
    experiment = _experiment(openai_template, bad, percent=50)
    users = _split_users(_users(320, "auto"), experiment, per_arm=105)
    _run_turns(users, openai_template)

    assert check_experiments.apply().get() == 1  # what beat runs every minute

    arm = experiment.arms.get(name="variant")
    assert arm.percent == 0 and arm.stopped_at is not None
    assert arm.stop_numbers["variant_requests"] == 105
    assert arm.stop_numbers["variant_errors"] == 105 and arm.stop_numbers["control_errors"] == 0
    assert "Error rate 100.0%" in arm.stop_reason
    event = ExperimentEvent.objects.get(experiment=experiment, action="auto_stop")
    assert event.actor.username == AUTO_ROLLBACK_USERNAME and event.numbers == arm.stop_numbers
    # In admin's audit log too, under the system user, which cannot log in.
    entry = LogEntry.objects.get(object_id=str(experiment.pk), user=event.actor)
    assert "auto_stop (variant)" in entry.change_message and arm.stop_reason in entry.change_message
    assert not event.actor.is_active and not event.actor.has_usable_password()
    experiment.refresh_from_db()
    assert experiment.state == "aborted"

    # The variant's users are served the control again on their next turn.
    variant_user = users[-1]
    choice = prompt_for_turn(template=openai_template, user_id=variant_user.id, user_name="x")
    assert choice.version.number == 1 and choice.model.name == "gpt-4o-mini"


@pytest.mark.django_db(transaction=True)
def test_auto_rollback_leaves_a_good_variant_running(openai_template, simulator, settings):
    settings.ROUTER_MAX_RETRIES = 0
    simulator.post("/_sim/script", json={"reply": "Fine.", "times": 0})
    good = version_create(
        template=openai_template, system_prompt="A kinder prompt.", change_note="kinder"
    )
    experiment = _experiment(openai_template, good, percent=50)
    users = _split_users(_users(320, "good"), experiment, per_arm=105)
    _run_turns(users, openai_template)

    assert check_experiments.apply().get() == 0

    arm = experiment.arms.get(name="variant")
    assert arm.percent == 50 and arm.stopped_at is None
    assert RequestLog.objects.filter(experiment_arm=arm, status="complete").count() == 105
    experiment.refresh_from_db()
    assert experiment.state == "running"


def test_beat_runs_the_automatic_rollback_every_minute():
    schedule = settings.CELERY_BEAT_SCHEDULE["check-experiments"]
    assert schedule == {"task": "prompts_admin.tasks.check_experiments", "schedule": 60.0}


@pytest.mark.django_db(transaction=True)
def test_a_shadow_answer_is_recorded_but_never_reaches_the_users_page(
    app_server, celery_worker, simulator, openai_template, make_user, session_cookie, client
):
    shadow_model = LanguageModel.objects.create(
        name="gpt-shadow", provider="openai", input_price=Decimal("1"), output_price=Decimal("2")
    )
    simulator.post(
        "/_sim/script", json={"model": "gpt-shadow", "reply": "SHADOW ONLY ANSWER", "times": 0}
    )
    simulator.post(
        "/_sim/script", json={"model": "gpt-4o-mini", "reply": "The visible answer.", "times": 0}
    )
    variant = version_create(
        template=openai_template, system_prompt="Shadow.", model=shadow_model, change_note="shadow"
    )
    _experiment(openai_template, variant, mode="shadow", percent=100)
    user = make_user()
    conversation = Conversation.objects.create(user=user, template=openai_template)

    socket = ChatSocket.open(app_server, conversation.id, session_cookie(user))
    try:
        socket.send_message("Which answer do I get?")
        socket.receive_until("composer-ack")
        reply = conversation.messages.get(role="assistant")
        socket.receive_final(reply.id)
        deadline = time.monotonic() + 30
        while not ShadowRun.objects.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        # Anything the open page could still be sent after the shadow run finished.
        time.sleep(0.5)
        frames = socket.frames
    finally:
        socket.close()

    run = ShadowRun.objects.get()
    assert run.shadow_text == "SHADOW ONLY ANSWER" and run.status == "complete"
    assert run.served_text == "The visible answer." and run.request_log.message_id == reply.id
    assert 0 <= run.similarity < 0.5
    sent_to_page = " ".join(visible_text(frame) for frame in frames)
    assert "The visible answer." in sent_to_page and "SHADOW" not in sent_to_page
    client.force_login(user)
    page = client.get(f"/c/{conversation.id}/").content.decode()
    assert "The visible answer." in page and "SHADOW" not in page
    assert not Message.objects.filter(content__contains="SHADOW").exists()
    # The user is logged as served by the control, in the shadow experiment.
    log = RequestLog.objects.get(message=reply)
    assert log.prompt_version.number == 1 and log.experiment_arm.is_control


def _answered_turns(
    users, arm, *, thumbs_up_share: float, check_score: float, judge_score: float = 4.5
) -> None:
    """One answered turn per user in `arm`, thumbed by its user, evaluated and judged."""
    for i, user in enumerate(users):
        conversation = Conversation.objects.create(user=user, template=arm.experiment.template)
        reply = Message.objects.create(conversation=conversation, role="assistant", content="ok")
        log = RequestLog.objects.create(
            model_requested="gpt-4o-mini",
            status="complete",
            latency_ms=100,
            cost=Decimal("0.0001"),
            message=reply,
            prompt_version=arm.version,
            experiment_arm=arm,
        )
        up = i < thumbs_up_share * len(users)
        Feedback.objects.create(message=reply, user=user, score=1 if up else -1)
        EvalResult.objects.create(
            request_log=log,
            status="ok",
            checks={},
            check_score=check_score - 0.001 * (i % 3),
            judge_score=judge_score - 0.5 * (i % 3),  # the judge grades 1-5 and varies
        )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("guard", "variant_thumbs", "variant_score", "variant_judge", "stops"),
    [
        ("thumbs_up", 0.5, 1.0, 4.5, True),  # half the thumbs up against 80 %
        ("thumbs_up", 0.78, 1.0, 4.5, False),  # within noise of the control
        ("eval_score", 0.8, 0.75, 4.5, True),  # a quarter of the cheap checks fail
        ("eval_score", 0.8, 1.0, 4.5, False),
        ("judge_score", 0.8, 1.0, 3.5, True),  # the judge grades it a point lower
        ("judge_score", 0.8, 1.0, 4.45, False),  # within noise of the control
        ("", 0.1, 0.5, 2.0, False),  # error rate only: quality is shown, not guarded
    ],
)
def test_auto_rollback_watches_the_editors_quality_metric(
    openai_template, guard, variant_thumbs, variant_score, variant_judge, stops
):
    v2 = version_create(template=openai_template, system_prompt="Terse.", change_note="v2")
    experiment = _experiment(openai_template, v2, percent=50)
    Experiment.objects.filter(pk=experiment.pk).update(guard_metric=guard)
    control, variant = experiment.arms.get(is_control=True), experiment.arms.get(is_control=False)
    _answered_turns(_users(120, "ctl"), control, thumbs_up_share=0.8, check_score=1.0)
    _answered_turns(
        _users(120, "var"),
        variant,
        thumbs_up_share=variant_thumbs,
        check_score=variant_score,
        judge_score=variant_judge,
    )

    assert check_experiments.apply().get() == int(stops)

    variant.refresh_from_db()
    assert (variant.stopped_at is not None) == stops
    if stops:
        metric = "thumbs-up rate" if guard == "thumbs_up" else guard
        assert variant.stop_reason.startswith(f"{metric} is significantly worse")
        assert variant.stop_numbers["p_value"] < 0.05
        assert variant.stop_numbers["variant_requests"] == 120


def _served_turns(users, control: ExperimentArm) -> list[RequestLog]:
    """Turns answered by the control of a shadow experiment, as the pipeline logs them."""
    logs = []
    for user in users:
        conversation = Conversation.objects.create(user=user, template=control.experiment.template)
        Message.objects.create(conversation=conversation, role="user", content="Hi there")
        reply = Message.objects.create(
            conversation=conversation, role="assistant", content="Served."
        )
        logs.append(
            RequestLog.objects.create(
                user=user,
                conversation=conversation,
                model_requested="gpt-4o-mini",
                status="complete",
                latency_ms=100,
                cost=Decimal("0.0001"),
                message=reply,
                prompt_version=control.version,
                experiment_arm=control,
            )
        )
    return logs


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("shadow_fails", [True, False], ids=["failing", "healthy"])
def test_auto_rollback_stops_a_failing_shadow_variant_and_not_a_healthy_one(
    openai_template, simulator, settings, client, admin_user, shadow_fails
):
    settings.ROUTER_MAX_RETRIES = 0
    shadow_model = LanguageModel.objects.create(
        name="gpt-shadow-faulty", provider="openai", input_price=Decimal("1"), output_price=2
    )
    script = {"status": 500} if shadow_fails else {"reply": "Shadow answer."}
    simulator.post("/_sim/script", json={"model": shadow_model.name, "times": 0, **script})
    variant = version_create(
        template=openai_template, system_prompt="Shadow.", model=shadow_model, change_note="s"
    )
    experiment = _experiment(openai_template, variant, mode="shadow", percent=100)
    arm = experiment.arms.get(is_control=False)
    for log in _served_turns(_users(105, "shadowed"), experiment.arms.get(is_control=True)):
        shadow_run(arm_id=arm.pk, request_id=log.request_id)  # what the Celery task runs

    assert check_experiments.apply().get() == int(shadow_fails)

    arm.refresh_from_db()
    experiment.refresh_from_db()
    if not shadow_fails:
        assert arm.stopped_at is None and experiment.state == "running"
        return
    assert arm.percent == 0 and experiment.state == "aborted"  # no more shadow calls
    assert arm.stop_reason.startswith("Shadow variant: Error rate 100.0%")
    assert arm.stop_numbers["variant_errors"] == 105 and arm.stop_numbers["control_errors"] == 0
    assert LogEntry.objects.filter(
        object_id=str(experiment.pk), user__username=AUTO_ROLLBACK_USERNAME
    ).exists()
    # Admin shows the numbers that stopped it, next to the shadow answers' own intervals.
    client.force_login(admin_user)
    page = client.get(f"/admin/prompts_admin/experiment/{experiment.pk}/change/").content.decode()
    assert "Shadow variant: Error rate 100.0%" in page and "&quot;variant_errors&quot;: 105" in page
    assert "100 % [0.965, 1.000]" in page  # the shadow's error rate, Wilson interval


def test_identical_samples_are_no_evidence_either_way():
    assert mean_higher_p([4.0] * 200, [4.0] * 200) == 1.0
    assert mean_lower_p([4.0] * 200, [4.0] * 200) == 1.0
    # The variant better than the control is never evidence that it is worse.
    assert mean_lower_p([5.0] * 200, [4.0] * 200) == 1.0


def test_constant_but_different_samples_decide_only_with_enough_of_them():
    # Two against two: one ordering in six would look like this by chance.
    assert mean_lower_p([3.0, 3.0], [5.0, 5.0]) == pytest.approx(1 / 6)
    assert mean_lower_p([3.0] * 3, [5.0] * 3) == pytest.approx(0.05)
    assert mean_lower_p([3.0] * 20, [5.0] * 20) < 1e-9
    # One constant sample and one that varies: Welch's test is defined and used.
    assert 0.0 < mean_higher_p([1.0, 1.0, 1.0], [0.5, 0.7, 0.9]) < 0.1


def _judged(scores: list[float], requests: int = 150) -> Sample:
    return Sample(requests, 0, [100] * requests, [0.0001] * requests, judge_scores=scores)


def test_identical_judge_scores_never_stop_a_variant():
    assert stop_reason(_judged([5.0] * 150), _judged([5.0] * 150), "judge_score") is None
    reason, numbers = stop_reason(_judged([3.0] * 150), _judged([5.0] * 150), "judge_score")
    assert reason.startswith("judge_score is significantly worse: 3 against the control's 5")
    assert numbers["variant_judge_score_n"] == 150 and numbers["p_value"] < 0.05


def test_a_shadow_variant_is_not_guarded_on_the_judge_score():
    """Shadow answers are never judged: nothing to compare, so only errors, latency and cost."""
    shadow = Sample(150, 0, [100] * 150, [0.0001] * 150)  # what Sample.of_shadow gives
    assert stop_reason(shadow, _judged([5.0] * 150), "judge_score") is None


@pytest.mark.django_db
def test_the_editor_can_guard_on_the_judge_score_and_is_told_what_shadows_use(admin_client):
    page = admin_client.get("/admin/prompts_admin/experiment/add/").content.decode()
    assert '<option value="judge_score">LLM judge score (lower is worse)</option>' in page
    assert "Shadow experiments are guarded only on error rate, latency and cost" in page
