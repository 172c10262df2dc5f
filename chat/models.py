import uuid

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector
from django.db import models

# The text-search configuration of the search index and of every query that must use it.
SEARCH_CONFIG = "english"


class Source(models.TextChoices):
    CHAT = "chat", "Chat"
    API = "api", "API"  # created by a /v1/chat/completions call; not listed in the chat sidebar


class Conversation(models.Model):
    # A random id: conversation URLs must not be guessable or enumerable.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations"
    )
    template = models.ForeignKey("prompts_admin.PromptTemplate", on_delete=models.PROTECT)
    title = models.CharField(max_length=200, blank=True)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.CHAT)
    archived = models.BooleanField(default=False)
    # The last message of the branch the user is looking at; the path to it is the transcript.
    current_leaf = models.ForeignKey(
        "chat.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        indexes = [
            models.Index(fields=["user", "-updated_at"]),
            GinIndex(SearchVector("title", config=SEARCH_CONFIG), name="conversation_title_search"),
        ]

    def __str__(self) -> str:
        return self.title or f"Conversation {self.id}"


class Role(models.TextChoices):
    USER = "user"
    ASSISTANT = "assistant"


class Status(models.TextChoices):
    STREAMING = "streaming"
    COMPLETE = "complete"
    CANCELLED = "cancelled"
    FAILED = "failed"
    # The process serving the reply went away before it finished.
    INTERRUPTED = "interrupted"
    # Stopped by a guardrail: the user's message stays saved, marked as not sent.
    BLOCKED = "blocked"


class Message(models.Model):
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    # The message this one follows. Siblings (same parent) are regenerated replies or edits.
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="children"
    )
    # Chosen by the page per draft, so a message re-sent after a reconnect is saved once.
    client_id = models.CharField(max_length=64, blank=True)
    role = models.CharField(max_length=20, choices=Role.choices)
    content = models.TextField(blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.COMPLETE)
    model = models.CharField(max_length=100, blank=True)
    simulated = models.BooleanField(default=False)
    input_tokens = models.PositiveIntegerField(null=True, blank=True)
    cached_input_tokens = models.PositiveIntegerField(null=True, blank=True)
    output_tokens = models.PositiveIntegerField(null=True, blank=True)
    cost = models.DecimalField(max_digits=12, decimal_places=8, null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    ttft_ms = models.PositiveIntegerField(null=True, blank=True)
    error_kind = models.CharField(max_length=50, blank=True)
    # Assistant replies: the prompt version that produced them.
    prompt_version = models.ForeignKey(
        "prompts_admin.PromptVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # Knowledge-base passages the reply was written from (shown under it).
    citations = models.JSONField(default=list, blank=True)
    # Tools the reply ran, with arguments and results (shown in a collapsible block).
    tools_used = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["status", "updated_at"]),
            GinIndex(SearchVector("content", config=SEARCH_CONFIG), name="message_content_search"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "client_id"],
                condition=~models.Q(client_id=""),
                name="one_message_per_client_id",
            ),
            # At most one reply is being generated per conversation at any time.
            models.UniqueConstraint(
                fields=["conversation"],
                condition=models.Q(status="streaming"),
                name="one_streaming_message_per_conversation",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:40]}"

    @property
    def is_streaming(self) -> bool:
        return self.status == Status.STREAMING
