"""Reads: a user's limits and spend, today's total spend, the cheapest model."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import redis
from django.conf import settings
from django.core.cache import cache
from django.db.models import DecimalField, F, Q, Sum, Value
from django.db.models.functions import Coalesce

from budgets.models import Budget, TemplateCostPolicy
from budgets.periods import day_start, month_start
from gateway.models import LanguageModel
from gateway.turn_memo import once_per_turn
from observability.models import RequestLog
from prompts_admin.models import PromptTemplate

ZERO = Decimal(0)
_LIMIT_FIELDS = ("daily_soft_usd", "daily_hard_usd", "monthly_soft_usd", "monthly_hard_usd")


@dataclass(frozen=True)
class Limits:
    daily_soft_usd: Decimal | None = None
    daily_hard_usd: Decimal | None = None
    monthly_soft_usd: Decimal | None = None
    monthly_hard_usd: Decimal | None = None


@dataclass(frozen=True)
class Spend:
    today: Decimal
    this_month: Decimal


def limits_for(user_id: int) -> Limits:
    """The tightest of the user's own budget and their groups' budgets, limit by limit."""
    budgets = Budget.objects.filter(Q(user_id=user_id) | Q(group__user__id=user_id))
    rows = list(budgets.values(*_LIMIT_FIELDS))
    tightest = {}
    for name in _LIMIT_FIELDS:
        values = [row[name] for row in rows if row[name] is not None]
        tightest[name] = min(values) if values else None
    return Limits(**tightest)


def _sum_cost(**filters) -> Sum:
    return Coalesce(
        Sum("cost", filter=Q(**filters) if filters else None),
        Value(ZERO),
        output_field=DecimalField(),
    )


def spend_of(user_id: int, now: datetime) -> Spend:
    """What this user's turns cost today and this month (UTC), from their request logs only.

    The database is the one ledger every process writes, so there is no counter to drift;
    the (user, created_at) index keeps this a short range scan. Turns still streaming are not
    counted yet: a user can overshoot a limit by the turns they have in flight.
    """
    totals = RequestLog.objects.filter(user_id=user_id, created_at__gte=month_start(now)).aggregate(
        today=_sum_cost(created_at__gte=day_start(now)), this_month=_sum_cost()
    )
    return Spend(today=totals["today"], this_month=totals["this_month"])


def spend_today(now: datetime) -> Decimal:
    """Every user's spend today (UTC): what the global daily cap is compared with."""
    return RequestLog.objects.filter(created_at__gte=day_start(now)).aggregate(total=_sum_cost())[
        "total"
    ]


def spend_today_shared(now: datetime) -> Decimal:
    """`spend_today`, reused by every process for GLOBAL_SPEND_CACHE_SECONDS (from Redis).

    The sum runs over all of today's request logs, which grows with traffic (bench/admission:
    +110 ms a turn at 100,000 rows): better a daily cap noticed a few seconds late than every
    turn paying for it. Without Redis, the database answers.
    """
    ttl = settings.GLOBAL_SPEND_CACHE_SECONDS
    if ttl <= 0:
        return spend_today(now)
    key = f"budgets:spend-today:{day_start(now):%Y-%m-%d}"
    try:
        cached = cache.get(key)
    except redis.RedisError:
        return spend_today(now)
    if cached is not None:
        return Decimal(cached)
    total = spend_today(now)
    with contextlib.suppress(redis.RedisError):
        cache.set(key, str(total), ttl)
    return total


@once_per_turn(key=lambda template: (template.id,))
def cost_policy_of(template: PromptTemplate) -> TemplateCostPolicy | None:
    return (
        TemplateCostPolicy.objects.select_related("downgrade_model")
        .filter(template_id=template.id)
        .first()
    )


def input_budget(template: PromptTemplate) -> int:
    """Most input tokens one turn may send: the assistant's limit, within the model's window
    less the room its reply may take."""
    window = template.model.context_window - template.max_output_tokens
    policy = cost_policy_of(template)
    if policy and policy.max_input_tokens:
        return min(window, policy.max_input_tokens)
    return window


def cheapest_model(provider: str) -> LanguageModel | None:
    """The active, priced model of `provider` with the lowest blended price.

    Same provider as the assistant's model: that one is known to be configured (a key, or the
    simulator), where another provider's model might not be. Blended as a chat turn is: about
    three input tokens for each output token.
    """
    return (
        LanguageModel.objects.filter(
            provider=provider,
            is_active=True,
            input_price__isnull=False,
            output_price__isnull=False,
        )
        .annotate(blended=F("input_price") * 3 + F("output_price"))
        .order_by("blended", "name")
        .first()
    )
