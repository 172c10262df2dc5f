"""The rate-limit cache: Redis, but an outage yields "no count" instead of an exception.

django-ratelimit then applies RATELIMIT_FAIL_OPEN on purpose (allow, or refuse everything) — by
itself it only catches DNS errors, so a Redis outage would surface as a 500 — and each outage is
counted for alerting.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.cache.backends.redis import RedisCache
from redis import RedisError

from observability.metrics import RATELIMIT_BACKEND_ERRORS

log = logging.getLogger(__name__)


def _count_outage(error: RedisError) -> None:
    policy = "open" if settings.RATELIMIT_FAIL_OPEN else "closed"
    RATELIMIT_BACKEND_ERRORS.labels(policy=policy).inc()
    log.warning("rate-limit backend unavailable (%s); failing %s", type(error).__name__, policy)


class RateLimitRedisCache(RedisCache):
    def add(self, *args, **kwargs):
        try:
            return super().add(*args, **kwargs)
        except RedisError as error:
            _count_outage(error)
            return False

    def incr(self, *args, **kwargs):
        try:
            return super().incr(*args, **kwargs)
        except RedisError as error:
            # add() has already counted this outage; ratelimit reads None as "no count".
            log.debug("rate-limit incr failed: %s", type(error).__name__)
            return None

    def get(self, *args, **kwargs):
        try:
            return super().get(*args, **kwargs)
        except RedisError as error:
            _count_outage(error)
            return None
