"""Shadow runs: a variant answers a real turn in a Celery task; recorded, compared, never shown.

The answer goes only into a ShadowRun row (never a chat Message), so no page can show it.
"""

from __future__ import annotations

import asyncio
import difflib
import logging
from uuid import UUID

from django.conf import settings
from django.utils import timezone

from chat.selectors import history_before
from gateway.providers import ChatRequest
from observability.enqueue import enqueue
from observability.models import RequestLog
from prompts_admin.answers import answer_once
from prompts_admin.models import ExperimentArm, ShadowRun
from prompts_admin.selectors import render_version

log = logging.getLogger(__name__)


async def enqueue_shadow_run(*, arm_id: int, request_id: UUID) -> None:
    """Queue the shadow answer; a broker failure is counted and logged, never raised."""
    from prompts_admin.tasks import run_shadow

    await asyncio.to_thread(enqueue, run_shadow, arm_id, str(request_id))


def shadow_run(*, arm_id: int, request_id: UUID) -> ShadowRun | None:
    """Answer the logged turn with the arm's version and record it next to the served answer."""
    served = (
        RequestLog.objects.filter(request_id=request_id).select_related("user", "message").first()
    )
    if served is None or served.message is None:  # the conversation was deleted meanwhile
        return None
    arm = ExperimentArm.objects.select_related("version__model", "experiment__template__model").get(
        pk=arm_id
    )
    template = arm.experiment.template
    if arm.version.model is not None:
        template.model = arm.version.model
    user_name = (served.user.first_name or served.user.get_username()) if served.user else ""
    request = ChatRequest(
        model=template.model.name,
        system=render_version(arm.version, template, user_name, timezone.localdate()),
        messages=history_before(
            served.conversation_id, served.message_id, settings.CHAT_HISTORY_MESSAGES
        ),
        max_output_tokens=template.max_output_tokens,
        temperature=template.temperature,
    )
    answer = asyncio.run(answer_once(template, request))
    return ShadowRun.objects.create(
        arm=arm,
        request_log=served,
        served_text=served.message.content,
        shadow_text=answer.text,
        status=answer.status,
        error_kind=answer.error_kind,
        latency_ms=answer.latency_ms,
        cost=answer.cost,
        similarity=difflib.SequenceMatcher(None, served.message.content, answer.text).ratio(),
    )
