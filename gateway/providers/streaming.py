"""Stream a reply through the official OpenAI or Anthropic async SDK.

Leaving the `async with` block — normally, on error, or when the task is cancelled by Stop —
closes the HTTP response, so a stopped turn stops the upstream generation too.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import AsyncIterator

import anthropic
import httpx2
import openai

from gateway.models import Provider
from gateway.providers import openai_sse
from gateway.providers.base import ChatRequest, ProviderError, ReplyChunk
from gateway.providers.endpoints import Endpoint
from gateway.providers.tool_wire import (
    PartialCalls,
    anthropic_messages,
    anthropic_tools,
    openai_messages,
    openai_tools,
)
from gateway.usage import Usage

# SDK clients hold connection pools bound to the event loop that first used them.
_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

_KIND_BY_STATUS = {401: "auth", 403: "auth", 404: "not_found", 408: "timeout", 429: "rate_limited"}


def http_timeout(connect: float, total: float) -> httpx2.Timeout:
    # Both SDKs are built on httpx2 (not httpx) and reject httpx's objects.
    return httpx2.Timeout(total, connect=connect)


def _client(endpoint: Endpoint) -> openai.AsyncOpenAI | anthropic.AsyncAnthropic:
    per_loop = _clients.setdefault(asyncio.get_running_loop(), {})
    if endpoint not in per_loop:
        sdk = (
            openai.AsyncOpenAI if endpoint.provider == Provider.OPENAI else anthropic.AsyncAnthropic
        )
        per_loop[endpoint] = sdk(
            api_key=endpoint.api_key,
            base_url=endpoint.base_url,
            timeout=http_timeout(connect=5.0, total=60.0),
            max_retries=0,  # the router retries, with backoff and a breaker; never both
        )
    return per_loop[endpoint]


def provider_error(exc: Exception) -> ProviderError:
    """Map either SDK's exception to a ProviderError with a stable kind.

    What the SDKs raise is uneven (checked against the simulator's faults): transport errors and
    malformed JSON in the middle of a stream come unwrapped, and an error event inside a stream
    arrives as a plain APIError (OpenAI) or an APIStatusError with the stream's status, 200
    (Anthropic) — so a broken stream is recognised by what happened, not by exception class.
    """
    if isinstance(exc, json.JSONDecodeError):
        return ProviderError("stream_broken", f"malformed JSON from the provider: {exc}")
    if isinstance(exc, openai.APITimeoutError | anthropic.APITimeoutError):
        return ProviderError("timeout", str(exc))
    if isinstance(exc, openai.APIConnectionError | anthropic.APIConnectionError):
        return ProviderError("connection", str(exc))
    if isinstance(exc, httpx2.TimeoutException):
        return ProviderError("timeout", str(exc))
    if isinstance(exc, httpx2.HTTPError):
        return ProviderError("connection", f"{type(exc).__name__}: {exc}")
    if isinstance(exc, openai.APIStatusError | anthropic.APIStatusError) and exc.status_code < 400:
        return ProviderError("stream_broken", f"error event mid-stream: {exc.message}")
    if isinstance(exc, openai.APIStatusError | anthropic.APIStatusError):
        status = exc.status_code
        kind = _KIND_BY_STATUS.get(status) or ("server_error" if status >= 500 else "bad_request")
        return ProviderError(
            kind, exc.message, status=status, retry_after=retry_after(exc.response)
        )
    if isinstance(exc, openai.APIError | anthropic.APIError):
        return ProviderError("stream_broken", f"error event mid-stream: {exc}")
    return ProviderError("provider_error", f"{type(exc).__name__}: {exc}")


def retry_after(response) -> float | None:
    """The provider's requested wait: `retry-after-ms` (OpenAI) or `Retry-After` in seconds."""
    headers = response.headers if response is not None else {}
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        try:
            return float(headers[name]) / scale
        except (KeyError, ValueError):
            continue
    return None


async def stream_reply(
    endpoint: Endpoint, request: ChatRequest, limits: httpx2.Timeout | None = None
) -> AsyncIterator[ReplyChunk]:
    """Yield text chunks and complete tool calls, then one chunk carrying usage (None if the
    provider reported none)."""
    client = _client(endpoint)
    options = {"timeout": limits} if limits is not None else {}
    try:
        if endpoint.provider == Provider.OPENAI:
            compatible = endpoint.base_url is not None and not endpoint.simulated
            async for chunk in _openai_stream(client, request, compatible, options):
                yield chunk
        else:
            async for chunk in _anthropic_stream(client, request, options):
                yield chunk
    # Transport errors in the middle of a stream can surface unwrapped by the SDK.
    except (
        openai.OpenAIError,
        anthropic.AnthropicError,
        httpx2.HTTPError,
        json.JSONDecodeError,
    ) as exc:
        raise provider_error(exc) from exc


async def _openai_stream(
    client: openai.AsyncOpenAI, request: ChatRequest, compatible: bool, options: dict
) -> AsyncIterator[ReplyChunk]:
    params: dict = {
        **options,
        "model": request.model,
        "messages": [
            {"role": "system", "content": request.full_system()},
            *openai_messages(request.messages),
        ],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    # OpenAI's current name; OpenAI-compatible servers still expect the older one.
    params["max_tokens" if compatible else "max_completion_tokens"] = request.max_output_tokens
    if request.temperature is not None:
        params["temperature"] = request.temperature
    if request.tools:
        params["tools"] = openai_tools(request.tools)
    usage, calls = None, PartialCalls()
    async with client.chat.completions.with_streaming_response.create(**params) as response:
        async for chunk in openai_sse.chunks(response):
            for choice in chunk.get("choices") or ():
                delta = choice.get("delta") or {}
                # A refusal comes in its own field; the user must still see it.
                if text := delta.get("content") or delta.get("refusal"):
                    yield ReplyChunk(text=text)
                # Parallel calls stream interleaved pieces, told apart by their index.
                for piece in delta.get("tool_calls") or ():
                    function = piece.get("function") or {}
                    calls.add(
                        piece.get("index", 0),
                        id=piece.get("id") or "",
                        name=function.get("name") or "",
                        arguments=function.get("arguments") or "",
                    )
            if chunk.get("usage"):
                usage = openai_sse.usage_of(chunk["usage"])
    for call in calls.pop_all():
        yield ReplyChunk(tool_call=call)
    yield ReplyChunk(usage=usage)


async def _anthropic_stream(
    client: anthropic.AsyncAnthropic, request: ChatRequest, options: dict
) -> AsyncIterator[ReplyChunk]:
    params: dict = {
        **options,
        "model": request.model,
        "messages": request.messages,
        "max_tokens": request.max_output_tokens,
    }
    if request.system:
        params["system"] = cacheable_system(request.system, request.system_suffix)
    if request.tools:
        async for chunk in _anthropic_tool_stream(client, request, params):
            yield chunk
        return
    async with client.messages.stream(**params) as stream:
        async for text in stream.text_stream:
            yield ReplyChunk(text=text)
        final = await stream.get_final_message()
    yield ReplyChunk(usage=_anthropic_usage(final.usage))


async def _anthropic_tool_stream(
    client: anthropic.AsyncAnthropic, request: ChatRequest, params: dict
) -> AsyncIterator[ReplyChunk]:
    """Raw events, not the SDK's stream helper: the helper parses tool input as it arrives and
    raises on JSON a model garbled, where the tool loop should tell the model instead."""
    params = {
        **params,
        "messages": anthropic_messages(request.messages),
        "tools": anthropic_tools(request.tools),
        "stream": True,
    }
    calls, usage = PartialCalls(), None
    stream = await client.messages.create(**params)
    async with stream:
        async for event in stream:
            if event.type == "message_start":
                usage = _anthropic_usage(event.message.usage)
            elif event.type == "content_block_start" and event.content_block.type == "tool_use":
                block = event.content_block
                calls.add(event.index, id=block.id, name=block.name)
            elif event.type == "content_block_delta" and event.delta.type == "text_delta":
                yield ReplyChunk(text=event.delta.text)
            elif event.type == "content_block_delta" and event.delta.type == "input_json_delta":
                calls.add(event.index, arguments=event.delta.partial_json)
            elif event.type == "content_block_stop" and event.index in calls.arguments:
                yield ReplyChunk(tool_call=calls.pop(event.index))
            elif event.type == "message_delta" and usage is not None:
                # message_delta counts are running totals: they replace, never add.
                usage = _anthropic_usage(event.usage, below=usage)
    yield ReplyChunk(usage=usage)


def cacheable_system(system: str, suffix: str = "") -> list[dict]:
    """The system prompt as the stable prefix Anthropic may cache (it comes before the history),
    then the per-request suffix, after the cache breakpoint.

    Prompts under the model's minimum cacheable length are simply not cached; the mark is free.
    OpenAI caches long prefixes by itself; either provider's cached tokens land in Usage.
    """
    blocks = [{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}]
    return [*blocks, {"type": "text", "text": suffix}] if suffix else blocks


def _anthropic_usage(usage, below: Usage | None = None) -> Usage:
    def count(name: str, known: int) -> int:
        value = getattr(usage, name, None)
        return known if value is None else value

    below = below or Usage()
    return Usage(
        input_tokens=count("input_tokens", below.input_tokens),
        cached_input_tokens=count("cache_read_input_tokens", below.cached_input_tokens),
        cache_write_tokens=count("cache_creation_input_tokens", below.cache_write_tokens),
        output_tokens=count("output_tokens", below.output_tokens),
    )
