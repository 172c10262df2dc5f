"""Reads for the dashboards: everything comes from the daily rollups, never the raw logs."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import F, Sum
from django.utils import timezone

from observability.models import (
    BlockRollup,
    DailyRollup,
    LatencyRollup,
)

DEFAULT_DAYS = 30
MAX_DAYS = 366


class BadRange(ValueError):
    """The date range asked for is not a range a dashboard can show."""


@dataclass(frozen=True)
class DateRange:
    start: date
    end: date  # inclusive

    @classmethod
    def parse(cls, start: str | None, end: str | None) -> DateRange:
        today = timezone.now().date()
        try:
            last = date.fromisoformat(end) if end else today
            first = date.fromisoformat(start) if start else last - timedelta(days=DEFAULT_DAYS - 1)
        except ValueError as error:
            raise BadRange("Dates are written YYYY-MM-DD.") from error
        if first > last:
            raise BadRange("The start date is after the end date.")
        if (last - first).days >= MAX_DAYS:
            raise BadRange(f"Pick a range of at most {MAX_DAYS} days.")
        return cls(first, last)

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]

    def split_months(self) -> tuple[list[date], list[date]]:
        """(first days of the calendar months wholly inside the range, the remaining days)."""
        months, edges, day = [], [], self.start
        while day <= self.end:
            next_month = (day.replace(day=1) + timedelta(days=32)).replace(day=1)
            if day.day == 1 and next_month - timedelta(days=1) <= self.end:
                months.append(day)
                day = next_month
            else:
                edges.append(day)
                day += timedelta(days=1)
        return months, edges

    def split(self) -> tuple[list[date], list[date], list[date]]:
        """(whole months, then whole Monday-to-Sunday weeks of what is left, then the days left).

        The fewest rollup rows that add up to exactly the range.
        """
        months, edges = self.split_months()
        weeks, days = [], []
        for first, last in _runs(edges):
            day = first
            while day <= last:
                if day.weekday() == 0 and day + timedelta(days=6) <= last:
                    weeks.append(day)
                    day += timedelta(days=7)
                else:
                    days.append(day)
                    day += timedelta(days=1)
        return months, weeks, days

    def filter(self, queryset):
        return queryset.filter(day__gte=self.start, day__lte=self.end)


# A chart series: a name and one value per day of the range (None: no data that day).
Series = tuple[str, list[float | None]]


def _per_day(rows, period: DateRange, key: str, value) -> list[Series]:
    by_key: dict[str, dict[date, float]] = defaultdict(dict)
    for row in rows:
        by_key[str(row[key])][row["day"]] = value(row)
    return [
        (name, [values.get(day, 0.0) for day in period.days])
        for name, values in sorted(by_key.items())
    ]


def cost_overview(period: DateRange) -> dict:
    """Cost per day by model and by template (one series each), and the range's totals.

    One query: the daily rollup has a handful of rows a day, so splitting it here is cheap.
    """
    rows = list(
        period.filter(DailyRollup.objects)
        .values("day", "model", template_name=F("template__name"))
        .annotate(cost=Sum("cost"), turns=Sum("turns"), unpriced=Sum("unpriced"))
        .order_by()
    )
    by_model: dict[tuple, Decimal] = defaultdict(Decimal)
    by_template: dict[tuple, Decimal] = defaultdict(Decimal)
    for row in rows:
        by_model[row["day"], row["model"]] += row["cost"]
        by_template[row["day"], row["template_name"]] += row["cost"]

    def series(sums: dict[tuple, Decimal]) -> list[Series]:
        cells = [{"day": day, "key": key, "cost": cost} for (day, key), cost in sums.items()]
        return _per_day(cells, period, "key", lambda cell: float(cell["cost"]))

    return {
        "by_model": series(by_model),
        "by_template": series(by_template),
        "totals": {
            "turns": sum(row["turns"] for row in rows),
            "cost": sum((row["cost"] for row in rows), Decimal(0)),
            "unpriced": sum(row["unpriced"] for row in rows),
        },
    }


def totals(period: DateRange) -> dict:
    sums = period.filter(DailyRollup.objects).aggregate(
        turns=Sum("turns"),
        cost=Sum("cost"),
        unpriced=Sum("unpriced"),
        failed=Sum("failed"),
        cache_hits=Sum("cache_hits"),
        fallbacks=Sum("fallbacks"),
    )
    return {key: value or 0 for key, value in sums.items()}


@dataclass(frozen=True)
class UserCost:
    user_id: int | None
    username: str
    turns: int
    input_tokens: int
    output_tokens: int
    cost: Decimal
    unpriced: int


# Sort key → ORDER BY; ties by user id so pages are stable.
USER_SORTS = {
    "cost": "cost DESC",
    "turns": "turns DESC",
    "input_tokens": "input_tokens DESC",
    "output_tokens": "output_tokens DESC",
    "username": "username",
}
_USER_COST_SQL = """
    SELECT u.user_id, COALESCE(a.{username}, '(deleted user)') AS username,
        u.turns, u.input_tokens, u.output_tokens, u.cost, u.unpriced, count(*) OVER () AS users
    FROM (
        SELECT user_id, sum(turns) AS turns, sum(input_tokens) AS input_tokens,
            sum(output_tokens) AS output_tokens, sum(cost) AS cost, sum(unpriced) AS unpriced
        FROM (
            SELECT {columns} FROM observability_usermonthrollup WHERE month = ANY(%(months)s)
            UNION ALL
            SELECT {columns} FROM observability_userweekrollup WHERE week = ANY(%(weeks)s)
            UNION ALL
            SELECT {columns} FROM observability_userdayrollup WHERE day = ANY(%(days)s)
        ) pieces
        GROUP BY user_id
    ) u
    LEFT JOIN {users} a ON a.{user_pk} = u.user_id
    ORDER BY {order}, u.user_id
    LIMIT %(limit)s OFFSET %(offset)s
