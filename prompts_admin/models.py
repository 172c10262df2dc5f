from django.db import models


class PromptTemplate(models.Model):
    """An assistant users can chat with: its system prompt, model and generation parameters."""

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    system_prompt = models.TextField()
    model = models.ForeignKey("gateway.LanguageModel", on_delete=models.PROTECT)
    temperature = models.FloatField(
        null=True,
        blank=True,
        help_text="Empty: the provider's default (some models accept no other).",
    )
    max_output_tokens = models.PositiveIntegerField(default=1024)
    # Timeouts of each model call (the router cuts a call that exceeds one and moves on).
    connect_timeout_seconds = models.FloatField(default=5.0)
    first_token_timeout_seconds = models.FloatField(default=20.0)
    stall_timeout_seconds = models.FloatField(
        default=15.0, help_text="Longest silence allowed between two tokens."
    )
    total_timeout_seconds = models.FloatField(default=30.0)
    is_default = models.BooleanField(
        default=False, help_text="Used for new conversations when the user picks none."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"],
                condition=models.Q(is_default=True),
                name="one_default_template",
            )
        ]

    def __str__(self) -> str:
        return self.name


class FallbackStep(models.Model):
    """A model to try, in order, when the template's own model fails or its breaker is open."""

    template = models.ForeignKey(PromptTemplate, on_delete=models.CASCADE, related_name="fallbacks")
    model = models.ForeignKey("gateway.LanguageModel", on_delete=models.PROTECT, related_name="+")
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["template", "model"], name="fallback_once_per_template")
        ]

    def __str__(self) -> str:
        return f"{self.template} → {self.model}"
