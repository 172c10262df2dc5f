"""Rebuild cached questions' vectors after a change of embedder (`manage.py reembed`)."""

from __future__ import annotations

from collections.abc import Callable

from gateway.cache.models import CacheEntry
from gateway.embeddings import embed, embedder


def reembed_cache(*, batch_size: int = 256, everything: bool = False,
                  progress: Callable[[int], None] = lambda done: None) -> int:  # fmt: skip
    """Re-embed every entry not embedded by the configured embedder (or all); return the count.

    Until an entry is re-embedded the vector search skips it (it filters on the embedder's name),
    so the cache keeps working, with exact matches only for the old entries, while this runs.
    """
    name = embedder().name
    pending = CacheEntry.objects.all() if everything else CacheEntry.objects.exclude(embedder=name)
    done, last_id = 0, 0
    while batch := list(
        pending.filter(id__gt=last_id).order_by("id").only("id", "query")[:batch_size]
    ):
        vectors = embed([entry.query for entry in batch])
        for entry, vector in zip(batch, vectors, strict=True):
            entry.embedding, entry.embedder = vector.tolist(), name
        CacheEntry.objects.bulk_update(batch, ["embedding", "embedder"])
        done += len(batch)
        last_id = batch[-1].id
        progress(done)
    return done
