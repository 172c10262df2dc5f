"""Which turns may use the cache, and for how long an answer keeps."""

from __future__ import annotations

import re
from dataclasses import dataclass

from gateway.cache.models import CachePolicy

_DEFAULTS = CachePolicy()

# Questions whose right answer changes with the clock: never stored.
_TIME_SENSITIVE = re.compile(
    r"\b(today|tonight|tomorrow|yesterday|now|currently|current|latest|recent|recently|news|"
    r"this (?:morning|evening|week|weekend|month|year)|weather|forecast|stock price|exchange rate|"
    r"live score|score of|what time|what day|what date|date today)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Policy:
    enabled: bool
    personal: bool
    ttl_seconds: int
    max_entries: int


def policy_for(template_id: int) -> Policy:
    """The template's cache policy, or the defaults when it has none."""
    row = CachePolicy.objects.filter(template_id=template_id).first() or _DEFAULTS
    return Policy(row.enabled, row.personal, row.ttl_seconds, row.max_entries)


def is_time_sensitive(question: str) -> bool:
    return bool(_TIME_SENSITIVE.search(question))
