"""Stage 7: the model call, planned as a route down the template's fallback chain."""

from __future__ import annotations

from django.conf import settings

from gateway.db import in_db_thread
from gateway.providers import ChatRequest, endpoint_for
from gateway.router.backoff import RetryPolicy
from gateway.router.breaker import breaker
from gateway.router.route import Route, Target, Timeouts
from prompts_admin.models import PromptTemplate


def _chain(template: PromptTemplate) -> list[Target]:
    models = [template.model, *(step.model for step in template.fallbacks.select_related("model"))]
    return [Target(model, endpoint_for(model.provider)) for model in models if model.is_active]


def retry_policy() -> RetryPolicy:
    return RetryPolicy(
        max_retries=settings.ROUTER_MAX_RETRIES,
        base_delay=settings.ROUTER_BACKOFF_BASE_SECONDS,
        jitter=settings.ROUTER_BACKOFF_JITTER,
        max_delay=settings.ROUTER_MAX_RETRY_WAIT_SECONDS,
    )


async def plan_route(template: PromptTemplate, request: ChatRequest) -> Route:
    return Route(
        targets=await in_db_thread(_chain)(template),
        request=request,
        breaker=breaker(),
        policy=retry_policy(),
        timeouts=Timeouts(
            connect=template.connect_timeout_seconds,
            first_token=template.first_token_timeout_seconds,
            stall=template.stall_timeout_seconds,
            total=template.total_timeout_seconds,
        ),
    )