"""


def cost_per_user(
    period: DateRange, *, sort: str = "cost", limit: int | None = None
) -> list[UserCost]:
    """Every user's spend in the range (or the first `limit`), sorted by `sort`."""
    return user_cost_page(period, sort=sort, limit=limit)[0]


def user_cost_page(
    period: DateRange, *, sort: str = "cost", limit: int | None = None, offset: int = 0
) -> tuple[list[UserCost], int]:
    """(`limit` users from `offset`, how many users spent in the range), in one query.

    Summed, sorted and cut in SQL over the fewest rollup rows that cover the range: whole
    months, then whole weeks, then single days.
    """
    months, weeks, days = period.split()
    User = get_user_model()
    sql = _USER_COST_SQL.format(
        columns="user_id, turns, input_tokens, output_tokens, cost, unpriced",
        username=User._meta.get_field(User.USERNAME_FIELD).column,
        users=connection.ops.quote_name(User._meta.db_table),
        user_pk=User._meta.pk.column,
        order=USER_SORTS.get(sort, USER_SORTS["cost"]),
    )
    params = {"months": months, "weeks": weeks, "days": days, "limit": limit, "offset": offset}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if not rows and offset:  # past the last page: the count needs a row
        return [], len(user_cost_page(period, sort=sort)[0])
    return [UserCost(*row[:-1]) for row in rows], rows[0][-1] if rows else 0


def _runs(days: list[date]) -> list[tuple[date, date]]:
    """Consecutive days as (first, last) runs."""
    runs: list[tuple[date, date]] = []
    for day in days:
        if runs and runs[-1][1] + timedelta(days=1) == day:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def latency_over_time(period: DateRange) -> tuple[list[Series], list[Series]]:
    """(latency p50/p95/p99, TTFT p50/p95/p99) per day, all models together, in ms."""
    rows = {
        r.day: r
        for r in period.filter(LatencyRollup.objects).filter(model=LatencyRollup.ALL_MODELS)
    }

    def series(field: str) -> list[float | None]:
        return [getattr(rows[d], field) if d in rows else None for d in period.days]

    latency = [(p, series(f"latency_{p}")) for p in ("p50", "p95", "p99")]
    ttft = [(p, series(f"ttft_{p}")) for p in ("p50", "p95", "p99")]
    return latency, ttft


def error_rates(period: DateRange) -> list[Series]:
    """Share of turns that failed and that needed a fallback, per day, in percent."""
    rows = {
        r.day: r
        for r in period.filter(LatencyRollup.objects).filter(model=LatencyRollup.ALL_MODELS)
    }

    def rate(field: str) -> list[float | None]:
        return [
            100 * getattr(rows[d], field) / rows[d].turns if d in rows and rows[d].turns else None
            for d in period.days
        ]

    return [("failed", rate("failed")), ("fallback", rate("fallbacks"))]


