"""Reads for pages that show whether a reply came from the cache."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, QuerySet

from observability.models import RequestLog


def with_cache_flag(messages: QuerySet) -> QuerySet:
    """Messages annotated with `from_cache`: their turn was answered from the semantic cache."""
    served = RequestLog.objects.filter(message=OuterRef("pk"), cache_hit=True)
    return messages.annotate(from_cache=Exists(served))
