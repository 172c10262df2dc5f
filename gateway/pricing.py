"""Cost of a turn from provider-reported usage and the pricing table, in exact decimals."""

from __future__ import annotations

from decimal import Decimal

from gateway.models import LanguageModel
from gateway.usage import Usage

PER_MILLION = Decimal(1_000_000)


def cost_of(usage: Usage, model: LanguageModel | None) -> Decimal | None:
    """USD cost of `usage` on `model`; None when the model has no price (never a silent $0).

    Cached input falls back to the input price, and cache writes to the input price, when the
    table has no specific rate: charging too much is visible, charging nothing is not.
    Reasoning tokens are part of the output count: they are priced at the reasoning rate when
    the table has one, otherwise at the output rate, and the rest of the output at its own.
    """
    if model is None or not model.is_priced:
        return None
    cached_rate = model.cached_input_price
    write_rate = model.cache_write_price
    reasoning_rate = model.reasoning_price
    reasoning = min(usage.reasoning_tokens, usage.output_tokens)
    total = (
        usage.input_tokens * model.input_price
        + usage.cached_input_tokens
        * (cached_rate if cached_rate is not None else model.input_price)
        + usage.cache_write_tokens * (write_rate if write_rate is not None else model.input_price)
        + (usage.output_tokens - reasoning) * model.output_price
        + reasoning * (reasoning_rate if reasoning_rate is not None else model.output_price)
    )
    return total / PER_MILLION
