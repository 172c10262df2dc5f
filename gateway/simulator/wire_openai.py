"""OpenAI Chat Completions wire format: response objects, stream chunks, errors."""

import json
import time
from dataclasses import dataclass, field
from typing import Any

from gateway.simulator.plan import ReplyPlan, Usage
from gateway.simulator.replies import argument_pieces

_FINGERPRINT = "fp_simulator"


# The (type, code, message) the real API answers a status with; others fall back by class.
_STATUS_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request (simulated)."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("invalid_request_error", None, "You are not allowed to sample from this model."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests (simulated)."),
    500: ("server_error", None, "The server had an error while processing your request."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}

# A non-streaming request asked for a mid-stream error event gets this status instead.
ERROR_EVENT_STATUS = 500


def error_body(
    message: str, *, error_type: str = "invalid_request_error", code: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": error_type, "param": None, "code": code}}


def status_error_body(status: int) -> dict[str, Any]:
    """The body the API sends with an HTTP error ``status``."""
    fallback = ("server_error", None, f"Simulated server error {status}.")
    if status < 500:
        fallback = ("invalid_request_error", None, f"Simulated error {status}.")
    error_type, code, message = _STATUS_ERRORS.get(status, fallback)
    return error_body(message, error_type=error_type, code=code)


def usage_body(usage: Usage) -> dict[str, Any]:
    # prompt_tokens includes the cached part; cached_tokens says how much of it was cached.
    prompt = usage.input_tokens + usage.cached_input_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": usage.output_tokens,
        "total_tokens": prompt + usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_input_tokens, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": usage.reasoning_tokens,
            "audio_tokens": 0,
        },
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
        # A refusal comes in its own field, with no content; finish_reason stays "stop".
        text = self.plan.reply
        message = {
            "role": "assistant",
            "content": None if self.plan.refusal else text,
            "refusal": text if self.plan.refusal else None,
        }
        if self.plan.tool_calls:
            message["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                }
                for call in self.plan.tool_calls
            ]
            message["content"] = text or None
        choice = {
            "index": 0,
            "message": message,
            "logprobs": None,
            "finish_reason": self._finish_reason(),
        }
        return {
            **self._envelope("chat.completion"),
            "choices": [choice],
            "usage": usage_body(self.plan.usage),
        }

    def head(self) -> list[bytes]:
        if self.plan.refusal:
            return [self._chunk({"role": "assistant", "content": None, "refusal": ""})]
        return [self._chunk({"role": "assistant", "content": ""})]

    def token(self, text: str) -> bytes:
        return self._chunk({"refusal": text} if self.plan.refusal else {"content": text})

    def tail(self) -> list[bytes]:
        events = [*self._tool_call_chunks(), self._chunk({}, finish_reason=self._finish_reason())]
        if self.include_usage:
            # Like the real API: a final chunk with no choices, only usage.
            usage_chunk = {
                **self._envelope("chat.completion.chunk"),
                "choices": [],
                "usage": usage_body(self.plan.usage),
            }
            events.append(_sse(usage_chunk))
        return [*events, _sse("[DONE]")]

    def _tool_call_chunks(self) -> list[bytes]:
        """Each call: its id and name first, then its arguments in pieces, by index."""
        chunks = []
        for index, call in enumerate(self.plan.tool_calls):
            head = {
                "index": index,
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": ""},
            }
            chunks.append(self._chunk({"tool_calls": [head]}))
            for piece in argument_pieces(call.arguments):
                piece_delta = {"index": index, "function": {"arguments": piece}}
                chunks.append(self._chunk({"tool_calls": [piece_delta]}))
        return chunks

    def _finish_reason(self) -> str:
        return "tool_calls" if self.plan.tool_calls else "stop"

    @property
    def error_event_status(self) -> int:
        return ERROR_EVENT_STATUS

    def status_body(self, status: int) -> dict[str, Any]:
        return status_error_body(status)

    def error_event(self) -> bytes:
        """A mid-stream error: a data line holding only an ``error`` object, no event name."""
        return _sse(status_error_body(ERROR_EVENT_STATUS))

    def malformed(self) -> bytes:
        """A data line cut off mid-JSON, as if the upstream truncated a chunk."""
        chunk = json.dumps({**self._envelope("chat.completion.chunk"), "choices": []})
        return _sse(chunk[: len(chunk) // 2])

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
