"""Sticky assignment of users to experiment arms by a hash of (user, experiment salt).

The same user lands in the same arm in every process and on every request (no randomness, no
per-process state). Each variant owns a fixed stripe of the bucket space and serves the first
`percent` of all buckets inside it, so ramping up keeps everyone already in the variant there.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Protocol, TypeVar

BUCKETS = 10_000


class Arm(Protocol):
    is_control: bool
    percent: int


A = TypeVar("A", bound=Arm)


def bucket_of(user_id: int, salt: str) -> int:
    digest = hashlib.sha256(f"{salt}:{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def max_percent(variant_count: int) -> int:
    """The largest share one of `variant_count` variants can take (its stripe)."""
    return 100 // max(variant_count, 1)


def arm_for(user_id: int, salt: str, arms: Sequence[A]) -> A:
    """The arm serving `user_id`. `arms` in a stable order (stopped variants included)."""
    control = next(arm for arm in arms if arm.is_control)
    variants = [arm for arm in arms if not arm.is_control]
    if not variants:
        return control
    bucket = bucket_of(user_id, salt)
    stripe = BUCKETS // len(variants)
    index = min(bucket // stripe, len(variants) - 1)
    variant = variants[index]
    share = min(variant.percent, max_percent(len(variants))) * BUCKETS // 100
    return variant if bucket - index * stripe < share else control
