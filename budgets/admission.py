"""What a user's spend, the global cap and the assistant's limits allow for one turn."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.conf import settings
from django.utils import timezone

from budgets.emergency import emergency_check
from budgets.periods import describe_reset, next_day, next_month
from budgets.repeats import RepeatAnswer, is_opening_message, repeat_answer
from budgets.selectors import (
    Limits,
    Spend,
    cheapest_model,
    cost_policy_of,
    input_budget,
    limits_for,
    spend_of,
)
from chat.models import Conversation
from gateway.models import LanguageModel
from gateway.tokens import count_tokens, prompt_tokens
from guardrails.checks import canary_line_tokens
from guardrails.selectors import policy_for
from prompts_admin.models import PromptTemplate

OVER_BUDGET = "over_budget"
# What to do next, said with every hard-limit refusal (the chat and the API alike).
AFTER_HARD_LIMIT = "Send your message again then, or ask an administrator to raise the limit."
INPUT_TOO_LONG = "input_too_long"


@dataclass(frozen=True)
class Refusal:
    kind: str
    message: str  # safe to show to the user


@dataclass(frozen=True)
class Admission:
    """Refused, or admitted: perhaps on another model, with a notice, or with a repeat answer."""

    refusal: Refusal | None = None
    model: LanguageModel | None = None  # replaces the assistant's model for this turn
    notice: str = ""
    emergency: bool = False
    repeat: RepeatAnswer | None = None

    def applied_to(self, template: PromptTemplate) -> PromptTemplate:
        """The template as this turn uses it (an in-memory copy; nothing is saved)."""
        if self.model is None or self.model.id == template.model_id:
            return template
        turn_template = copy.copy(template)
        turn_template.model = self.model
        return turn_template


def admit(
    *, user_id: int, conversation_id: UUID, text: str | None, now: datetime | None = None
) -> Admission:
    """Stage 0's budget and token checks. `text` is None for a retry (nothing new to measure)."""
    now = now or timezone.now()
    conversation = (
        Conversation.objects.select_related("template__model")
        .filter(id=conversation_id, user_id=user_id)
        .first()
    )
    if conversation is None:
        return Admission()  # stage 1 answers for a conversation that is not theirs
    template = conversation.template
    limits = limits_for(user_id)
    spend = spend_of(user_id, now) if limits != Limits() else None
    if spend and (refusal := _hard_limit_refusal(limits, spend, now)):
        return Admission(refusal=refusal)  # first: shortening the message would not help
    emergency = emergency_check(now)
    if text is not None and (refusal := _input_refusal(template, text, emergency=emergency)):
        return Admission(refusal=refusal)
    if emergency:
        return _emergency_admission(template, conversation.id, text, now)
    return _soft_limit_admission(limits, spend, template, now) if spend else Admission()


def _input_refusal(template: PromptTemplate, text: str, *, emergency: bool) -> Refusal | None:
    tokens = count_tokens(text, template.model.name)
    limit = settings.EMERGENCY_MAX_INPUT_TOKENS
    if emergency and tokens > limit:
        return Refusal(
            INPUT_TOO_LONG,
            f"Spending is capped for today, and messages are limited to {limit:,} tokens while "
            f"it is; yours has {tokens:,}. Shorten it, or send it after 00:00 UTC.",
        )
    room = input_budget(template) - _fixed_input_tokens(template)
    if tokens > room:
        return Refusal(
            INPUT_TOO_LONG,
            f"That message is {tokens:,} tokens long; this assistant takes at most {room:,}. "
            "Shorten it and send it again.",
        )
    return None


def _fixed_input_tokens(template: PromptTemplate) -> int:
    """What every request of the template sends besides the messages: its system prompt and,
    when its guardrails plant one, the canary line after it."""
    model = template.model.name
    canary = canary_line_tokens(model) if policy_for(template).canary else 0
    return prompt_tokens(template.system_prompt, [], model) + canary


def _hard_limit_refusal(limits: Limits, spend: Spend, now: datetime) -> Refusal | None:
    if limits.monthly_hard_usd is not None and spend.this_month >= limits.monthly_hard_usd:
        return Refusal(
            OVER_BUDGET,
            f"You have reached your monthly spending limit of ${limits.monthly_hard_usd}. "
            f"It resets at {describe_reset(next_month(now), now)}. {AFTER_HARD_LIMIT}",
        )
    if limits.daily_hard_usd is not None and spend.today >= limits.daily_hard_usd:
        return Refusal(
            OVER_BUDGET,
            f"You have reached your daily spending limit of ${limits.daily_hard_usd}. "
            f"It resets at {describe_reset(next_day(now), now)}. {AFTER_HARD_LIMIT}",
        )
    return None


def _emergency_admission(
    template: PromptTemplate, conversation_id: UUID, text: str | None, now: datetime
) -> Admission:
    if text is not None and is_opening_message(conversation_id):
        repeat = repeat_answer(template_id=template.id, text=text, now=now)
        if repeat is not None:
            notice = "Spending is capped for today: this is an earlier answer to the same question."
            return Admission(emergency=True, repeat=repeat, notice=notice)
    model = cheapest_model(template.model.provider) or template.model
    notice = (
        f"Spending is capped for today: replies come from {model.name}, the most economical "
        f"model, until {describe_reset(next_day(now), now)} or an admin lifts the cap."
    )
    return Admission(emergency=True, model=model, notice=notice)


def _soft_limit_admission(
    limits: Limits, spend: Spend, template: PromptTemplate, now: datetime
) -> Admission:
    if limits.monthly_soft_usd is not None and spend.this_month >= limits.monthly_soft_usd:
        period, limit, reset = "monthly", limits.monthly_soft_usd, next_month(now)
    elif limits.daily_soft_usd is not None and spend.today >= limits.daily_soft_usd:
        period, limit, reset = "daily", limits.daily_soft_usd, next_day(now)
    else:
        return Admission()
    policy = cost_policy_of(template)
    cheaper = policy.downgrade_model if policy else None
    if cheaper is None or not cheaper.is_active or cheaper.id == template.model_id:
        return Admission(
            notice=f"You have passed your {period} soft spending limit of ${limit} "
            f"(it resets at {describe_reset(reset, now)})."
        )
    return Admission(
        model=cheaper,
        notice=f"You have passed your {period} soft spending limit of ${limit}, so replies "
        f"come from {cheaper.name}, a cheaper model, until it resets at "
        f"{describe_reset(reset, now)}.",
    )
