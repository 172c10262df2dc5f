"""Anthropic Messages wire format: message objects, stream events, errors."""

import json
from dataclasses import dataclass
from typing import Any

from gateway.simulator.plan import ReplyPlan, Usage


def error_body(error_type: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": error_type, "message": message}}


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


@dataclass(frozen=True)
class Message:
    """One response, as a whole ``message`` object or as its stream of events."""

    id: str
    model: str
    plan: ReplyPlan

    def body(self) -> dict[str, Any]:
        return {
            **self._shell(),
            "content": [{"type": "text", "text": self.plan.reply}],
            "stop_reason": "end_turn",
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
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": usage_body(self.plan.usage),
        }
        return [
            _sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
            _sse("message_delta", message_delta),
            _sse("message_stop", {"type": "message_stop"}),
        ]

    def _shell(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "stop_sequence": None,
        }
