"""The provider-neutral request, stream items and error."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.usage import Usage


@dataclass(frozen=True)
class ChatRequest:
    model: str
    system: str
    # [{"role": "user" | "assistant", "content": str}, ...], oldest first, ending with the user.
    messages: list[dict[str, str]]
    max_output_tokens: int
    temperature: float | None = None
    # Per-request text sent right after the system prompt (the guardrails' canary): kept apart
    # so the system prompt itself stays an identical, cacheable prefix from turn to turn.
    system_suffix: str = ""

    def full_system(self) -> str:
        return f"{self.system}\n\n{self.system_suffix}" if self.system_suffix else self.system


@dataclass(frozen=True)
class ReplyChunk:
    """One streamed item: text, or (once, at the end) the provider-reported usage."""

    text: str = ""
    usage: Usage | None = None


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
