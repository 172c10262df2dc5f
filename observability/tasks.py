import structlog
from celery import shared_task
from django.conf import settings

from observability import evals, rollups

log = structlog.get_logger(__name__)


@shared_task
def evaluate_turn(request_id: str) -> str | None:
    """Enqueued after a turn is recorded: cheap checks always, the judge on a sample."""
    result = evals.evaluate(request_id)
    status = result.status if result else None
    log.info("turn evaluated", status=status, reason=(result.reason or None) if result else None)
    return status


@shared_task
def rollup_usage() -> int:
    """Run by beat: refresh today's and recent days' rollups."""
    return rollups.rollup_recent(lookback_days=settings.ROLLUP_LOOKBACK_DAYS)


@shared_task
def prune_request_logs() -> int:
    """Run by beat: roll up, then delete request logs past the retention period."""
    return rollups.prune_request_logs(retention_days=settings.REQUEST_LOG_RETENTION_DAYS)
