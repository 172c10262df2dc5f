"""OpenAI's streamed chat completion read as plain JSON, not as the SDK's typed chunks.

The SDK still sends the request (auth, retries, timeouts, errors for a bad status); only the
body is read here. Building a pydantic object per chunk cost ~65 µs, about a tenth of a
streaming turn's CPU with 1,000 users on one machine; `json.loads` costs ~2 µs. Errors are
raised as the SDK raises them: a data line holding an `error` object is an `openai.APIError`,
a broken line a `json.JSONDecodeError`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import openai

from gateway.usage import Usage

_STREAM_ERROR = "An error occurred during streaming"


async def chunks(response) -> AsyncIterator[dict]:
    """The JSON payloads of `response`'s server-sent events, up to `[DONE]`."""
    data: list[str] = []
    async for line in response.iter_lines():
        if line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
        elif not line and data:  # a blank line ends the event
            payload, data = "\n".join(data), []
            if payload.startswith("[DONE]"):
                return
            yield _checked(json.loads(payload), response)
    if data and not data[0].startswith("[DONE]"):  # a last event without its blank line
        yield _checked(json.loads("\n".join(data)), response)


def _checked(chunk, response) -> dict:
    if isinstance(chunk, dict) and chunk.get("error"):
        error = chunk["error"]
        message = error.get("message") if isinstance(error, dict) else None
        if not isinstance(message, str) or not message:
            message = _STREAM_ERROR
        raise openai.APIError(message, request=response.http_request, body=error)
    return chunk


def usage_of(usage: dict) -> Usage:
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
    reasoning = (usage.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0
    return Usage(
        input_tokens=(usage.get("prompt_tokens") or 0) - cached,
        cached_input_tokens=cached,
        output_tokens=usage.get("completion_tokens") or 0,
        reasoning_tokens=reasoning,
    )
