"""Dashboards and rollups: exact numbers for a known dataset, read-only for managers."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Trunc
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from chat.models import Conversation, Message
from chat.titles import generate_title
from gateway.models import LanguageModel
from observability.models import (
    BlockRollup,
    DailyRollup,
    EvalRubric,
    LatencyRollup,
    RequestLog,
    UsageRollup,
    UserDayRollup,
    UserMonthRollup,
    UserWeekRollup,
)
from observability.rollups import prune_request_logs, rollup_days, rollup_recent
from observability.selectors import DateRange, cost_per_user
from tests.live import TITLE_MODEL

pytestmark = pytest.mark.django_db

TODAY = timezone.now().date()
DAY1, DAY2 = TODAY - timedelta(days=2), TODAY - timedelta(days=1)


def _log(user, template, day, *, cost, hour=12, latency=500, ttft=100, **fields) -> RequestLog:
    log = RequestLog.objects.create(
        user=user,
        template=template,
        model_requested=template.model.name,
        model_used=template.model.name,
        provider=template.model.provider,
        input_tokens=100,
        cached_input_tokens=10,
        output_tokens=50,
        cost=cost,
        latency_ms=latency,
        ttft_ms=ttft,
        status=fields.pop("status", "complete"),
        **fields,
    )
    created = datetime.combine(day, time(hour)).replace(tzinfo=timezone.get_current_timezone())
    RequestLog.objects.filter(id=log.id).update(created_at=created)
    return log


@pytest.fixture
def dataset(make_user, openai_template, anthropic_template):
    alice, bob = make_user("alice"), make_user("bob")
    for latency in (100, 200, 300):
        _log(alice, openai_template, DAY1, cost=Decimal("0.10"), latency=latency, ttft=latency // 2)
    for _ in range(2):
        _log(bob, anthropic_template, DAY1, cost=Decimal("1.25"), hour=23)
    for _ in range(3):
        _log(alice, anthropic_template, DAY2, cost=Decimal("0.333333"), hour=0)
    _log(
        bob,
        openai_template,
        DAY2,
        cost=None,
        priced=False,
        status="failed",
        error_kind="unavailable",
    )
    _log(
        bob,
        openai_template,
        DAY2,
        cost=Decimal("0"),
        status="blocked",
        error_kind="prompt_injection",
    )
    _log(bob, openai_template, DAY2, cost=Decimal("0.02"), fallback_used=True)
    rollup_days(DAY1, TODAY)
    return {"alice": alice, "bob": bob}


def _staff(make_user, name: str, *codenames: str) -> Client:
    user = make_user(name)
    user.is_staff = True
    user.save()
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def manager(make_user) -> Client:
    """What the Managers group gets: the dashboards and view-only access to the records."""
    return _staff(
        make_user,
        "manager",
        "view_dashboards",
        "view_requestlog",
        "view_evalrubric",
        "view_evalresult",
        "view_feedback",
    )


RANGE = {"start": DAY1.isoformat(), "end": TODAY.isoformat()}


def test_rollups_equal_the_logs_they_cover_to_the_cent(dataset):
    groups = (
        RequestLog.objects.values("user_id", "model_used", "template_id")
        .annotate(turns=Count("id"), cost=Sum("cost"), output=Sum("output_tokens"))
        .order_by()
    )
    for day in (DAY1, DAY2):
        logs = {
            (g["user_id"], g["model_used"], g["template_id"]): g
            for g in groups.filter(created_at__date=day)
        }
        rollups = {
            (r.user_id, r.model, r.template_id): r for r in UsageRollup.objects.filter(day=day)
        }
        assert logs.keys() == rollups.keys()
        for key, group in logs.items():
            assert rollups[key].turns == group["turns"]
            assert rollups[key].cost == (group["cost"] or Decimal(0))
            assert rollups[key].output_tokens == group["output"]
    total = RequestLog.objects.aggregate(total=Sum("cost"))["total"]
    assert DailyRollup.objects.aggregate(total=Sum("cost"))["total"] == total == Decimal("3.819999")
    assert UsageRollup.objects.aggregate(total=Sum("cost"))["total"] == total


@pytest.mark.parametrize(
    ("rollup", "unit"),
    [(UserDayRollup, "day"), (UserWeekRollup, "week"), (UserMonthRollup, "month")],
)
def test_per_user_day_week_and_month_rollups_equal_the_logs(dataset, rollup, unit):
    logs = {
        (g["period"].date(), g["user_id"]): g
        for g in RequestLog.objects.annotate(period=Trunc("created_at", unit, tzinfo=UTC))
        .values("period", "user_id")
        .annotate(
            turns=Count("id"),
            cost=Sum("cost"),
            unpriced=Count("id", filter=Q(priced=False)),
            input=Sum(F("input_tokens") + F("cached_input_tokens") + F("cache_write_tokens")),
            output=Sum("output_tokens"),
        )
        .order_by()
    }
    rollups = {(getattr(r, unit), r.user_id): r for r in rollup.objects.all()}
    assert logs.keys() == rollups.keys()
    for key, group in logs.items():
        row = rollups[key]
        assert (row.turns, row.unpriced, row.input_tokens, row.output_tokens) == (
            group["turns"],
            group["unpriced"],
            group["input"],
            group["output"],
        )
        assert row.cost == (group["cost"] or Decimal(0))


def test_a_rollup_run_is_idempotent(dataset):
    before = list(UsageRollup.objects.values_list("day", "user_id", "model", "turns", "cost"))
    rollup_recent(lookback_days=3)
    rollup_recent(lookback_days=3)
    after = list(UsageRollup.objects.values_list("day", "user_id", "model", "turns", "cost"))
    assert sorted(before) == sorted(after)


def test_latency_percentiles_and_blocks_are_rolled_up_per_day(dataset):
    overall = LatencyRollup.objects.get(day=DAY1, model="*")
    # 100, 200, 300, 500, 500 ms
    assert (overall.turns, overall.latency_p50, overall.latency_p99) == (5, 300, 500)
    mini = LatencyRollup.objects.get(day=DAY1, model="gpt-4o-mini")
    assert (mini.latency_p50, mini.ttft_p50, mini.latency_p99) == (200, 100, 300)
    assert LatencyRollup.objects.get(day=DAY2, model="*").failed == 1
    assert list(BlockRollup.objects.values_list("day", "rule", "blocked")) == [
        (DAY2, "prompt_injection", 1)
    ]


def test_the_cost_dashboard_shows_totals_charts_and_top_spenders(dataset, manager):
    page = manager.get(reverse("dashboards:cost"), RANGE).content.decode()

    assert '<span class="kpi-value" id="total-cost">$3.82</span>' in page
    assert page.count('<svg class="chart"') == 2
    assert 'class="bar series-' in page and "gpt-4o-mini" in page and "Claude assistant" in page
    spenders = page.split("Top spenders", 1)[1]
    assert spenders.index("bob") < spenders.index("alice")  # $2.52 before $1.30
    assert "$2.52" in spenders and "$1.30" in spenders


def test_cost_per_user_sorts_and_exports_csv(dataset, manager):
    by_turns = manager.get(reverse("dashboards:users"), {**RANGE, "sort": "turns"}).content.decode()
    table = by_turns.split('id="cost-per-user"', 1)[1]
    assert table.index("alice") < table.index("bob")  # 6 turns before 5

    response = manager.get(reverse("dashboards:users"), {**RANGE, "format": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(r["user"], r["turns"], r["cost_usd"], r["unpriced_turns"]) for r in rows] == [
        ("bob", "5", "2.52000000", "1"),
        ("alice", "6", "1.29999900", "0"),
    ]


def test_cost_per_user_pages_in_sort_order_and_past_the_end_shows_the_last(
    dataset, manager, monkeypatch
):
    monkeypatch.setattr("observability.dashboards.USERS_PER_PAGE", 1)

    def table(page: str) -> str:
        response = manager.get(reverse("dashboards:users"), {**RANGE, "page": page})
        return response.content.decode().split('id="cost-per-user"', 1)[1]

    first, second, beyond = table("1"), table("2"), table("99")
    assert "bob" in first and "alice" not in first  # $2.52 before $1.30
    assert "alice" in second and "bob" not in second and "Page 2 of 2 (2 users" in second
    assert "alice" in beyond and "Page 2 of 2" in beyond


def test_latency_cache_and_quality_dashboards_render(dataset, manager):
    latency = manager.get(reverse("dashboards:latency"), RANGE).content.decode()
    assert latency.count('<svg class="chart"') == 3 and 'class="line series-' in latency
    cache = manager.get(reverse("dashboards:cache"), RANGE).content.decode()
    rates = cache.split('id="block-rates"', 1)[1]
    assert "prompt_injection" in rates and "9.09%" in rates  # 1 of 11 turns
    quality = manager.get(reverse("dashboards:quality"), RANGE).content.decode()
    assert "OpenAI assistant" in quality and "Claude assistant" in quality


def test_a_bad_date_range_is_explained(dataset, manager):
    response = manager.get(reverse("dashboards:cost"), {"start": TODAY, "end": DAY1})
    assert response.status_code == 400
    assert "The start date is after the end date." in response.content.decode()
    response = manager.get(reverse("dashboards:cost"), {"start": "yesterday"})
    assert response.status_code == 400 and "YYYY-MM-DD" in response.content.decode()


def test_a_manager_can_read_but_not_edit(dataset, manager, openai_template):
    log = RequestLog.objects.first()
    assert (
        manager.get(reverse("admin:observability_requestlog_change", args=[log.id])).status_code
        == 200
    )
    judge = LanguageModel.objects.first()
    rubric = EvalRubric.objects.create(name="r", instructions="i", judge_model=judge)
    change = reverse("admin:observability_evalrubric_change", args=[rubric.id])
    assert manager.get(change).status_code == 200  # view-only page
    response = manager.post(
        change,
        {
            "name": "hacked",
            "instructions": "x",
            "judge_model": judge.id,
            "sample_rate": "1",
            "active": "on",
        },
    )
    assert response.status_code == 403
    assert EvalRubric.objects.get().name == "r"
    assert manager.post(reverse("admin:observability_evalrubric_add"), {}).status_code == 403
    delete = reverse("admin:observability_requestlog_delete", args=[log.id])
    assert manager.post(delete, {"post": "yes"}).status_code == 403
    assert RequestLog.objects.filter(id=log.id).exists()


def test_staff_without_the_permission_and_anonymous_are_kept_out(dataset, make_user):
    staff = _staff(make_user, "intern")
    assert staff.get(reverse("dashboards:cost")).status_code == 403
    anonymous = Client().get(reverse("dashboards:cost"))
    assert anonymous.status_code == 302 and "login" in anonymous["Location"]
    assert Client().get(reverse("dashboards:users"), {"format": "csv"}).status_code == 302


def test_old_logs_are_pruned_after_rollup_and_the_totals_stay(dataset, make_user, openai_template):
    # Logs older than the retention period that no rollup has seen yet.
    old_day = TODAY - timedelta(days=100)
    _log(dataset["alice"], openai_template, old_day, cost=Decimal("7.000001"))
    before = DailyRollup.objects.aggregate(total=Sum("cost"))["total"]

    deleted = prune_request_logs(retention_days=90)

    assert deleted == 1
    assert not RequestLog.objects.filter(created_at__date__lt=TODAY - timedelta(days=90)).exists()
    assert UsageRollup.objects.get(day=old_day).cost == Decimal("7.000001")
    assert UserDayRollup.objects.get(day=old_day).cost == Decimal("7.000001")
    assert DailyRollup.objects.aggregate(total=Sum("cost"))["total"] == before + Decimal("7.000001")
    # A later rollup over the pruned day keeps its totals (no logs left to recompute from).
    rollup_days(old_day, TODAY)
    assert UsageRollup.objects.get(day=old_day).cost == Decimal("7.000001")
    assert UserMonthRollup.objects.get(month=old_day.replace(day=1)).cost == Decimal("7.000001")
    assert RequestLog.objects.filter(~Q(created_at__date=old_day)).count() == 11


def test_cost_per_user_over_whole_and_partial_months_equals_the_logs(make_user, openai_template):
    carol = make_user("carol")
    first_of_month = TODAY.replace(day=1)
    days = [first_of_month - timedelta(days=n) for n in (1, 20, 45, 70)] + [first_of_month]
    for n, day in enumerate(days):
        _log(carol, openai_template, day, cost=Decimal("0.123457") * (n + 1))
    rollup_days(min(days), TODAY)
    period = DateRange(min(days) + timedelta(days=1), TODAY)
    months, edges = period.split_months()
    assert months and edges  # the range has whole months and partial ones

    (row,) = cost_per_user(period)
    covered = [d for d in days if period.start <= d <= period.end]
    expected = RequestLog.objects.filter(created_at__date__in=covered).aggregate(s=Sum("cost"))["s"]
    assert (row.username, row.turns, row.cost) == ("carol", len(covered), expected)


def test_a_range_is_read_as_whole_months_then_whole_weeks_then_days():
    # 2026-01-05 is a Monday; February is the only whole month.
    months, weeks, days = DateRange(date(2026, 1, 5), date(2026, 3, 3)).split()
    assert months == [date(2026, 2, 1)]
    assert weeks == [date(2026, 1, 5), date(2026, 1, 12), date(2026, 1, 19)]
    assert days == [date(2026, 1, d) for d in range(26, 32)] + [date(2026, 3, d) for d in (1, 2, 3)]


def test_cost_per_user_from_months_weeks_and_days_equals_the_logs(make_user, openai_template):
    dave, erin = make_user("dave"), make_user("erin")
    days = [date(2026, 1, d) for d in (4, 5, 18, 27)] + [date(2026, 2, 14), date(2026, 3, 3)]
    for n, day in enumerate([*days, date(2026, 3, 4)]):
        _log(dave, openai_template, day, cost=Decimal("0.100001") * (n + 1))
        _log(erin, openai_template, day, cost=Decimal("0.2"), priced=n % 2 == 0)
    rollup_days(date(2026, 1, 1), date(2026, 3, 31))

    period = DateRange(date(2026, 1, 5), date(2026, 3, 3))
    rows = cost_per_user(period, sort="username")

    covered = RequestLog.objects.filter(
        created_at__gte=datetime(2026, 1, 5, tzinfo=UTC),
        created_at__lt=datetime(2026, 3, 4, tzinfo=UTC),
    )
    expected = {
        g["user__username"]: g
        for g in covered.values("user__username")
        .annotate(turns=Count("id"), cost=Sum("cost"), unpriced=Count("id", filter=Q(priced=False)))
        .order_by()
    }
    assert [row.username for row in rows] == ["dave", "erin"]
    for row in rows:
        group = expected[row.username]
        assert (row.turns, row.cost, row.unpriced) == (
            group["turns"],
            group["cost"],
            group["unpriced"],
        )
    assert [row.username for row in cost_per_user(period, limit=1)] == ["dave"]


def test_chart_labels_are_escaped():
    from observability.charts import stacked_bar_chart

    svg = stacked_bar_chart("Cost", [TODAY], [('<img src=x onerror="x">', [1.5])], "$")
    assert "<img" not in svg and "&lt;img src=x onerror=&quot;x&quot;&gt;: $1.50" in svg


def test_a_title_job_is_in_cost_per_user_but_is_not_a_turn(
    dataset, simulator, openai_template, manager
):
    alice = dataset["alice"]
    conversation = Conversation.objects.create(user=alice, template=openai_template)
    question = Message.objects.create(conversation=conversation, role="user", content="Pasta?")
    Message.objects.create(
        conversation=conversation, role="assistant", content="Flour, eggs.", parent=question
    )
    usage = {"input_tokens": 1000, "cached_input_tokens": 0, "output_tokens": 500}
    simulator.post("/_sim/script", json={"model": TITLE_MODEL, "reply": "Pasta", "usage": usage})
    generate_title(conversation.id)  # title-model: $0.15 in, $0.60 out per million: $0.00045
    assert RequestLog.objects.get(purpose="title").cost == Decimal("0.00045")
    turns_before = LatencyRollup.objects.filter(model="*").aggregate(t=Sum("turns"))["t"]

    rollup_days(DAY1, TODAY)

    response = manager.get(reverse("dashboards:users"), {**RANGE, "format": "csv"})
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(r["user"], r["turns"], r["cost_usd"], r["unpriced_turns"]) for r in rows] == [
        ("bob", "5", "2.52000000", "1"),
        ("alice", "6", "1.30044900", "0"),  # her six turns plus her title's cost
    ]
    page = manager.get(reverse("dashboards:cost"), RANGE).content.decode()
    assert TITLE_MODEL in page  # the cost by model includes the title model
    assert LatencyRollup.objects.filter(model="*").aggregate(t=Sum("turns"))["t"] == turns_before
    assert not LatencyRollup.objects.filter(model=TITLE_MODEL).exists()
    assert DailyRollup.objects.get(model=TITLE_MODEL).turns == 0
    quality = manager.get(reverse("dashboards:quality"), RANGE).content.decode()
    assert TITLE_MODEL not in quality  # no answers to rate
