"""Reads of guardrail data."""

from __future__ import annotations

from gateway.turn_memo import once_per_turn
from guardrails.models import GuardrailEvent, GuardrailPolicy, Review


# Defaults for assistants that have no policy row: never saved, never shared between calls.
@once_per_turn(key=lambda template: (template.pk,))
def policy_for(template) -> GuardrailPolicy:
    try:
        return template.guardrail_policy
    except GuardrailPolicy.DoesNotExist:
        return GuardrailPolicy(template=template)


def reviewed_examples() -> list[tuple[str, int]]:
    """Reviewed injection blocks as training rows: false positive → 0 (benign), correct → 1."""
    rows = (
        GuardrailEvent.objects.filter(reason="prompt_injection")
        .exclude(review=Review.PENDING)
        .exclude(excerpt="")
        .values_list("excerpt", "review")
    )
    return [(text, int(review == Review.CONFIRMED)) for text, review in rows]
