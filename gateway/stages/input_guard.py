"""Stage 2: judge the user's message, then redact PII and plant the canary in the request.

The message stays saved as the user typed it; only what leaves for the provider is redacted.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from uuid import UUID

from django.conf import settings

from budgets.selectors import input_budget
from chat.models import Message
from gateway.db import in_db_thread
from gateway.providers import ChatRequest
from gateway.tokens import trim_history
from guardrails.checks import (
    Verdict,
    canary_instruction,
    canary_line_tokens,
    judge_injection,
    new_canary,
)
from guardrails.metrics import count_verdict
from guardrails.models import GuardrailPolicy, Stage
from guardrails.pii import Redactor
from guardrails.selectors import policy_for
from guardrails.services import event_record, message_block
from guardrails.streaming import ReplyGuard


@dataclass
class InputGuard:
    policy: GuardrailPolicy
    verdict: Verdict
    redactor: Redactor | None
    canary: str | None
    budget: int | None = None  # the template's input budget: what protect adds must fit in it

    def protect(self, request: ChatRequest) -> ChatRequest:
        """The request as the provider may see it: PII replaced by placeholders, canary added,
        and older turns dropped if that pushed it past the input budget."""
        messages = request.messages
        if self.redactor:
            messages = [{**m, "content": self.redactor.redact(m["content"])[0]} for m in messages]
        suffix = request.system_suffix  # e.g. retrieved passages: the canary goes after them
        if self.canary:
            suffix = "\n\n".join(filter(None, [suffix, canary_instruction(self.canary)]))
        if self.budget is not None:
            messages = trim_history(
                request.system, messages, budget=self.budget, model=request.model, suffix=suffix
            )
        return replace(request, system_suffix=suffix, messages=messages)

    def reserved_tokens(self, model: str) -> int:
        """What `protect` will add to the request's input: the canary line, if one is planted."""
        return canary_line_tokens(model) if self.canary else 0

    def reply_guard(self) -> ReplyGuard:
        return ReplyGuard(
            canary=self.canary,
            secrets_action=self.policy.reply_secrets_action,
            dangerous_code_action=self.policy.dangerous_code_action,
            mask_pii=self.policy.mask_reply_pii,
            redactor=self.redactor if self.policy.restore_pii else None,
            holdback=settings.GUARDRAILS_HOLDBACK_CHARS,
        )


def _guard(template, user_message_id: int, request_id: UUID, user_id: int) -> InputGuard:
    policy = policy_for(template)
    text = Message.objects.values_list("content", flat=True).get(id=user_message_id)
    redactor = Redactor() if policy.redact_pii else None
    redacted, found = redactor.redact(text) if redactor else (text, [])
    verdict = judge_injection(
        text,
        threshold=policy.injection_threshold,
        action=policy.injection_action,
        use_classifier=policy.use_classifier,
    )
    count_verdict(Stage.INPUT, verdict)
    record = {"request_id": request_id, "user_id": user_id, "template_id": template.id}
    if verdict.fired:
        event_record(
            stage=Stage.INPUT,
            verdict=verdict,
            excerpt=redacted,
            pii_types=(f.type for f in found),
            message_id=user_message_id,
            **record,
        )
    elif found:
        event_record(stage=Stage.INPUT, pii_types=(f.type for f in found), **record)
    if verdict.blocked:
        message_block(message_id=user_message_id)
    canary = new_canary() if policy.canary else None
    return InputGuard(policy, verdict, redactor, canary, budget=input_budget(template))


async def guard_input(
    *, template, user_message_id: int, request_id: UUID, user_id: int
) -> InputGuard:
    return await in_db_thread(_guard)(template, user_message_id, request_id, user_id)
