"""The record stage's cache put: store a finished answer, unless it must never be served again."""

from __future__ import annotations

import logging

from django.db import transaction

from chat.models import Status
from gateway.cache.counters import count_cache_event
from gateway.cache.store import note_hit, store_answer

log = logging.getLogger(__name__)


def why_not_store(lookup, *, status: str, content: str, fallback_used: bool) -> str:
    """ "" if the answer may be cached, else the reason. Errors, blocked, cancelled and cut-off
    replies are never stored; nor answers from a fallback model (the scope names the primary)."""
    if lookup is None or lookup.status != "miss" or lookup.embedding is None:
        return "no_lookup"
    if status != Status.COMPLETE or not content.strip():
        return "incomplete"
    if fallback_used:
        return "fallback"
    return lookup.no_store


def count_hit(lookup) -> None:
    """Count a hit on its entry, inside the caller's transaction (one commit for the turn).

    Never raises, and its own savepoint keeps a failure from spoiling the caller's writes.
    """
    if lookup is None or lookup.hit is None:
        return
    try:
        with transaction.atomic():
            note_hit(lookup.hit.entry_id)
    except Exception:
        log.warning("could not count the semantic cache hit", exc_info=True)
        count_cache_event("hit_count_failed")


def remember(lookup, *, status: str, content: str, fallback_used: bool, model: str,
             simulated: bool) -> None:  # fmt: skip
    """After the turn is recorded: store a fresh answer (a hit was counted by `count_hit`).

    Never raises: the reply is already saved, and a cache that cannot write only misses later.
    """
    try:
        if lookup is not None and lookup.hit is not None:
            return
        if reason := why_not_store(
            lookup, status=status, content=content, fallback_used=fallback_used
        ):
            if reason != "no_lookup":
                count_cache_event("put_skipped")
            return
        store_answer(
            scope=lookup.scope,
            template_id=lookup.template_id,
            revision=lookup.revision,
            question=lookup.question,
            answer=content,
            embedding=lookup.embedding,
            embedder=lookup.embedder,
            model=model,
            simulated=simulated,
            ttl_seconds=lookup.ttl_seconds,
        )
        count_cache_event("put")
    except Exception:
        log.warning("could not store the answer in the semantic cache", exc_info=True)
        count_cache_event("put_failed")
