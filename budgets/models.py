"""Spending limits: per-user budgets, per-assistant cost policy, and the global daily cap."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.db.models import Q

_MONEY = {"max_digits": 10, "decimal_places": 2, "null": True, "blank": True}


class Budget(models.Model):
    """Daily and monthly spending limits (USD) of one user, or of each member of a group.

    Limits are always per user: a group budget gives every member those limits on their own
    spend. When a user has several budgets (their own and their groups'), the tightest applies.
    Over a soft limit replies come from the assistant's cheaper model; at a hard limit the user
    is refused until the period resets (00:00 UTC, or the 1st of the month). Empty: no limit.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="budgets",
    )
    group = models.ForeignKey(
        Group, null=True, blank=True, on_delete=models.CASCADE, related_name="budgets"
    )
    daily_soft_usd = models.DecimalField(**_MONEY)
    daily_hard_usd = models.DecimalField(**_MONEY)
    monthly_soft_usd = models.DecimalField(**_MONEY)
    monthly_hard_usd = models.DecimalField(**_MONEY)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(user__isnull=False, group__isnull=True)
                | Q(user__isnull=True, group__isnull=False),
                name="budget_for_a_user_or_a_group",
            ),
            models.UniqueConstraint(
                fields=["user"], condition=Q(user__isnull=False), name="one_budget_per_user"
            ),
            models.UniqueConstraint(
                fields=["group"], condition=Q(group__isnull=False), name="one_budget_per_group"
            ),
        ]

    def __str__(self) -> str:
        return f"Budget of {self.user or f'group {self.group}'}"


class TemplateCostPolicy(models.Model):
    """An assistant's cost settings: its cheaper model and its input token limit."""

    template = models.OneToOneField(
        "prompts_admin.PromptTemplate", on_delete=models.CASCADE, related_name="cost_policy"
    )
    downgrade_model = models.ForeignKey(
        "gateway.LanguageModel",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Used instead of the assistant's model for users over a soft limit.",
    )
    max_input_tokens = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Most tokens sent to the model per turn (system prompt, history, question). "
        "Older history is dropped to fit; a longer question is refused. Empty: the model's "
        "context window less the assistant's max output tokens.",
    )

    class Meta:
        verbose_name = "assistant cost policy"
        verbose_name_plural = "assistant cost policies"

    def __str__(self) -> str:
        return f"Cost policy of {self.template}"


class EmergencyMode(models.Model):
    """The global daily cap and emergency mode's state: one row (pk=1), shared by every process.

    Emergency mode starts when today's total spend (UTC) reaches the cap. It ends at the next
    UTC midnight, or when an admin ends it; an admin's end holds for the rest of that day.
    """

    daily_cap_usd = models.DecimalField(
        **_MONEY,
        help_text="Spend of all users in one UTC day that starts emergency mode. "
        "Empty: GLOBAL_DAILY_BUDGET_USD from the environment (unset: no cap).",
    )
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = "global budget and emergency mode"
        verbose_name_plural = "global budget and emergency mode"

    def __str__(self) -> str:
        return "Global daily budget"
