"""A circuit breaker per provider+model whose state lives in Redis, so every process agrees.

closed ──(threshold consecutive failures)──> open ──(cool-down over)──> half-open: one probe
   ^                                                                        │
   └──────────────(probe succeeds)─────────────┘   (probe fails) ──> open again

Transitions run as Lua scripts: atomic across Daphne and Celery processes. If Redis itself is
down the breaker lets traffic through (the router's retries still bound the damage) and the
outage is counted.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from dataclasses import dataclass

import redis.asyncio as aioredis
from django.conf import settings

log = logging.getLogger(__name__)

KEY_PREFIX = "sb:breaker:"

# KEYS[1] breaker hash; ARGV: now, cooldown, probe_ttl. Returns 1 to allow, 0 to refuse.
_ALLOW = """
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
if state == 'closed' then return 1 end
local now = tonumber(ARGV[1])
if state == 'open' then
  local opened = tonumber(redis.call('HGET', KEYS[1], 'opened_at') or '0')
  if now - opened < tonumber(ARGV[2]) then return 0 end
  redis.call('HSET', KEYS[1], 'state', 'half_open', 'probe_until', now + tonumber(ARGV[3]))
  return 1
end
-- half-open: one probe at a time; a probe that never reported back expires.
local probe_until = tonumber(redis.call('HGET', KEYS[1], 'probe_until') or '0')
if now < probe_until then return 0 end
redis.call('HSET', KEYS[1], 'probe_until', now + tonumber(ARGV[3]))
return 1
"""

# KEYS[1]; ARGV: now, threshold. Returns the new state.
_FAILURE = """
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
if state == 'half_open' then
  redis.call('HSET', KEYS[1], 'state', 'open', 'opened_at', ARGV[1], 'failures', 0)
  return 'open'
end
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
if state == 'closed' and failures >= tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], 'state', 'open', 'opened_at', ARGV[1], 'failures', 0)
  return 'open'
end
return state
"""


@dataclass(frozen=True)
class BreakerConfig:
    failure_threshold: int = 5
    cooldown_seconds: float = 30.0
    probe_ttl_seconds: float = 30.0


class CircuitBreaker:
    def __init__(self, client: aioredis.Redis, config: BreakerConfig | None = None):
        self.client = client
        self.config = config or BreakerConfig()
        self._allow = client.register_script(_ALLOW)
        self._failure = client.register_script(_FAILURE)
        self.redis_errors = 0  # read by metrics; an unreachable Redis must be visible

    @staticmethod
    def key(provider: str, model: str) -> str:
        return f"{KEY_PREFIX}{provider}:{model}"

    async def allow(self, provider: str, model: str) -> bool:
        cfg = self.config
        args = [time.time(), cfg.cooldown_seconds, cfg.probe_ttl_seconds]
        try:
            return bool(await self._allow(keys=[self.key(provider, model)], args=args))
        except aioredis.RedisError:
            self._redis_down("allow")
            return True

    async def record_success(self, provider: str, model: str) -> None:
        try:
            await self.client.hset(
                self.key(provider, model), mapping={"state": "closed", "failures": 0}
            )
        except aioredis.RedisError:
            self._redis_down("success")

    async def record_failure(self, provider: str, model: str) -> str:
        args = [time.time(), self.config.failure_threshold]
        try:
            state = await self._failure(keys=[self.key(provider, model)], args=args)
        except aioredis.RedisError:
            self._redis_down("failure")
            return "unknown"
        return state.decode() if isinstance(state, bytes) else state

    async def state(self, provider: str, model: str) -> str:
        raw = await self.client.hget(self.key(provider, model), "state")
        return raw.decode() if raw else "closed"

    def _redis_down(self, operation: str) -> None:
        self.redis_errors += 1
        log.warning("circuit breaker %s: Redis unavailable, letting traffic through", operation)


_breakers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def breaker() -> CircuitBreaker:
    """The breaker of the running event loop, configured from settings."""
    loop = asyncio.get_running_loop()
    if loop not in _breakers:
        # Short timeouts: a slow Redis must not add seconds to every turn.
        client = aioredis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
        config = BreakerConfig(
            failure_threshold=settings.BREAKER_FAILURE_THRESHOLD,
            cooldown_seconds=settings.BREAKER_COOLDOWN_SECONDS,
        )
        _breakers[loop] = CircuitBreaker(client, config)
    return _breakers[loop]


async def breaker_states(client: aioredis.Redis) -> dict[str, str]:
    """Every breaker that is not plainly closed, as {"provider:model": state}."""
    states = {}
    async for key in client.scan_iter(f"{KEY_PREFIX}*"):
        state = await client.hget(key, "state")
        if state and state != b"closed":
            states[key.decode().removeprefix(KEY_PREFIX)] = state.decode()
    return states
