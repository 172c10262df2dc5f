"""Guardrail counters, per process. The one place metrics read from: wire exporters here."""

from __future__ import annotations

from collections import Counter

from guardrails.checks import Verdict

# (stage, action, rule) → how many times it fired; stage → how many texts were judged.
FIRED: Counter[tuple[str, str, str]] = Counter()
JUDGED: Counter[str] = Counter()
BLOCKED: Counter[str] = Counter()


def count_verdict(stage: str, verdict: Verdict) -> None:
    JUDGED[stage] += 1
    BLOCKED[stage] += verdict.blocked
    if verdict.fired:
        for rule in verdict.rules or (verdict.reason,):
            FIRED[(stage, verdict.action, rule)] += 1


def block_rate(stage: str) -> float:
    return BLOCKED[stage] / JUDGED[stage] if JUDGED[stage] else 0.0
