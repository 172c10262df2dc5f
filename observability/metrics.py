"""Prometheus metrics: one registry of named series, incremented by plain calls from any stage.

Counters and histograms are shared (observability/shared_metrics.py): every process adds to one
Redis hash and any web process's /metrics reports the totals, whichever process or machine
counted them. Gauges are filled from Redis at scrape time. Nothing here may raise into a turn.
"""

from __future__ import annotations

from prometheus_client import Gauge

from observability.shared_metrics import Counter, Histogram

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


# Turns, as the pipeline's record stage sees them.
TURNS = Counter(
    "switchboard_turns_total",
    "Finished turns, by assistant (template slug), model that served it and outcome (status).",
    ["template", "model", "outcome"],
)
_LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60)
TTFT_SECONDS = Histogram(
    "switchboard_ttft_seconds",
    "Time from the turn's start to the first reply token.",
    ["model"],
    buckets=_LATENCY_BUCKETS,
)
LATENCY_SECONDS = Histogram(
    "switchboard_turn_latency_seconds",
    "Time from the turn's start to its recorded end.",
    ["model"],
    buckets=_LATENCY_BUCKETS,
)
TOKENS = Counter(
    "switchboard_tokens_total",
    "Provider-reported tokens, each counted once: input, cached_input, cache_write, output.",
    ["model", "kind"],
)
COST = Counter("switchboard_cost_usd_total", "Cost of priced turns in US dollars.", ["model"])
UNPRICED_TURNS = Counter(
    "switchboard_unpriced_turns_total", "Turns on a model with no price (cost unknown).", ["model"]
)
MODEL_ATTEMPTS = Counter(
    "switchboard_model_attempts_total",
    "Calls to a model, by outcome (ok, breaker_open or the error kind).",
    ["model", "outcome"],
)
FALLBACKS = Counter(
    "switchboard_fallbacks_total",
    "Turns answered (or finished) by a model other than the requested one.",
    ["requested", "served"],
)
CACHE_LOOKUPS = Counter(
    "switchboard_cache_lookups_total", "Semantic cache lookups: hit or miss.", ["result"]
)
GUARDRAIL_BLOCKS = Counter(
    "switchboard_guardrail_blocks_total",
    "Turns or replies blocked by a guardrail, by rule and stage (input or output).",
    ["rule", "stage"],
)
# Block rate per stage = judged{action="block"} / sum over actions of judged.
GUARDRAIL_JUDGED = Counter(
    "switchboard_guardrail_judged_total",
    "Texts a guardrail judged (user messages, retrieved passages, replies), by stage and action.",
    ["stage", "action"],
)
GUARDRAIL_FIRED = Counter(
    "switchboard_guardrail_rule_fired_total",
    "Guardrail rules that fired on a blocked or flagged text, by stage, action and rule.",
    ["stage", "action", "rule"],
)
EVALS = Counter(
    "switchboard_evals_total", "Background evaluations, by kind and status.", ["kind", "status"]
)
# Filled at scrape time from Redis, so every process reports the shared truth.
BREAKER_STATE = Gauge(
    "switchboard_breaker_state",
    "Circuit breakers that are not closed: 1 for the breaker's current state.",
    ["breaker", "state"],
)
CELERY_QUEUE_DEPTH = Gauge(
    "switchboard_celery_queue_depth", "Tasks waiting in the Celery broker queue.", ["queue"]
)


def count_cache_lookup(*, hit: bool) -> None:
    CACHE_LOOKUPS.labels(result="hit" if hit else "miss").inc()


def count_guardrail_block(*, rule: str, stage: str) -> None:
    GUARDRAIL_BLOCKS.labels(rule=rule, stage=stage).inc()


def count_guardrail_verdict(*, stage: str, action: str, rules: tuple[str, ...]) -> None:
    """One judged text; for a block or flag, each rule that fired.

    A rule label keeps only what precedes ":" ("code:rm -rf" → "code"): labels must stay few.
    """
    GUARDRAIL_JUDGED.labels(stage=stage, action=action).inc()
    for rule in {rule.partition(":")[0] for rule in rules}:
        GUARDRAIL_FIRED.labels(stage=stage, action=action, rule=rule).inc()
        if action == "block":
            count_guardrail_block(rule=rule, stage=stage)


def observe_turn(outcome, *, template: str) -> None:
    """Every series a finished turn feeds. `outcome` is gateway.stages.record.TurnOutcome."""
    model = outcome.model or outcome.model_requested
    TURNS.labels(template=template, model=model, outcome=outcome.status).inc()
    LATENCY_SECONDS.labels(model=model).observe(outcome.latency_ms / 1000)
    if outcome.ttft_ms is not None:
        TTFT_SECONDS.labels(model=model).observe(outcome.ttft_ms / 1000)
    if outcome.usage:
        for kind in ("input", "cached_input", "cache_write", "output"):
            TOKENS.labels(model=model, kind=kind).inc(getattr(outcome.usage, f"{kind}_tokens"))
    if outcome.cost is not None:
        COST.labels(model=model).inc(float(outcome.cost))
    elif not outcome.priced:
        UNPRICED_TURNS.labels(model=model).inc()
    for attempt in outcome.attempts:
        MODEL_ATTEMPTS.labels(model=attempt["model"], outcome=attempt["outcome"]).inc()
    if outcome.fallback_used:
        FALLBACKS.labels(requested=outcome.model_requested, served=model).inc()


FEEDBACK = Counter("switchboard_feedback_total", "Thumbs given on replies, up or down.", ["score"])
