import uuid

from django.conf import settings
from django.db import models


class RequestLog(models.Model):
    """One row per turn: what was asked of which model, what it cost and how it went.

    Token counts are the provider-reported usage, kept apart so each is priced once:
    `input_tokens` excludes cached input, which is in `cached_input_tokens`.
    """

    request_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    conversation = models.ForeignKey(
        "chat.Conversation", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    message = models.ForeignKey(
        "chat.Message", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    template = models.ForeignKey(
        "prompts_admin.PromptTemplate", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    model_requested = models.CharField(max_length=100)
    model_used = models.CharField(max_length=100, blank=True)
    provider = models.CharField(max_length=20, blank=True)
    simulated = models.BooleanField(default=False)
    input_tokens = models.PositiveIntegerField(default=0)
    cached_input_tokens = models.PositiveIntegerField(default=0)
    cache_write_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=12, decimal_places=8, null=True, blank=True)
    priced = models.BooleanField(default=True, help_text="False when the model has no price.")
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    ttft_ms = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(max_length=20)
    error_kind = models.CharField(max_length=50, blank=True)
    # Every model call of the turn: model, outcome, status, backoff wait, duration, usage, cost.
    attempts = models.JSONField(default=list, blank=True)
    fallback_used = models.BooleanField(default=False)
    # Semantic cache: hit (answered from the cache, cost 0), miss, bypass (the cache failed), or
    # off (the assistant does not cache); on a hit, the entry served and its similarity.
    cache_status = models.CharField(max_length=10, blank=True)
    cache_hit = models.BooleanField(default=False)
    cache_similarity = models.FloatField(null=True, blank=True)
    cache_entry_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["created_at"]),
            models.Index(fields=["user", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.request_id} {self.model_used or self.model_requested} {self.status}"
