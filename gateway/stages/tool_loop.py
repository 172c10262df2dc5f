"""Stage 7's tool loop: model → tool calls → validated arguments → runs with timeouts → results
→ model, until the model answers in text.

Bounded three ways: a number of model calls (steps), a token budget over them all, and a number
of corrections (a call to an unknown tool or with arguments that do not fit its schema goes back
to the model as an error it may fix, that many times). A tool's own failure (an error, a timeout)
goes back to the model as a result; it never ends the turn. Every result is untrusted input: the
guardrails scan it for instructions aimed at the model and it is fenced as data.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field, replace

from django.conf import settings

from gateway.events import ToolUse
from gateway.providers import ChatRequest, ToolCall
from gateway.router.route import Route
from gateway.tools.mcp import TURN_SESSIONS, TurnSessions
from gateway.tools.registry import ToolResult
from gateway.tools.toolbox import NO_TOOLS, Toolbox
from guardrails.checks import fence_untrusted, scan_untrusted
from guardrails.metrics import count_verdict
from observability.tracing import stage_span

log = logging.getLogger(__name__)

WITHHELD = "[This tool result was withheld: it contains instructions aimed at the assistant.]"
STEP_LIMIT = (
    "I stopped after {steps} rounds of tool use without reaching an answer. "
    "Try asking a narrower question."
)
TOKEN_LIMIT = (
    "I stopped using tools: this answer used its budget of {budget} tokens. "
    "Try asking a narrower question."
)
GAVE_UP = (
    "I could not call the {name} tool correctly ({error}), so I stopped trying. "
    "Try rephrasing the question."
)
# The request log's error_kind for a turn a limit stopped: its reply stays (the user saw it), but
# dashboards and logs must tell it from an answer.
STOP_KINDS = {
    "max_steps": "tool_max_steps",
    "token_budget": "tool_token_budget",
    "gave_up": "tool_arguments",
}
RESULT_EXCERPT_CHARS = 2000  # what the UI and the request log keep of each result


@dataclass(frozen=True)
class Limits:
    max_steps: int
    token_budget: int
    max_corrections: int

    @classmethod
    def from_settings(cls) -> Limits:
        return cls(
            settings.TOOLS_MAX_STEPS, settings.TOOLS_TOKEN_BUDGET, settings.TOOLS_MAX_CORRECTIONS
        )


@dataclass
class ToolLoop:
    toolbox: Toolbox = NO_TOOLS
    limits: Limits = field(default_factory=Limits.from_settings)
    used: list[ToolUse] = field(default_factory=list)
    stopped: str = ""  # why the loop ended without the model's answer ("" if it answered)
    sessions: TurnSessions = field(default_factory=TurnSessions)  # MCP servers, for this turn

    def offer(self, request: ChatRequest) -> ChatRequest:
        return replace(request, tools=self.toolbox.offered()) if self.toolbox else request

    def no_store(self) -> str:
        """Why this turn's answer must not be cached ("" if the tools it used allow it)."""
        if self.stopped:  # the loop's own "I stopped" is no answer to serve again
            return f"tool_loop_{self.stopped}"
        return self.toolbox.never_cache([use.name for use in self.used])

    @property
    def error_kind(self) -> str:
        """Why a limit stopped the loop, for the request log ("" if the model answered)."""
        return STOP_KINDS.get(self.stopped, "")

    def log_entries(self) -> list[dict]:
        return [use.as_json() for use in self.used]

    async def run(self, route: Route) -> AsyncIterator[str | ToolUse]:
        """The reply's text as it streams (across steps), and a ToolUse for each call run."""
        try:
            async with aclosing(self._steps(route)) as steps:
                async for item in steps:
                    yield item
        finally:  # also on error and cancellation: the servers this turn started are stopped
            await self.sessions.aclose()

    async def _steps(self, route: Route) -> AsyncIterator[str | ToolUse]:
        corrections, shown_before, shown = 0, False, False
        while True:
            async for text in route.stream():
                if shown_before and not shown:  # a later step's text starts its own paragraph
                    text = "\n\n" + text.lstrip()
                shown = True
                yield text
            shown_before, shown = shown_before or shown, False
            calls = route.tool_calls
            if not calls or not self.toolbox:
                return
            messages = [*route.request.messages, _assistant_turn(route.text, calls)]
            results = await asyncio.gather(*(self._call(call) for call in calls))
            for call, result in zip(calls, results, strict=True):
                content = result_for_model(result)
                # People see the result without the fence (or the notice that replaced it).
                shown_result = content if content == WITHHELD else result.content()
                use = ToolUse(call.id, call.name, call.arguments, result.ok, _excerpt(shown_result))
                self.used.append(use)
                yield use
                messages.append(_tool_turn(call, result, content))
            if bad := next((r for r in results if r.invalid), None):
                corrections += 1
                if corrections > self.limits.max_corrections:
                    yield self._stop("gave_up", GAVE_UP.format(name=bad.name, error=bad.error))
                    return
            if route.steps >= self.limits.max_steps:
                yield self._stop("max_steps", STEP_LIMIT.format(steps=route.steps))
                return
            if _tokens(route) >= self.limits.token_budget:
                budget = self.limits.token_budget
                yield self._stop("token_budget", TOKEN_LIMIT.format(budget=budget))
                return
            route.next_step(messages)

    async def _call(self, call: ToolCall) -> ToolResult:
        # One span per call (parallel calls overlap), named as OpenTelemetry's GenAI conventions do.
        with stage_span("tool_call", **{"gen_ai.tool.name": call.name}) as span:
            TURN_SESSIONS.set(self.sessions)  # gather gave this call its own task and context
            result = await self.toolbox.call(call)
            span.set_attribute("switchboard.tool.ok", result.ok)
            return result

    def _stop(self, reason: str, message: str) -> str:
        self.stopped = reason
        log.warning("tool loop stopped: %s", reason)
        return f"\n\n{message}"


def result_for_model(result: ToolResult) -> str:
    """A successful result is scanned for injection and fenced as data; an error is ours."""
    if not result.ok:
        return result.content()
    text = result.content()
    verdict = scan_untrusted(text)
    count_verdict("tool", verdict)
    if verdict.blocked:
        log.warning("tool %s result withheld: injection score %.2f", result.name, verdict.score)
        return WITHHELD
    return fence_untrusted(text, f"tool {result.name}")


def _assistant_turn(text: str, calls: list[ToolCall]) -> dict:
    return {"role": "assistant", "content": text, "tool_calls": [c.as_json() for c in calls]}


def _tool_turn(call: ToolCall, result: ToolResult, content: str) -> dict:
    return {
        "role": "tool",
        "tool_call_id": call.id,
        "name": call.name,
        "content": content,
        "is_error": not result.ok,
    }


def _tokens(route: Route) -> int:
    usage = route.usage
    if usage is None:
        return 0
    return usage.input_tokens + usage.cached_input_tokens + usage.output_tokens


def _excerpt(text: str) -> str:
    return text if len(text) <= RESULT_EXCERPT_CHARS else text[:RESULT_EXCERPT_CHARS] + "…"
