"""Pipeline events as OpenAI objects: chat.completion, chat.completion.chunk, SSE lines, usage."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field

from gateway.usage import Usage


def usage_json(usage: Usage) -> dict:
    # OpenAI counts cached (and cache-written) input inside prompt_tokens; ours are kept apart.
    prompt = usage.input_tokens + usage.cached_input_tokens + usage.cache_write_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": usage.output_tokens,
        "total_tokens": prompt + usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_input_tokens},
    }


@dataclass
class Completion:
    """One response's identity: every chunk of a stream carries the same id, time and model."""

    model: str
    id: str = field(default_factory=lambda: f"chatcmpl-{uuid.uuid4().hex}")
    created: int = field(default_factory=lambda: int(time.time()))

    def _object(self, kind: str, **fields) -> dict:
        return {
            "id": self.id,
            "object": kind,
            "created": self.created,
            "model": self.model,
            **fields,
        }

    def completion(self, text: str, usage: Usage, finish_reason: str = "stop") -> dict:
        choice = {
            "index": 0,
            "message": {"role": "assistant", "content": text, "refusal": None},
            "logprobs": None,
            "finish_reason": finish_reason,
        }
        return self._object("chat.completion", choices=[choice], usage=usage_json(usage))

    def chunk(self, delta: dict, finish_reason: str | None = None, **extra) -> dict:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return self._object("chat.completion.chunk", choices=[choice], **extra)

    def usage_chunk(self, usage: Usage) -> dict:
        return self._object("chat.completion.chunk", choices=[], usage=usage_json(usage))


def sse(data: dict | str) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return f"data: {payload}\n\n".encode()


DONE = sse("[DONE]")
