"""Reads and writes of cached answers (synchronous ORM; the pipeline calls them off the loop)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from pgvector.django import CosineDistance

from gateway.cache.counters import count_cache_event
from gateway.cache.models import CacheEntry, CachePolicy
from gateway.cache.scope import knowledge_revision
from gateway.cache.verify import normalise, verify
from gateway.cache.wordvec import word_vectors


@dataclass(frozen=True)
class CachedAnswer:
    entry_id: int
    answer: str
    model: str
    simulated: bool
    similarity: float  # 1.0 for an exact match of the normalised question


def query_hash(question: str) -> str:
    return hashlib.sha256(normalise(question).encode()).hexdigest()


def find_exact(*, scope: str, question: str) -> CachedAnswer | None:
    entry = (
        CacheEntry.objects.filter(
            scope=scope, query_hash=query_hash(question), expires_at__gt=timezone.now()
        )
        .only("id", "answer", "model", "simulated")
        .first()
    )
    return entry and CachedAnswer(entry.id, entry.answer, entry.model, entry.simulated, 1.0)


def find_similar(
    *, scope: str, question: str, embedding: list[float], embedder: str
) -> CachedAnswer | None:
    """The nearest cached question above the threshold that also passes `verify`, if any."""
    with transaction.atomic(), connection.cursor() as cursor:
        # A bound on the lookup: a slow index must not hold up the turn (it is then bypassed).
        cursor.execute(f"SET LOCAL statement_timeout = {int(settings.CACHE_LOOKUP_TIMEOUT_MS)}")
        # The scope filter runs after the index scan: look at more neighbours than we keep.
        cursor.execute(f"SET LOCAL hnsw.ef_search = {int(settings.CACHE_HNSW_EF_SEARCH)}")
        candidates = list(
            CacheEntry.objects.filter(scope=scope, embedder=embedder, expires_at__gt=timezone.now())
            .annotate(distance=CosineDistance("embedding", embedding))
            .order_by("distance")
            .only("id", "query", "answer", "model", "simulated")[: settings.CACHE_CANDIDATES]
        )
    for entry in candidates:
        similarity = 1.0 - entry.distance
        if similarity < settings.CACHE_SIMILARITY_THRESHOLD:
            break
        verdict = verify(question, entry.query, word_vectors, similarity)
        if verdict:
            return CachedAnswer(entry.id, entry.answer, entry.model, entry.simulated, similarity)
        count_cache_event("rejected")
        count_cache_event(f"rejected_{verdict.reason}")
    return None


def note_hit(entry_id: int) -> None:
    CacheEntry.objects.filter(id=entry_id).update(hits=F("hits") + 1, last_used_at=timezone.now())


def store_answer(
    *,
    scope: str,
    template_id: int,
    revision: int,
    question: str,
    answer: str,
    embedding: list[float],
    embedder: str,
    model: str,
    simulated: bool,
    ttl_seconds: int,
) -> None:
    """Insert the answer, or refresh the one already cached for the same question and scope."""
    now = timezone.now()
    entry = CacheEntry(
        scope=scope,
        template_id=template_id,
        knowledge_revision=revision,
        query=question.strip(),
        query_hash=query_hash(question),
        answer=answer,
        embedding=embedding,
        embedder=embedder,
        model=model,
        simulated=simulated,
        created_at=now,
        last_used_at=now,
        expires_at=now + timedelta(seconds=ttl_seconds),
    )
    CacheEntry.objects.bulk_create(
        [entry],
        update_conflicts=True,
        unique_fields=["scope", "query_hash"],
        update_fields=["answer", "model", "simulated", "last_used_at", "expires_at"],
    )


def invalidate_template(template_id: int) -> int:
    """Forget every answer cached for the template (call on promotion or rollback of a version).

    The scope contains the version, so a promoted version never sees old answers anyway; this
    frees the rows at once instead of at their expiry.
    """
    deleted, _ = CacheEntry.objects.filter(template_id=template_id).delete()
    return deleted


def evict(*, now=None) -> dict[str, int]:
    """Delete expired answers, answers from an older knowledge revision, and each template's
    least recently used answers beyond its size cap (run by beat)."""
    now = now or timezone.now()
    expired, _ = CacheEntry.objects.filter(expires_at__lte=now).delete()
    stale, _ = CacheEntry.objects.filter(knowledge_revision__lt=knowledge_revision()).delete()
    over_cap = 0
    caps = dict(CachePolicy.objects.values_list("template_id", "max_entries"))
    default_cap = CachePolicy._meta.get_field("max_entries").default
    for template_id in CacheEntry.objects.values_list("template_id", flat=True).distinct():
        cap = caps.get(template_id, default_cap)
        newest = CacheEntry.objects.filter(template_id=template_id).order_by("-last_used_at", "-id")
        boundary = newest.values("last_used_at", "id")[cap : cap + 1]
        if not boundary:
            continue
        # The first row past the cap and everything used less recently than it goes.
        edge = boundary[0]
        doomed = CacheEntry.objects.filter(template_id=template_id).filter(
            Q(last_used_at__lt=edge["last_used_at"])
            | Q(last_used_at=edge["last_used_at"], id__lte=edge["id"])
        )
        over_cap += doomed.delete()[0]
    counts = {"expired": expired, "stale_knowledge": stale, "over_cap": over_cap}
    count_cache_event("evicted", sum(counts.values()))
    return counts
