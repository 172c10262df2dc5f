"""Readiness checks: each dependency probed concurrently, each bounded in time.

A check returns None when healthy or a short reason when not. Reasons name the failure, never
a secret: they are served to anyone who can reach /readyz.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import httpx
import redis.asyncio as aioredis
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection

from budgets.emergency import emergency_status
from config.celery import app as celery_app
from gateway.db import in_db_thread
from gateway.models import LanguageModel
from gateway.providers import endpoint_for
from gateway.router.breaker import breaker_states

CHECK_TIMEOUT = 3.0


def _database() -> str | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        if cursor.fetchone() is None:
            return "the pgvector extension is not installed"
    return None


async def check_database() -> str | None:
    return await in_db_thread(_database)()


async def check_redis() -> str | None:
    client = aioredis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        await client.ping()
    finally:
        await client.aclose()
    return None


async def check_channel_layer() -> str | None:
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "readyz.ping"})
    message = await layer.receive(channel)
    return None if message.get("type") == "readyz.ping" else "the channel layer lost a message"


def _celery() -> str | None:
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
    # limit=1: return as soon as one worker answers instead of waiting out the timeout.
    replies = celery_app.control.ping(timeout=1.0, limit=1)
    return None if replies else "no Celery worker answered"


async def check_celery() -> str | None:
    return await sync_to_async(_celery, thread_sensitive=False)()


async def check_providers() -> str | None:
    """Every provider an active model uses must answer (the simulator when no key is set)."""
    providers = await in_db_thread(
        lambda: set(LanguageModel.objects.filter(is_active=True).values_list("provider", flat=True))
    )()
    problems = [p for p in await asyncio.gather(*map(_probe_provider, sorted(providers))) if p]
    return "; ".join(problems) or None


async def _probe_provider(provider: str) -> str | None:
    endpoint = endpoint_for(provider)
    if endpoint.simulated:
        url, headers = f"{settings.SIMULATOR_URL.rstrip('/')}/healthz", {}
    elif provider == "openai":
        base = (endpoint.base_url or "https://api.openai.com/v1").rstrip("/")
        url, headers = f"{base}/models", {"Authorization": f"Bearer {endpoint.api_key}"}
    else:
        base = (endpoint.base_url or "https://api.anthropic.com").rstrip("/")
        url = f"{base}/v1/models"
        headers = {"x-api-key": endpoint.api_key, "anthropic-version": "2023-06-01"}
    try:
        async with httpx.AsyncClient(timeout=2.0) as client:
            response = await client.get(url, headers=headers)
    except httpx.HTTPError as exc:
        return f"{provider}: unreachable ({type(exc).__name__})"
    if response.status_code in (401, 403):
        return f"{provider}: the API key was refused"
    if response.status_code >= 400:
        return f"{provider}: HTTP {response.status_code}"
    return None


CHECKS: dict[str, Callable[[], Awaitable[str | None]]] = {
    "database": check_database,
    "redis": check_redis,
    "channel_layer": check_channel_layer,
    "celery": check_celery,
    "providers": check_providers,
}


async def _run(check: Callable[[], Awaitable[str | None]]) -> dict:
    started = time.monotonic()
    try:
        problem = await asyncio.wait_for(check(), CHECK_TIMEOUT)
    except TimeoutError:
        problem = f"no answer within {CHECK_TIMEOUT:.0f} s"
    except Exception as exc:  # a readiness probe reports failures, it never raises them
        problem = f"{type(exc).__name__}: {str(exc)[:200]}"
    result = {"ok": problem is None, "ms": round((time.monotonic() - started) * 1000)}
    if problem:
        result["error"] = problem
    return result


async def open_breakers() -> dict[str, str]:
    """Informational: an open breaker reroutes traffic, it does not make this process unready."""
    client = aioredis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
    try:
        return await asyncio.wait_for(breaker_states(client), CHECK_TIMEOUT)
    except (aioredis.RedisError, TimeoutError):
        return {}
    finally:
        await client.aclose()


async def emergency() -> dict:
    """Informational: emergency mode (global daily cap reached) degrades answers, not readiness."""
    try:
        status = await asyncio.wait_for(in_db_thread(emergency_status)(), CHECK_TIMEOUT)
    except Exception as exc:  # the database check reports the outage; this must not raise
        return {"active": None, "error": type(exc).__name__}
    return status.as_json()


async def readiness() -> dict:
    results, breakers, emergency_mode = await asyncio.gather(
        asyncio.gather(*(_run(check) for check in CHECKS.values())), open_breakers(), emergency()
    )
    checks = dict(zip(CHECKS, results, strict=True))
    failed = [name for name, result in checks.items() if not result["ok"]]
    return {
        "status": "fail" if failed else "ok",
        "failed": failed,
        "checks": checks,
        "breakers": breakers,
        "emergency_mode": emergency_mode,
    }
