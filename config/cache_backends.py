"""Redis caches with one connection pool per process, and the rate-limit cache.

The rate-limit cache: Redis, but an outage yields "no count" instead of an exception.
django-ratelimit then applies RATELIMIT_FAIL_OPEN on purpose (allow, or refuse everything) — by
itself it only catches DNS errors, so a Redis outage would surface as a 500 — and each outage is
counted for alerting.
"""

from __future__ import annotations

import logging
import threading
from functools import cached_property

from django.conf import settings
from django.core.cache.backends.redis import RedisCache
from redis import RedisError

from observability.metrics import RATELIMIT_BACKEND_ERRORS

log = logging.getLogger(__name__)


def _count_outage(error: RedisError) -> None:
    policy = "open" if settings.RATELIMIT_FAIL_OPEN else "closed"
    RATELIMIT_BACKEND_ERRORS.labels(policy=policy).inc()
    log.warning("rate-limit backend unavailable (%s); failing %s", type(error).__name__, policy)


_clients: dict[tuple, object] = {}
_clients_lock = threading.Lock()


class SharedRedisCache(RedisCache):
    """Django's Redis cache with one client, and so one connection pool, per process.

    Django keeps a cache object per async context, and a websocket turn is never followed by
    `request_finished` to close it: each turn opened a connection pool of its own and left its
    connection open (a thousand idle Redis connections after a load test). redis-py's pool is
    thread-safe and resets itself after a fork.
    """

    @cached_property
    def _cache(self):
        key = (type(self), tuple(self._servers), repr(sorted(self._options.items())))
        with _clients_lock:
            if key not in _clients:
                _clients[key] = self._class(self._servers, **self._options)
            return _clients[key]


class RateLimitRedisCache(SharedRedisCache):
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
