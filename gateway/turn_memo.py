"""Reads that several stages of one turn make, done once per turn.

Admission, the input guard, the cache and the request builder each need the template's cost
and guardrail policies and the conversation's history. Read once per turn, not once per stage:
at 1,000 simultaneous turns every query is CPU that Postgres and the web process share. The
memo lives for one turn only, so an edit in admin still reaches the very next turn.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

# A dict per turn. Database threads run in a copy of the turn's context, so they share the
# dict object: what one stage's thread reads, the next stage's thread finds.
_memo: ContextVar[dict | None] = ContextVar("turn_memo", default=None)


@contextmanager
def turn_memo() -> Iterator[None]:
    token = _memo.set({})
    try:
        yield
    finally:
        _memo.reset(token)


def once_per_turn(key: Callable[..., tuple]) -> Callable[[Callable], Callable]:
    """Memoise the decorated read by `key(*args)` within a turn; outside one, just call it.

    Callers get their own copy, so one stage cannot change what the next one reads."""

    def decorate(read: Callable) -> Callable:
        @functools.wraps(read)
        def memoised(*args):
            memo = _memo.get()
            if memo is None:
                return read(*args)
            slot = (read.__qualname__, *key(*args))
            if slot not in memo:
                memo[slot] = read(*args)
            return copy.copy(memo[slot])

        return memoised

    return decorate
