"""Daily rollups of request logs: exact sums the dashboards read instead of a year of rows.

A day is always recomputed whole from its logs (delete + insert in one transaction), and only
days that still have logs are touched, so rolling up after the logs were pruned loses nothing.
Rows are inserted in day order so that a day's rows share heap pages (a range reads few pages).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from django.db import connection, transaction
from django.utils import timezone

from observability.models import RequestLog

_USAGE_COLUMNS = (
    "turns, failed, unpriced, input_tokens, cached_input_tokens, cache_write_tokens, "
    "output_tokens, cost"
)
# Title jobs (purpose 'title') are spend, not turns: their tokens and cost are summed (cost per
# user, model and template includes them, as budgets do), and an unpriced one is counted so a
# missing price stays visible; turn counts, failures and every other turn statistic leave them out.
_TURN = "l.purpose = 'turn'"
_USAGE_SUMS = f"""count(*) FILTER (WHERE {_TURN}),
        count(*) FILTER (WHERE {_TURN} AND l.status = 'failed'),
        count(*) FILTER (WHERE NOT l.priced),
        sum(l.input_tokens), sum(l.cached_input_tokens), sum(l.cache_write_tokens),
        sum(l.output_tokens), COALESCE(sum(l.cost), 0)"""
_DAY = "(l.created_at AT TIME ZONE 'UTC')::date"
_MODEL = "COALESCE(NULLIF(l.model_used, ''), l.model_requested)"
_IN_RANGE = "l.created_at >= %(start)s AND l.created_at < %(end)s"

_USER_SQL = f"""
    INSERT INTO observability_usagerollup (day, user_id, model, template_id, {_USAGE_COLUMNS})
    SELECT {_DAY}, l.user_id, {_MODEL}, l.template_id, {_USAGE_SUMS}
    FROM observability_requestlog l WHERE {_IN_RANGE}
    GROUP BY 1, 2, 3, 4 ORDER BY 1, 2
"""


_DAILY_SQL = f"""
    INSERT INTO observability_dailyrollup (
        day, model, template_id, prompt_version, arm, {_USAGE_COLUMNS},
        fallbacks, cache_hits, blocked,
        evals, eval_score_sum, judged, judge_score_sum, thumbs_up, thumbs_down)
    SELECT {_DAY}, {_MODEL}, l.template_id,
        COALESCE('v' || v.number, ''), COALESCE(left(x.name || ': ' || a.name, 100), ''),
        {_USAGE_SUMS},
        count(*) FILTER (WHERE {_TURN} AND l.fallback_used),
        count(*) FILTER (WHERE {_TURN} AND l.cache_hit),
        count(*) FILTER (WHERE {_TURN} AND l.status = 'blocked'),
        count(e.id), COALESCE(sum(e.check_score), 0),
        count(e.judge_score), COALESCE(sum(e.judge_score), 0),
        COALESCE(sum(f.up), 0), COALESCE(sum(f.down), 0)
    FROM observability_requestlog l
    LEFT JOIN prompts_admin_promptversion v ON v.id = l.prompt_version_id
    LEFT JOIN prompts_admin_experimentarm a ON a.id = l.experiment_arm_id
    LEFT JOIN prompts_admin_experiment x ON x.id = a.experiment_id
    LEFT JOIN observability_evalresult e ON e.request_log_id = l.id
    LEFT JOIN (
        SELECT message_id, count(*) FILTER (WHERE score = 1) AS up,
               count(*) FILTER (WHERE score = -1) AS down
        FROM observability_feedback GROUP BY message_id
    ) f ON f.message_id = l.message_id
    WHERE {_IN_RANGE}
    GROUP BY 1, 2, 3, 4, 5 ORDER BY 1
"""

_LATENCY_SQL = f"""
    INSERT INTO observability_latencyrollup (
        day, model, turns, failed, fallbacks,
        latency_p50, latency_p95, latency_p99, ttft_p50, ttft_p95, ttft_p99)
    SELECT {_DAY}, COALESCE({_MODEL}, '*'),
        count(*), count(*) FILTER (WHERE l.status = 'failed'),
        count(*) FILTER (WHERE l.fallback_used),
        percentile_disc(0.5) WITHIN GROUP (ORDER BY l.latency_ms),
        percentile_disc(0.95) WITHIN GROUP (ORDER BY l.latency_ms),
        percentile_disc(0.99) WITHIN GROUP (ORDER BY l.latency_ms),
        percentile_disc(0.5) WITHIN GROUP (ORDER BY l.ttft_ms),
        percentile_disc(0.95) WITHIN GROUP (ORDER BY l.ttft_ms),
        percentile_disc(0.99) WITHIN GROUP (ORDER BY l.ttft_ms)
    FROM observability_requestlog l WHERE {_IN_RANGE} AND {_TURN}
    GROUP BY GROUPING SETS (({_DAY}, {_MODEL}), ({_DAY}))
