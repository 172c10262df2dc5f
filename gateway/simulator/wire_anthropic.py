"""Anthropic Messages wire format: message objects, stream events, errors."""

import json
from dataclasses import dataclass
from typing import Any

from gateway.simulator.plan import ReplyPlan, Usage
from gateway.simulator.replies import argument_pieces

# The (type, message) the real API answers a status with; others fall back by class.
_STATUS_ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "Invalid request (simulated)."),
    401: ("authentication_error", "invalid x-api-key"),
    402: ("billing_error", "Your credit balance is too low (simulated)."),
    403: ("permission_error", "Your API key does not have permission to use this resource."),
    404: ("not_found_error", "The requested resource could not be found."),
    413: ("request_too_large", "Request exceeds the maximum allowed size."),
    429: ("rate_limit_error", "Number of requests has exceeded your rate limit (simulated)."),
    500: ("api_error", "Internal server error"),
    504: ("timeout_error", "Request timed out"),
    529: ("overloaded_error", "Overloaded"),
}

# A non-streaming request asked for a mid-stream error event gets this status instead.
ERROR_EVENT_STATUS = 529


def error_body(error_type: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": error_type, "message": message}}


def status_error_body(status: int) -> dict[str, Any]:
    """The body the API sends with an HTTP error ``status``."""
    fallback = ("api_error" if status >= 500 else "invalid_request_error", f"Error {status}")
    return error_body(*_STATUS_ERRORS.get(status, fallback))


def usage_body(usage: Usage, *, output_tokens: int | None = None) -> dict[str, Any]:
    # input_tokens is the uncached part only; cache reads/writes are reported separately.
    return {
        "input_tokens": usage.input_tokens,
        "cache_creation_input_tokens": usage.cache_write_tokens,
        "cache_read_input_tokens": usage.cached_input_tokens,
        "output_tokens": usage.output_tokens if output_tokens is None else output_tokens,
    }


def _sse(event: str, payload: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(payload)}\n\n".encode()


def _input(arguments: str) -> Any:
    try:
        return json.loads(arguments)
    except ValueError:
        return {}


@dataclass(frozen=True)
class Message:
    """One response, as a whole ``message`` object or as its stream of events."""

    id: str
    model: str
    plan: ReplyPlan

    def body(self) -> dict[str, Any]:
        return {
            **self._shell(),
            "content": [
                *([{"type": "text", "text": self.plan.reply}] if self.plan.reply else []),
                *(
                    {"type": "tool_use", "id": c.id, "name": c.name, "input": _input(c.arguments)}
                    for c in self.plan.tool_calls
                ),
            ],
            "stop_reason": self._stop_reason(),
            "usage": usage_body(self.plan.usage),
        }

    def head(self) -> list[bytes]:
        """message_start, content_block_start and ping: everything before the first token."""
        # The real API reports output_tokens=1 at message_start and the total in message_delta.
        start = {
            **self._shell(),
            "content": [],
            "stop_reason": None,
            "usage": usage_body(self.plan.usage, output_tokens=1),
        }
        block_start = {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "text", "text": ""},
        }
        return [
            _sse("message_start", {"type": "message_start", "message": start}),
            _sse("content_block_start", block_start),
            _sse("ping", {"type": "ping"}),
        ]

    def token(self, text: str) -> bytes:
        delta = {"type": "text_delta", "text": text}
        return _sse(
            "content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}
        )

    def tail(self) -> list[bytes]:
        """content_block_stop, message_delta and message_stop."""
        # message_delta usage counts are cumulative totals: the SDK overwrites, not adds.
        message_delta = {
            "type": "message_delta",
            "delta": {"stop_reason": self._stop_reason(), "stop_sequence": None},
            "usage": usage_body(self.plan.usage),
        }
        return [
            _sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
            *self._tool_use_blocks(),
            _sse("message_delta", message_delta),
            _sse("message_stop", {"type": "message_stop"}),
        ]

    def _tool_use_blocks(self) -> list[bytes]:
        """Each call as a tool_use block after the text block: its input in JSON pieces."""
        events = []
        for index, call in enumerate(self.plan.tool_calls, start=1):
            block = {"type": "tool_use", "id": call.id, "name": call.name, "input": {}}
            start = {"type": "content_block_start", "index": index, "content_block": block}
            events.append(_sse("content_block_start", start))
            for piece in argument_pieces(call.arguments):
                delta = {"type": "input_json_delta", "partial_json": piece}
                payload = {"type": "content_block_delta", "index": index, "delta": delta}
                events.append(_sse("content_block_delta", payload))
            stop = {"type": "content_block_stop", "index": index}
            events.append(_sse("content_block_stop", stop))
        return events

    @property
    def error_event_status(self) -> int:
        return ERROR_EVENT_STATUS

    def status_body(self, status: int) -> dict[str, Any]:
        return status_error_body(status)

    def error_event(self) -> bytes:
        """A mid-stream ``error`` event: the API was overloaded after the reply started."""
        return _sse("error", status_error_body(ERROR_EVENT_STATUS))

    def malformed(self) -> bytes:
        """A delta event whose data is cut off mid-JSON.

        It needs an event name: the SDK skips data lines without one unparsed.
        """
        data = json.dumps({"type": "content_block_delta", "index": 0, "delta": {}})
        return f"event: content_block_delta\ndata: {data[: len(data) // 2]}\n\n".encode()

    def _stop_reason(self) -> str:
        # A refusal still streams its text; only the stop reason tells it apart.
        if self.plan.refusal:
            return "refusal"
        return "tool_use" if self.plan.tool_calls else "end_turn"

    def _shell(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "stop_sequence": None,
        }
