"""Guardrail counters: kept here per process (for the benchmark and tests) and exported to
Prometheus (`/metrics`: switchboard_guardrail_judged_total, ..._rule_fired_total, ..._blocks_total).
"""

from __future__ import annotations

from collections import Counter

from guardrails.checks import Verdict
from observability.metrics import count_guardrail_verdict

# (stage, action, rule) → how many times it fired; stage → how many texts were judged.
FIRED: Counter[tuple[str, str, str]] = Counter()
JUDGED: Counter[str] = Counter()
BLOCKED: Counter[str] = Counter()


def count_verdict(stage: str, verdict: Verdict) -> None:
    JUDGED[stage] += 1
    BLOCKED[stage] += verdict.blocked
    rules = (verdict.rules or (verdict.reason,)) if verdict.fired else ()
    for rule in rules:
        FIRED[(stage, verdict.action, rule)] += 1
    count_guardrail_verdict(stage=str(stage), action=verdict.action, rules=rules)


def block_rate(stage: str) -> float:
    return BLOCKED[stage] / JUDGED[stage] if JUDGED[stage] else 0.0
