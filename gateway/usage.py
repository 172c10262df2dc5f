"""Token usage as the provider reported it, normalised so each token is counted once."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Usage:
    # Uncached input only: OpenAI includes cached tokens in prompt_tokens, Anthropic does not.
    input_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    # Of output_tokens, how many the model spent reasoning (OpenAI's
    # completion_tokens_details.reasoning_tokens). Both providers bill them as output, inside the
    # output count, so this is a breakdown, never added on top.
    reasoning_tokens: int = 0
