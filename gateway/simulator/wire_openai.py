"""OpenAI Chat Completions wire format: response objects, stream chunks, errors."""

import json
import time
from dataclasses import dataclass, field
from typing import Any

from gateway.simulator.plan import ReplyPlan, Usage

_FINGERPRINT = "fp_simulator"


def error_body(message: str, *, code: str | None = None) -> dict[str, Any]:
    return {
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "param": None,
            "code": code,
        }
    }


def usage_body(usage: Usage) -> dict[str, Any]:
    # prompt_tokens includes the cached part; cached_tokens says how much of it was cached.
    prompt = usage.input_tokens + usage.cached_input_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": usage.output_tokens,
        "total_tokens": prompt + usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_input_tokens, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    }


def _sse(payload: dict[str, Any] | str) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload)
    return f"data: {data}\n\n".encode()


@dataclass(frozen=True)
class ChatCompletion:
    """One response, as a whole ``chat.completion`` or as stream chunks sharing id/created."""

    id: str
    model: str
    plan: ReplyPlan
    include_usage: bool = False
    created: int = field(default_factory=lambda: int(time.time()))

    def body(self) -> dict[str, Any]:
        message = {"role": "assistant", "content": self.plan.reply, "refusal": None}
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}
        return {
            **self._envelope("chat.completion"),
            "choices": [choice],
            "usage": usage_body(self.plan.usage),
        }

    def head(self) -> list[bytes]:
        return [self._chunk({"role": "assistant", "content": ""})]

    def token(self, text: str) -> bytes:
        return self._chunk({"content": text})

    def tail(self) -> list[bytes]:
        events = [self._chunk({}, finish_reason="stop")]
        if self.include_usage:
            # Like the real API: a final chunk with no choices, only usage.
            usage_chunk = {
                **self._envelope("chat.completion.chunk"),
                "choices": [],
                "usage": usage_body(self.plan.usage),
            }
            events.append(_sse(usage_chunk))
        return [*events, _sse("[DONE]")]

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return _sse({**self._envelope("chat.completion.chunk"), "choices": [choice]})

    def _envelope(self, kind: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": kind,
            "created": self.created,
            "model": self.model,
            "system_fingerprint": _FINGERPRINT,
        }
