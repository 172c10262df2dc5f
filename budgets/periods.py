"""Budget periods are UTC days and UTC calendar months, the same for every user and process."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def day_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def next_day(now: datetime) -> datetime:
    return day_start(now) + timedelta(days=1)


def month_start(now: datetime) -> datetime:
    return day_start(now).replace(day=1)


def next_month(now: datetime) -> datetime:
    start = month_start(now)
    return (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )


def describe_reset(at: datetime, now: datetime) -> str:
    """'00:00 UTC on 24 Nov 2026 (in 3 h 12 min)' or '... (in 8 d 2 h)': when, and how soon."""
    minutes = max(1, int((at - now).total_seconds() // 60) + 1)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        wait = f"{days} d {hours} h"
    else:
        wait = f"{hours} h {minutes} min" if hours else f"{minutes} min"
    return f"{at:%H:%M} UTC on {at.day} {at:%b %Y} (in {wait})"
