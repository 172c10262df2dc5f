"""Prometheus metrics: one registry of named series, incremented by plain calls from any stage.

Counters are per process (each Daphne/Celery process is scraped on its own, or aggregated with
PROMETHEUS_MULTIPROC_DIR); nothing here may raise into a turn.
"""

from __future__ import annotations

from prometheus_client import Counter

DEGRADED = Counter(
    "switchboard_degraded_total",
    "A dependency failed and the turn went on without it, by dependency and what was skipped.",
    ["dependency", "skipped"],
)
RATELIMIT_BACKEND_ERRORS = Counter(
    "switchboard_ratelimit_backend_errors_total",
    "Rate-limit counts that Redis could not give; the configured fail-open/closed policy applied.",
    ["policy"],
)
ENQUEUE_FAILURES = Counter(
    "switchboard_enqueue_failures_total",
    "Background tasks that could not be handed to the Celery broker (the turn still completed).",
    ["task"],
)


def count_degraded(dependency: str, skipped: str) -> None:
    """Count a dependency outage the turn survived (e.g. "postgres", "semantic_cache")."""
    DEGRADED.labels(dependency=dependency, skipped=skipped).inc()
