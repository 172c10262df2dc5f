"""When a streaming reply is checkpointed: early once, then further apart (no database)."""

from __future__ import annotations

import itertools

from gateway.pipeline import checkpoint_interval_ms


def _checkpoint_times(reply_ms: int, *, base_ms: int, max_ms: int, token_ms: int = 20) -> list:
    """Checkpoint times of a reply whose tokens arrive every `token_ms` from the start on."""
    saves, saved_at = [], 0
    for now in range(token_ms, reply_ms + 1, token_ms):
        if now - saved_at >= checkpoint_interval_ms(len(saves), base_ms=base_ms, max_ms=max_ms):
            saves.append(now)
            saved_at = now
    return saves


def test_the_first_checkpoint_comes_after_the_base_interval_then_the_wait_doubles_to_the_cap():
    intervals = [checkpoint_interval_ms(n, base_ms=500, max_ms=2000) for n in range(6)]
    assert intervals == [500, 1000, 2000, 2000, 2000, 2000]
    # Many checkpoints in, the wait is still the cap (no overflow, no growth).
    assert checkpoint_interval_ms(10_000, base_ms=500, max_ms=2000) == 2000


def test_a_cap_below_the_base_interval_means_the_base_interval():
    assert [checkpoint_interval_ms(n, base_ms=500, max_ms=100) for n in range(3)] == [500] * 3


def test_a_ten_second_reply_costs_a_third_of_the_updates_a_fixed_interval_did():
    spaced = _checkpoint_times(10_000, base_ms=500, max_ms=2000)
    fixed = _checkpoint_times(10_000, base_ms=500, max_ms=500)
    assert spaced[0] == fixed[0] == 500  # a reload soon after the first words still shows them
    assert len(fixed) == 20 and len(spaced) == 6
    gaps = [b - a for a, b in itertools.pairwise([0, *spaced])]
    assert max(gaps) <= 2000
