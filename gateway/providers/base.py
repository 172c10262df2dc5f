"""The provider-neutral request, stream items and error."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gateway.usage import Usage


@dataclass(frozen=True)
class ToolCall:
    """A call the model asked for. `arguments` is the JSON text as sent (it may be malformed:
    the tool loop, not the provider adapter, decides what to tell the model about it)."""

    id: str
    name: str
    arguments: str

    def as_json(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name, "arguments": self.arguments}


@dataclass(frozen=True)
class ChatRequest:
    model: str
    system: str
    # [{"role": "user" | "assistant", "content": str}, ...], oldest first, ending with the user.
    # In a tool loop, provider-neutral tool turns follow: an assistant message with
    # "tool_calls": [ToolCall.as_json()], then {"role": "tool", "tool_call_id", "name",
    # "content", "is_error"} per call; each provider adapter translates them to its format.
    messages: list[dict[str, Any]]
    max_output_tokens: int
    temperature: float | None = None
    # Per-request text sent right after the system prompt (the guardrails' canary): kept apart
    # so the system prompt itself stays an identical, cacheable prefix from turn to turn.
    system_suffix: str = ""
    # Tools offered: [{"name", "description", "parameters" (JSON Schema)}]; empty: none.
    tools: tuple[dict[str, Any], ...] = field(default=())

    def full_system(self) -> str:
        return f"{self.system}\n\n{self.system_suffix}" if self.system_suffix else self.system


@dataclass(frozen=True)
class ReplyChunk:
    """One streamed item: text, a complete tool call, or (once, at the end) the usage."""

    text: str = ""
    usage: Usage | None = None
    tool_call: ToolCall | None = None


class ProviderError(Exception):
    """A provider call failed. `kind` is stable for logs and metrics; `status` is the HTTP one;
    `retry_after` is the wait in seconds the provider asked for, if it did."""

    def __init__(
        self,
        kind: str,
        detail: str,
        status: int | None = None,
        retry_after: float | None = None,
    ):
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail
        self.status = status
        self.retry_after = retry_after
