"""Process-local counts of cache outcomes, for the metrics endpoint to export.

Kinds: hit_exact, hit_similar, miss, rejected (a candidate failed verification), bypass (the cache
failed and the turn went on without it), put, put_skipped, put_failed, hit_count_failed, evicted.
"""

from __future__ import annotations

import threading
from collections import Counter

_lock = threading.Lock()
_counts: Counter[str] = Counter()


def count_cache_event(kind: str, n: int = 1) -> None:
    with _lock:
        _counts[kind] += n


def cache_counters() -> dict[str, int]:
    """A snapshot: {kind: count since the process started}."""
    with _lock:
        return dict(_counts)
