"""The spend of a title job, logged like a turn's (purpose "title") so cost pages and budgets
count every model call a user causes, while turn statistics leave it out."""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.db import transaction

from chat.models import Conversation, Status
from gateway.models import LanguageModel
from gateway.pricing import cost_of
from gateway.providers import ChatRequest, ProviderError
from gateway.providers.endpoints import endpoint_for
from gateway.router.route import estimated_usage
from gateway.usage import Usage
from observability.models import RequestLog


@dataclass
class TitleCall:
    """What the title model sent so far: filled while streaming, so a cut call is still billed."""

    started: float
    text: str = ""
    usage: Usage | None = None


def billed_usage(request: ChatRequest, call: TitleCall) -> Usage | None:
    """The provider's usage; for a stream cut before it (timeout), an estimate of what it sent."""
    if call.usage is not None or not call.text:
        return call.usage
    asked = len(request.full_system()) + sum(len(m["content"] or "") for m in request.messages)
    return estimated_usage(asked, len(call.text))


@transaction.atomic
def record_title_call(
    conversation: Conversation,
    model: LanguageModel,
    request: ChatRequest,
    call: TitleCall,
    error: Exception | None = None,
) -> RequestLog:
    usage = billed_usage(request, call)
    cost = cost_of(usage, model) if usage else None
    tokens = usage or Usage()
    if error is None:
        error_kind = ""
    else:
        error_kind = error.kind if isinstance(error, ProviderError) else "timeout"
    # Deleted while the title was asked (the row lock holds off a delete until the log is in):
    # the spend is still logged, unlinked, as a turn's is.
    linked = Conversation.objects.select_for_update().filter(id=conversation.id).exists()
    return RequestLog.objects.create(
        purpose=RequestLog.Purpose.TITLE,
        user_id=conversation.user_id,
        conversation_id=conversation.id if linked else None,
        template_id=conversation.template_id,
        model_requested=model.name,
        model_used=model.name if usage else "",
        provider=model.provider,
        simulated=endpoint_for(model.provider).simulated,
        input_tokens=tokens.input_tokens,
        cached_input_tokens=tokens.cached_input_tokens,
        cache_write_tokens=tokens.cache_write_tokens,
        output_tokens=tokens.output_tokens,
        cost=cost,
        priced=cost is not None or usage is None,
        latency_ms=round((time.monotonic() - call.started) * 1000),
        status=Status.FAILED if error is not None else Status.COMPLETE,
        error_kind=error_kind,
    )
