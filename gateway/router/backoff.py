"""Which failures are worth retrying, and how long to wait before the next try."""

from __future__ import annotations

import random
from dataclasses import dataclass

# 409 is a provider-side conflict (OpenAI), 529 is Anthropic's "overloaded".
RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
RETRYABLE_KINDS = frozenset({"timeout", "connection", "stall", "ttft_timeout", "stream_broken"})


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 3
    base_delay: float = 1.0  # seconds: 1, 2, 4, ...
    jitter: float = 0.5  # up to ±50 % of each delay
    max_delay: float = 20.0  # a provider asking for longer is treated as unavailable

    def delay(self, retry: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait before retry number `retry` (0-based).

        A provider's Retry-After is honoured as given (it knows when capacity returns);
        otherwise exponential backoff with jitter, so many clients don't retry in lockstep.
        """
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_delay)
        nominal = self.base_delay * 2**retry
        spread = nominal * self.jitter
        return min(nominal + rng.uniform(-spread, spread), self.max_delay)


def is_retryable(kind: str, status: int | None) -> bool:
    if status is not None:
        return status in RETRYABLE_STATUS
    return kind in RETRYABLE_KINDS
