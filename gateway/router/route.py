"""One turn's walk down its fallback chain.

For each model: skip it at once if its breaker is open; otherwise try, retrying retryable
failures with backoff (honouring Retry-After); on a failure that is not worth retrying, or
after the last retry, move to the next model. A stream that breaks after text reached the user
is continued by the next model from the partial reply, never silently truncated.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass, field, replace
from decimal import Decimal

from gateway.models import LanguageModel
from gateway.pricing import cost_of
from gateway.providers import (
    ChatRequest,
    Endpoint,
    ProviderError,
    ReplyChunk,
    ToolCall,
    http_timeout,
    stream_reply,
)
from gateway.router.backoff import RetryPolicy, is_retryable
from gateway.router.breaker import CircuitBreaker
from gateway.usage import Usage

CONTINUE_INSTRUCTION = (
    "Your previous reply was cut off. Continue it exactly where it stopped, without repeating "
    "anything and without comment."
)


@dataclass(frozen=True)
class Target:
    model: LanguageModel
    endpoint: Endpoint


@dataclass(frozen=True)
class Timeouts:
    connect: float = 5.0
    first_token: float = 20.0
    stall: float = 15.0
    total: float = 30.0


@dataclass
class Attempt:
    """One call to one model, as recorded on the request log."""

    model: str
    provider: str
    outcome: str  # "ok", "breaker_open", or the error kind
    status: int | None = None
    wait_ms: int = 0  # backoff slept before this attempt
    duration_ms: int = 0
    text_chars: int = 0
    usage: Usage | None = None
    usage_estimated: bool = False
    cost: str | None = None  # Decimal as text: JSON has no decimals

    def as_json(self) -> dict:
        data = asdict(self)
        data["usage"] = asdict(self.usage) if self.usage else None
        return data


class AllModelsFailed(Exception):
    """Every model in the chain failed or was skipped; `Route.attempts` says how."""


@dataclass
class Route:
    targets: list[Target]
    request: ChatRequest
    breaker: CircuitBreaker
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    timeouts: Timeouts = field(default_factory=Timeouts)
    rng: random.Random = field(default_factory=random.Random)
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    attempts: list[Attempt] = field(default_factory=list)
    served_by: Target | None = None
    wrote_last: Target | None = None  # whose text the user saw last, served or not
    text: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)  # what the serving model asked for
    steps: int = 1  # model calls of a tool loop: each is a walk down the chain

    def next_step(self, messages: list[dict]) -> None:
        """The tool loop's next model call: same chain, breaker and budget, new messages.
        Attempts (so usage and cost) keep adding up across steps."""
        self.request = replace(self.request, messages=messages)
        self.served_by, self.text, self.tool_calls = None, "", []
        self.steps += 1

    async def stream(self) -> AsyncIterator[str]:
        """Yield reply text as it arrives, from whichever models serve it."""
        for target in self.targets:
            if not await self.breaker.allow(target.endpoint.provider, target.model.name):
                self.attempts.append(self._attempt(target, "breaker_open"))
                continue
            async for text in self._try_model(target):
                yield text
            if self.served_by is not None:
                return
        raise AllModelsFailed(f"{len(self.attempts)} attempts, none succeeded")

    async def _try_model(self, target: Target) -> AsyncIterator[str]:
        wait = 0.0
        for retry in range(self.policy.max_retries + 1):
            attempt = self._attempt(target, "ok", wait_ms=round(wait * 1000))
            self.attempts.append(attempt)
            started, before = time.monotonic(), len(self.text)
            calls: list[ToolCall] = []
            try:
                limits = http_timeout(self.timeouts.connect, self.timeouts.total)
                chunks = stream_reply(target.endpoint, self._request(target), limits)
                async for chunk in self._guarded(chunks):
                    if chunk.text:
                        self.text += chunk.text
                        self.wrote_last = target
                        yield chunk.text
                    elif chunk.tool_call:
                        calls.append(chunk.tool_call)
                    elif chunk.usage:
                        attempt.usage = chunk.usage
            except ProviderError as error:
                self._settle(attempt, target, started, before, error)
                state = await self.breaker.record_failure(
                    target.endpoint.provider, target.model.name
                )
                broke_mid_stream = len(self.text) > before
                if broke_mid_stream or state == "open" or retry == self.policy.max_retries:
                    return  # the next model takes over (from the partial reply, if any)
                if not is_retryable(error.kind, error.status):
                    return
                wait = self.policy.delay(retry, error.retry_after, self.rng)
                if wait >= self.policy.max_delay:
                    return  # asked to wait longer than a user should: try the next model
                await self.sleep(wait)
                continue
            self._settle(attempt, target, started, before, None)
            await self.breaker.record_success(target.endpoint.provider, target.model.name)
            self.served_by, self.tool_calls = target, calls
            return

    async def _record_failure(self, target: Target, error: ProviderError) -> str:
        """Count failures that say something about the model's health, not about our request."""
        if is_retryable(error.kind, error.status) or error.kind == "auth":
            return await self.breaker.record_failure(target.endpoint.provider, target.model.name)
        return "closed"

    def _request(self, target: Target) -> ChatRequest:
        """The request for `target`'s model; after a broken stream, one asking to continue it."""
        messages = self.request.messages
        if self.text:
            messages = [*messages, {"role": "assistant", "content": self.text}]
            # OpenAI-style APIs have no assistant prefill: ask explicitly for the continuation.
            messages.append({"role": "user", "content": CONTINUE_INSTRUCTION})
        return replace(self.request, model=target.model.name, messages=messages)

    async def _guarded(self, chunks: AsyncIterator[ReplyChunk]) -> AsyncIterator[ReplyChunk]:
        """Cut a stream that is slow to start, stalls between tokens, or runs past its total."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeouts.total
        seen_text = False
        try:
            while True:
                limit = self.timeouts.stall if seen_text else self.timeouts.first_token
                remaining = deadline - loop.time()
                if remaining <= limit:
                    limit, kind = max(remaining, 0.0), "timeout"
                else:
                    kind = "stall" if seen_text else "ttft_timeout"
                try:
                    async with asyncio.timeout(limit):
                        chunk = await anext(chunks)
                except StopAsyncIteration:
                    return
                except TimeoutError as exc:
                    raise ProviderError(kind, f"no data for {limit:.1f} s") from exc
                seen_text = seen_text or bool(chunk.text)
                yield chunk
        finally:
            await chunks.aclose()

    def _attempt(self, target: Target, outcome: str, wait_ms: int = 0) -> Attempt:
        return Attempt(
            model=target.model.name,
            provider=target.endpoint.provider,
            outcome=outcome,
            wait_ms=wait_ms,
        )

    def _settle(
        self,
        attempt: Attempt,
        target: Target,
        started: float,
        text_before: int,
        error: ProviderError | None,
    ) -> None:
        attempt.duration_ms = round((time.monotonic() - started) * 1000)
        attempt.text_chars = len(self.text) - text_before
        if error is not None:
            attempt.outcome, attempt.status = error.kind, error.status
        if attempt.usage is None and attempt.text_chars:
            # A cut stream reports no usage, but the provider bills what it sent.
            attempt.usage = estimated_usage(self._request_chars(), attempt.text_chars)
            attempt.usage_estimated = True
        cost = cost_of(attempt.usage, target.model) if attempt.usage else None
        attempt.cost = str(cost) if cost is not None else None

    def _request_chars(self) -> int:
        messages = sum(len(m["content"] or "") for m in self.request.messages)
        return len(self.request.full_system()) + messages

    @property
    def usage(self) -> Usage | None:
        """All tokens billed for this turn, each provider call counted once."""
        reported = [a.usage for a in self.attempts if a.usage]
        if not reported:
            return None
        return Usage(
            input_tokens=sum(u.input_tokens for u in reported),
            cached_input_tokens=sum(u.cached_input_tokens for u in reported),
            cache_write_tokens=sum(u.cache_write_tokens for u in reported),
            output_tokens=sum(u.output_tokens for u in reported),
            reasoning_tokens=sum(u.reasoning_tokens for u in reported),
        )

    def cost(self) -> tuple[Decimal | None, bool]:
        """The turn's cost (sum over calls that used tokens) and whether every call was priced."""
        costs = [a.cost for a in self.attempts if a.usage]
        if any(c is None for c in costs):
            return None, False
        return (sum((Decimal(c) for c in costs), Decimal(0)) if costs else None), True

    @property
    def fallback_used(self) -> bool:
        return self.served_by is not None and self.served_by is not self.targets[0]


def estimated_usage(input_chars: int, output_chars: int) -> Usage:
    # About four characters a token for English text: an estimate, flagged as one.
    return Usage(input_tokens=-(-input_chars // 4), output_tokens=-(-output_chars // 4))