"""

_BLOCK_SQL = f"""
    INSERT INTO observability_blockrollup (day, rule, blocked)
    SELECT {_DAY}, COALESCE(NULLIF(l.error_kind, ''), 'unspecified'), count(*)
    FROM observability_requestlog l WHERE {_IN_RANGE} AND {_TURN} AND l.status = 'blocked'
    GROUP BY 1, 2
"""
# Per user, from the per-user-model-assistant rollup just written (days with logs only).
_USER_DAY_SQL = """
    INSERT INTO observability_userdayrollup (
        day, user_id, turns, unpriced, input_tokens, output_tokens, cost)
    SELECT day, user_id, sum(turns), sum(unpriced),
        sum(input_tokens + cached_input_tokens + cache_write_tokens), sum(output_tokens), sum(cost)
    FROM observability_usagerollup WHERE day = ANY(%(days)s::date[])
    GROUP BY 1, 2 ORDER BY 1, 2
"""
# Weeks and months are recomputed from the per-user days, never from logs that may be pruned.
_USER_PERIOD_SQL = """
    INSERT INTO observability_user{unit}rollup (
        {unit}, user_id, turns, unpriced, input_tokens, output_tokens, cost)
    SELECT date_trunc('{unit}', day)::date, user_id, sum(turns), sum(unpriced),
        sum(input_tokens), sum(output_tokens), sum(cost)
    FROM observability_userdayrollup
    WHERE day >= %(first)s AND day < %(end)s
    GROUP BY 1, 2 ORDER BY 1, 2
"""
_TABLES = [
    "observability_usagerollup",
    "observability_userdayrollup",
    "observability_dailyrollup",
    "observability_latencyrollup",
    "observability_blockrollup",
]


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _week(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _month(day: date) -> date:
    return day.replace(day=1)


def _next_month(month: date) -> date:
    return (month + timedelta(days=32)).replace(day=1)


def _rollup_user_periods(cursor, days: list[date]) -> None:
    """Recompute each week and month that contains one of `days`, whole, from the per-user days."""
    for unit, first_of, after in (
        ("week", _week, lambda week: week + timedelta(days=7)),
        ("month", _month, _next_month),
    ):
        for first in sorted({first_of(day) for day in days}):
            bounds = {"first": first, "end": after(first)}
            cursor.execute(f"DELETE FROM observability_user{unit}rollup WHERE {unit} = %s", [first])
            cursor.execute(_USER_PERIOD_SQL.format(unit=unit), bounds)


@transaction.atomic
def rollup_days(first: date, last: date) -> int:
    """Recompute the rollups of every day from `first` to `last` (inclusive) that has logs."""
    start, end = _midnight(first), _midnight(last + timedelta(days=1))
    days = list(
        RequestLog.objects.filter(created_at__gte=start, created_at__lt=end)
        .dates("created_at", "day")
        .distinct()
    )
    if not days:
        return 0
    bounds = {"start": start, "end": end}
    with connection.cursor() as cursor:
        for table in _TABLES:
            cursor.execute(f"DELETE FROM {table} WHERE day = ANY(%s)", [days])
        for sql in (_USER_SQL, _DAILY_SQL, _LATENCY_SQL, _BLOCK_SQL):
            cursor.execute(sql, bounds)
        cursor.execute(_USER_DAY_SQL, {"days": days})
        _rollup_user_periods(cursor, days)
    return len(days)


def rollup_recent(*, lookback_days: int) -> int:
    """Today and the last `lookback_days` days, so late evals and thumbs are counted too."""
    today = timezone.now().date()
    return rollup_days(today - timedelta(days=lookback_days), today)


def prune_request_logs(*, retention_days: int, batch_size: int = 10_000) -> int:
    """Delete request logs older than the retention period, after rolling their days up."""
    cutoff_day = timezone.now().date() - timedelta(days=retention_days)
    old = RequestLog.objects.filter(created_at__lt=_midnight(cutoff_day))
    oldest = old.order_by("created_at").values_list("created_at", flat=True).first()
    if oldest is None:
        return 0
    rollup_days(oldest.astimezone(UTC).date(), cutoff_day - timedelta(days=1))
    deleted = 0
    while ids := list(old.values_list("id", flat=True)[:batch_size]):
        deleted += RequestLog.objects.filter(id__in=ids).delete()[1].get(RequestLog._meta.label, 0)
    return deleted