def latency_by_model(period: DateRange) -> list[dict]:
    """Per model over the range: turns and the worst daily p95/p99 (percentiles don't add up)."""
    rows = (
        period.filter(LatencyRollup.objects)
        .exclude(model=LatencyRollup.ALL_MODELS)
        .values("model")
        .annotate(turns=Sum("turns"), failed=Sum("failed"), fallbacks=Sum("fallbacks"))
        .order_by("-turns")
    )
    return list(rows)


def cache_savings(period: DateRange) -> dict:
    """Hit rate per day, and money saved: each hit priced at its model's average paid turn."""
    rows = list(
        period.filter(DailyRollup.objects)
        .values("day", "model")
        .annotate(
            turns=Sum("turns"), hits=Sum("cache_hits"), cost=Sum("cost"), unpriced=Sum("unpriced")
        )
        .order_by()
    )
    by_day: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    per_model: dict[str, list] = defaultdict(lambda: [0, Decimal(0), 0])
    for row in rows:
        by_day[row["day"]][0] += row["hits"]
        by_day[row["day"]][1] += row["turns"]
        paid = per_model[row["model"]]
        paid[0] += row["turns"] - row["hits"] - row["unpriced"]
        paid[1] += row["cost"]
        paid[2] += row["hits"]
    saved = sum(
        (cost / paid * hits for paid, cost, hits in per_model.values() if paid > 0),
        Decimal(0),
    )
    hit_rate = [
        100 * by_day[d][0] / by_day[d][1] if by_day.get(d) and by_day[d][1] else None
        for d in period.days
    ]
    hits = sum(v[0] for v in by_day.values())
    turns = sum(v[1] for v in by_day.values())
    return {
        "hit_rate": [("hit rate", hit_rate)],
        "hits": hits,
        "turns": turns,
        "rate": 100 * hits / turns if turns else None,
        "saved": saved.quantize(Decimal("0.01")),
    }


def guardrail_blocks(period: DateRange) -> dict:
    """Blocks per rule: count and share of all turns in the range, and per day."""
    rows = list(period.filter(BlockRollup.objects).values("day", "rule", "blocked"))
    turns = totals(period)["turns"]
    by_rule: dict[str, int] = defaultdict(int)
    for row in rows:
        by_rule[row["rule"]] += row["blocked"]
    return {
        "per_day": _per_day(rows, period, "rule", lambda row: float(row["blocked"])),
        "rules": [
            {"rule": rule, "blocked": n, "rate": 100 * n / turns if turns else None}
            for rule, n in sorted(by_rule.items(), key=lambda item: -item[1])
        ],
    }


@dataclass(frozen=True)
class Quality:
    template: str
    prompt_version: str
    arm: str
    model: str
    turns: int
    evals: int
    eval_score: float | None
    judged: int
    judge_score: float | None
    thumbs_up: int
    thumbs_down: int

    @property
    def thumbs_up_rate(self) -> float | None:
        rated = self.thumbs_up + self.thumbs_down
        return 100 * self.thumbs_up / rated if rated else None


def quality(period: DateRange) -> list[Quality]:
    """Eval scores and thumbs per template, prompt version, experiment arm and model."""
    rows = (
        period.filter(DailyRollup.objects)
        .values("template__name", "prompt_version", "arm", "model")
        .annotate(
            turns=Sum("turns"),
            evals=Sum("evals"),
            eval_sum=Sum("eval_score_sum"),
            judged=Sum("judged"),
            judge_sum=Sum("judge_score_sum"),
            up=Sum("thumbs_up"),
            down=Sum("thumbs_down"),
        )
        .filter(turns__gt=0)  # a model that only wrote titles has cost, not answers to rate
        .order_by("template__name", "prompt_version", "arm", "model")
    )
    return [
        Quality(
            template=r["template__name"] or "(deleted)",
            prompt_version=r["prompt_version"],
            arm=r["arm"],
            model=r["model"],
            turns=r["turns"],
            evals=r["evals"],
            eval_score=r["eval_sum"] / r["evals"] if r["evals"] else None,
            judged=r["judged"],
            judge_score=r["judge_sum"] / r["judged"] if r["judged"] else None,
            thumbs_up=r["up"],
            thumbs_down=r["down"],
        )
        for r in rows
    ]
