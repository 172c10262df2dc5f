from django.db import models


class Provider(models.TextChoices):
    OPENAI = "openai", "OpenAI (or OpenAI-compatible)"
    ANTHROPIC = "anthropic", "Anthropic"


class LanguageModel(models.Model):
    """A model the app can call, with its list prices in USD per million tokens.

    Input, cached input, cache writes, output and reasoning are priced separately so that each
    token is counted once (providers report cached tokens apart from, or inside, the input count).
    A model without prices is allowed but flagged: its cost is recorded as unknown, never $0.
    """

    name = models.CharField(max_length=100, unique=True, help_text="The provider's model id.")
    provider = models.CharField(max_length=20, choices=Provider.choices)
    input_price = models.DecimalField(max_digits=10, decimal_places=4, null=True, blank=True)
    cached_input_price = models.DecimalField(max_digits=10, decimal_places=4, null=True, blank=True)
    cache_write_price = models.DecimalField(max_digits=10, decimal_places=4, null=True, blank=True)
    output_price = models.DecimalField(max_digits=10, decimal_places=4, null=True, blank=True)
    reasoning_price = models.DecimalField(
        max_digits=10,
        decimal_places=4,
        null=True,
        blank=True,
        help_text="Reasoning tokens are output tokens; empty: billed at the output price "
        "(as OpenAI and Anthropic do).",
    )
    context_window = models.PositiveIntegerField(
        default=128_000,
        help_text="Tokens of input plus output the model accepts; history is trimmed to fit.",
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["provider", "name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_priced(self) -> bool:
        return self.input_price is not None and self.output_price is not None


# The semantic cache's models live with it (gateway/cache/); imported here for Django.
from gateway.cache.models import CacheEntry, CachePolicy  # noqa: E402
from gateway.tools.models import McpServer  # noqa: E402

__all__ = ["CacheEntry", "CachePolicy", "LanguageModel", "McpServer", "Provider"]
