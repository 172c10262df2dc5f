from celery import shared_task

from gateway.cache.store import evict


@shared_task
def evict_cache_entries() -> dict[str, int]:
    """Run by beat: expired, stale and over-cap cached answers are deleted."""
    return evict()
