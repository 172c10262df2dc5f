"""Request rate limits by tier, counted in Redis so every Daphne process shares one count.

Three scopes, each a `tier → rate` map in settings: "http" (pages, per user or per client address
for anonymous visitors), "api" (/v1, per key owner) and "chat" (messages sent over the websocket,
per user). A user's tier comes from their groups (RATE_LIMIT_GROUP_TIERS). A Redis outage applies
RATELIMIT_FAIL_OPEN (see config/cache_backends.py), so a limit is never silently per-process.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from asgiref.sync import iscoroutinefunction, sync_to_async
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.decorators import sync_and_async_middleware
from django_ratelimit.core import get_usage

from gateway.db import in_db_thread

ANONYMOUS = "anonymous"
DEFAULT = "default"
# When Redis cannot count and the policy is to refuse, there is no window to wait for.
UNKNOWN_WAIT_SECONDS = 60
# Pages that are throttled on their own terms (login, the API) or must always answer (probes).
EXEMPT_PREFIXES = ("/v1/", "/accounts/login/", "/healthz", "/readyz", "/metrics", "/static/")


def _rates(scope: str) -> dict[str, str]:
    return {
        "http": settings.RATE_LIMITS_HTTP,
        "api": settings.RATE_LIMITS_API,
        "chat": settings.RATE_LIMITS_CHAT,
    }[scope]


def tier_for(user: AbstractBaseUser | AnonymousUser) -> str:
    if not user.is_authenticated:
        return ANONYMOUS
    tiers = settings.RATE_LIMIT_GROUP_TIERS
    if not tiers:
        return DEFAULT  # no group tiers configured: no query needed
    groups = set(user.groups.values_list("name", flat=True))
    return next((tier for group, tier in tiers.items() if group in groups), DEFAULT)


def rate_for(scope: str, tier: str) -> str:
    rates = _rates(scope)
    return rates.get(tier) or rates[DEFAULT]


def wait_seconds(*, scope: str, who: str, tier: str) -> int | None:
    """Count one request by `who` in `scope`; None if allowed, else seconds until the next window.

    Synchronous (django-ratelimit and the cache are): call it from async code through a thread.
    """
    usage = get_usage(
        None,
        group=f"sb-{scope}",
        key=lambda _group, _request: who,  # the counted identity is decided by the caller
        rate=rate_for(scope, tier),
        increment=True,
    )
    return seconds_left(usage)


def seconds_left(usage: dict | None) -> int | None:
    """None if django-ratelimit's `usage` allows the request, else seconds until it would."""
    if usage is None or not usage["should_limit"]:
        return None
    return max(1, usage["time_left"]) if usage["time_left"] > 0 else UNKNOWN_WAIT_SECONDS


def first_exhausted_wait(
    request: HttpRequest, limits: Iterable[tuple[str, str]], rate: Callable | str
) -> int:
    """For a POST the `@ratelimit` decorators refused: seconds until the first exhausted of
    `limits` ((group, key) pairs, in order) starts afresh. None exhausted means Redis could not
    count and the policy is to refuse: there is no window to report."""
    for group, key in limits:
        usage = get_usage(request, group=group, key=key, rate=rate, method="POST", increment=False)
        if (wait := seconds_left(usage)) is not None:
            return wait
    return UNKNOWN_WAIT_SECONDS


def throttled_response(
    request: HttpRequest, template: str, context: dict, wait: int
) -> HttpResponse:
    """A 429 page saying how long to wait, in words (`retry_after`) and in Retry-After."""
    response = render(request, template, {**context, "retry_after": wait}, status=429)
    response["Retry-After"] = str(wait)
    return response


def user_wait_seconds(*, scope: str, user_id: int) -> int | None:
    """The wait for a signed-in user (API key owner, websocket sender), tier from their groups."""
    tier = DEFAULT
    if settings.RATE_LIMIT_GROUP_TIERS:  # only then is the user's group membership needed
        from django.contrib.auth import get_user_model

        user = get_user_model().objects.filter(pk=user_id).first() or AnonymousUser()
        tier = tier_for(user)
    return wait_seconds(scope=scope, who=f"user:{user_id}", tier=tier)


async def user_wait_seconds_async(*, scope: str, user_id: int) -> int | None:
    return await in_db_thread(user_wait_seconds)(scope=scope, user_id=user_id)


def request_wait_seconds(request: HttpRequest) -> int | None:
    user = request.user
    who = f"user:{user.pk}" if user.is_authenticated else f"ip:{request.META.get('REMOTE_ADDR')}"
    return wait_seconds(scope="http", who=who, tier=tier_for(user))


def too_many_requests(request: HttpRequest, wait: int) -> HttpResponse:
    return throttled_response(request, "api/too_many_requests.html", {}, wait)


def _exempt(request: HttpRequest) -> bool:
    return request.path.startswith(EXEMPT_PREFIXES)


@sync_and_async_middleware
def RateLimitMiddleware(get_response):
    """Every page view counts against its user's (or address's) HTTP rate."""
    if iscoroutinefunction(get_response):

        async def middleware(request: HttpRequest) -> HttpResponse:
            if not _exempt(request):
                wait = await sync_to_async(request_wait_seconds, thread_sensitive=False)(request)
                if wait:
                    return await sync_to_async(too_many_requests)(request, wait)
            return await get_response(request)

    else:

        def middleware(request: HttpRequest) -> HttpResponse:
            if not _exempt(request) and (wait := request_wait_seconds(request)):
                return too_many_requests(request, wait)
            return get_response(request)

    return middleware
