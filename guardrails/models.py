from django.conf import settings
from django.db import models


class Action(models.TextChoices):
    BLOCK = "block", "Block"
    FLAG = "flag", "Flag (let through, record for review)"
    ALLOW = "allow", "Allow"


class GuardrailPolicy(models.Model):
    """What an assistant's guardrails do. Assistants without one use the defaults below."""

    template = models.OneToOneField(
        "prompts_admin.PromptTemplate", on_delete=models.CASCADE, related_name="guardrail_policy"
    )
    injection_action = models.CharField(max_length=10, choices=Action.choices, default=Action.BLOCK)
    injection_threshold = models.FloatField(
        default=0.5,
        help_text="Score (0 to 1) at which a message counts as an injection. 0.5 is the point "
        "calibrated to ≈2 % false positives; lower catches more and blocks more innocent text.",
    )
    use_classifier = models.BooleanField(
        default=True, help_text="Score with the trained classifier too, not phrase rules alone."
    )
    retrieved_action = models.CharField(
        "injection in retrieved text",
        max_length=10,
        choices=Action.choices,
        default=Action.BLOCK,
        help_text="Block drops the document chunk or tool result; flag keeps it, fenced as data.",
    )
    redact_pii = models.BooleanField(
        default=True, help_text="Replace PII and secrets with placeholders before the provider."
    )
    restore_pii = models.BooleanField(
        default=True, help_text="Put the user's own values back into the answer they see."
    )
    reply_secrets_action = models.CharField(
        "secrets in the reply", max_length=10, choices=Action.choices, default=Action.BLOCK
    )
    mask_reply_pii = models.BooleanField(
        "mask other PII in the reply",
        default=True,
        help_text="PII the user did not give is shown as [redacted …].",
    )
    dangerous_code_action = models.CharField(
        "dangerous SQL / shell in the reply",
        max_length=10,
        choices=Action.choices,
        default=Action.ALLOW,
        help_text="For code assistants: destructive SQL, rm -rf, curl | sh, …",
    )
    canary = models.BooleanField(
        "system prompt canary",
        default=True,
        help_text="Put a per-request secret marker in the system prompt; a reply that repeats "
        "it is replaced.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "guardrail policy"
        verbose_name_plural = "guardrail policies"

    def __str__(self) -> str:
        return f"Guardrails of {self.template}"


class Stage(models.TextChoices):
    INPUT = "input", "User message"
    RETRIEVED = "retrieved", "Retrieved text"
    OUTPUT = "output", "Reply"


class Review(models.TextChoices):
    PENDING = "pending", "Not reviewed"
    CONFIRMED = "confirmed", "Correct"
    FALSE_POSITIVE = "false_positive", "False positive"


class GuardrailEvent(models.Model):
    """One time a guardrail fired: the review queue, and labelled data once reviewed.

    `excerpt` is the text that was judged with its PII already redacted: this is a log.
    """

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    request_id = models.UUIDField(null=True, blank=True, db_index=True)
    stage = models.CharField(max_length=10, choices=Stage.choices)
    action = models.CharField(max_length=10, choices=[*Action.choices, ("redact", "Redact")])
    reason = models.CharField(max_length=50)
    rules = models.JSONField(default=list, blank=True)
    score = models.FloatField(null=True, blank=True)
    pii_types = models.JSONField(default=list, blank=True)
    excerpt = models.TextField(blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    template = models.ForeignKey(
        "prompts_admin.PromptTemplate",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    message = models.ForeignKey(
        "chat.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    review = models.CharField(max_length=20, choices=Review.choices, default=Review.PENDING)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["review", "action"])]

    def __str__(self) -> str:
        return f"{self.get_stage_display()}: {self.action} ({self.reason})"
