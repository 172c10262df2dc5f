"""The circuit breaker: its states, its single probe, and one state for every process."""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import time

import pytest
import redis.asyncio as aioredis
from django.conf import settings

from devstack.processes import ROOT
from gateway.router.backoff import RetryPolicy, is_retryable
from gateway.router.breaker import BreakerConfig, CircuitBreaker

MODEL = ("openai", "gpt-4o-mini")


def _run(scenario, cooldown_seconds: float = 0.5):
    async def with_breaker():
        client = aioredis.from_url(settings.REDIS_URL)
        config = BreakerConfig(
            failure_threshold=3, cooldown_seconds=cooldown_seconds, probe_ttl_seconds=5
        )
        try:
            return await scenario(CircuitBreaker(client, config))
        finally:
            await client.aclose()

    return asyncio.run(with_breaker())


def test_consecutive_failures_open_the_breaker_and_a_success_resets_the_count():
    async def scenario(breaker):
        await breaker.record_failure(*MODEL)
        await breaker.record_failure(*MODEL)
        await breaker.record_success(*MODEL)  # not consecutive any more
        await breaker.record_failure(*MODEL)
        await breaker.record_failure(*MODEL)
        still_closed = await breaker.state(*MODEL)
        await breaker.record_failure(*MODEL)
        return still_closed, await breaker.state(*MODEL), await breaker.allow(*MODEL)

    assert _run(scenario) == ("closed", "open", False)


def test_after_the_cool_down_exactly_one_probe_goes_through():
    async def scenario(breaker):
        for _ in range(3):
            await breaker.record_failure(*MODEL)
        await asyncio.sleep(0.6)
        return [await breaker.allow(*MODEL) for _ in range(3)], await breaker.state(*MODEL)

    assert _run(scenario) == ([True, False, False], "half_open")


def test_a_successful_probe_closes_and_a_failed_probe_reopens():
    async def scenario(breaker):
        outcomes = []
        for probe_succeeds in (False, True):
            for _ in range(3):
                await breaker.record_failure(*MODEL)
            await asyncio.sleep(0.6)
            assert await breaker.allow(*MODEL)  # the probe
            if probe_succeeds:
                await breaker.record_success(*MODEL)
            else:
                await breaker.record_failure(*MODEL)
            outcomes.append((await breaker.state(*MODEL), await breaker.allow(*MODEL)))
        return outcomes

    assert _run(scenario) == [("open", False), ("closed", True)]


def test_an_open_breaker_answers_within_milliseconds():
    async def scenario(breaker):
        for _ in range(3):
            await breaker.record_failure(*MODEL)
        started = time.perf_counter()
        allowed = await breaker.allow(*MODEL)
        return allowed, time.perf_counter() - started

    allowed, seconds = _run(scenario)
    assert not allowed and seconds < 0.05


def test_two_processes_share_one_breaker_state():
    opener = (
        "import asyncio, redis.asyncio as r\n"
        "from gateway.router.breaker import BreakerConfig, CircuitBreaker\n"
        "async def main():\n"
        f"    client = r.from_url({settings.REDIS_URL!r})\n"
        "    breaker = CircuitBreaker(client, BreakerConfig(failure_threshold=3))\n"
        "    for _ in range(3):\n"
        f"        await breaker.record_failure{MODEL!r}\n"
        "    await client.aclose()\n"
        "asyncio.run(main())\n"
    )
    subprocess.run([sys.executable, "-c", opener], cwd=ROOT, check=True, timeout=30)

    async def scenario(breaker):
        return await breaker.state(*MODEL), await breaker.allow(*MODEL)

    # A cool-down longer than starting the other process takes on a busy machine.
    assert _run(scenario, cooldown_seconds=60) == ("open", False)


def test_an_unreachable_redis_lets_traffic_through_and_is_counted():
    async def scenario():
        client = aioredis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
        breaker = CircuitBreaker(client)
        allowed = await breaker.allow(*MODEL)
        await breaker.record_failure(*MODEL)
        await client.aclose()
        return allowed, breaker.redis_errors

    assert asyncio.run(scenario()) == (True, 2)


def test_backoff_doubles_with_bounded_jitter():
    policy = RetryPolicy(base_delay=1.0, jitter=0.5, max_delay=20)
    rng = random.Random(7)
    for retry, nominal in enumerate([1, 2, 4]):
        delays = [policy.delay(retry, None, rng) for _ in range(200)]
        assert nominal * 0.5 <= min(delays) and max(delays) <= nominal * 1.5
        assert max(delays) - min(delays) > nominal * 0.5  # really jittered


def test_backoff_honours_retry_after_up_to_the_cap():
    policy = RetryPolicy(max_delay=20)
    rng = random.Random(0)
    assert policy.delay(0, 3.0, rng) == 3.0
    assert policy.delay(2, 0.25, rng) == 0.25
    assert policy.delay(0, 120.0, rng) == 20


@pytest.mark.parametrize(
    ("kind", "status", "retry"),
    [
        ("rate_limited", 429, True),
        ("server_error", 500, True),
        ("server_error", 529, True),
        ("timeout", 408, True),
        ("bad_request", 409, True),
        ("connection", None, True),
        ("stall", None, True),
        ("auth", 401, False),
        ("auth", 403, False),
        ("bad_request", 400, False),
        ("not_found", 404, False),
        ("bad_request", 422, False),
    ],
)
def test_only_retryable_failures_are_retried(kind, status, retry):
    assert is_retryable(kind, status) is retry
