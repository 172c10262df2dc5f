"""Emergency mode: today's total spend reached the global daily cap.

While it is on: repeated questions are answered from earlier replies (no model call), every
other turn goes to the cheapest model, and long inputs are refused. The state is one database
row, so every Daphne and Celery process agrees. It ends at the next UTC midnight by itself,
or when an admin ends it (which holds for the rest of that UTC day).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from budgets.models import EmergencyMode
from budgets.periods import day_start, next_day
from budgets.selectors import spend_today_shared

STATE_ID = 1


@dataclass(frozen=True)
class EmergencyStatus:
    active: bool
    cap_usd: Decimal | None
    spend_today_usd: Decimal
    since: datetime | None
    until: datetime | None

    def as_json(self) -> dict:
        return {
            "active": self.active,
            "cap_usd": str(self.cap_usd) if self.cap_usd is not None else None,
            "spend_today_usd": str(self.spend_today_usd),
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
        }


def _state() -> EmergencyMode:
    state, _ = EmergencyMode.objects.get_or_create(pk=STATE_ID)
    return state


def daily_cap(state: EmergencyMode | None = None) -> Decimal | None:
    """The cap set in admin, else GLOBAL_DAILY_BUDGET_USD; None: no cap."""
    state = state or _state()
    if state.daily_cap_usd is not None:
        return state.daily_cap_usd
    raw = settings.GLOBAL_DAILY_BUDGET_USD
    return Decimal(raw) if raw else None


def _is_on(state: EmergencyMode, now: datetime) -> bool:
    started = state.started_at
    if started is None or started < day_start(now):
        return False  # never started, or started on an earlier day: over at midnight
    return state.ended_at is None or state.ended_at < started


def _ended_by_admin_today(state: EmergencyMode, now: datetime) -> bool:
    return state.ended_at is not None and state.ended_at >= day_start(now)


def emergency_mode_active(now: datetime | None = None) -> bool:
    """Whether emergency mode is on right now (a read; it does not start it)."""
    return _is_on(_state(), now or timezone.now())


def emergency_check(now: datetime | None = None) -> bool:
    """Whether emergency mode is on, starting it if today's spend has reached the cap."""
    now = now or timezone.now()
    state = _state()
    if _is_on(state, now):
        return True
    cap = daily_cap(state)
    if cap is None or _ended_by_admin_today(state, now) or spend_today_shared(now) < cap:
        return False
    emergency_start(now=now)
    return True


def emergency_start(*, now: datetime | None = None) -> None:
    """Start emergency mode for the rest of the UTC day (once, whichever process comes first)."""
    now = now or timezone.now()
    with transaction.atomic():
        _state()
        EmergencyMode.objects.filter(pk=STATE_ID).filter(
            Q(started_at__isnull=True)
            | Q(started_at__lt=day_start(now))
            | Q(ended_at__gte=F("started_at"))
        ).update(started_at=now, ended_at=None, ended_by=None)


def emergency_end(*, ended_by_id: int | None, now: datetime | None = None) -> bool:
    """End emergency mode now (an admin's decision: it stays off for the rest of the day)."""
    now = now or timezone.now()
    _state()
    return bool(
        EmergencyMode.objects.filter(pk=STATE_ID, started_at__gte=day_start(now))
        .filter(Q(ended_at__isnull=True) | Q(ended_at__lt=F("started_at")))
        .update(ended_at=now, ended_by_id=ended_by_id)
    )


def emergency_status(now: datetime | None = None) -> EmergencyStatus:
    """For /readyz and admin: the same answer the next turn would get (a reached cap starts it)."""
    now = now or timezone.now()
    active = emergency_check(now)
    state = _state()
    return EmergencyStatus(
        active=active,
        cap_usd=daily_cap(state),
        spend_today_usd=spend_today_shared(now),
        since=state.started_at if active else None,
        until=next_day(now) if active else None,
    )
