from django.conf import settings
from django.db import models


class Scope(models.TextChoices):
    CHAT = "chat", "Chat completions"
    MODELS = "models", "List models"


class ApiKey(models.Model):
    """A user's key for the OpenAI-compatible API. Only its SHA-256 is kept; the key is shown once.

    Keys are 256 random bits, so a fast hash is enough: nobody can guess their way back.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=100)
    # The key's first characters, shown in the list so the user can tell keys apart.
    prefix = models.CharField(max_length=16)
    hashed_key = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None
