"""What the simulator will do for one request, and where that decision comes from.

A :class:`ReplyPlan` is resolved per request by layering, later wins:
server defaults ← the first matching script entry ← ``X-Sim-*`` request headers.
Each knob has one name, its script JSON key; its header is derived from it
(``retry_after_ms`` → ``X-Sim-Retry-After-Ms``). To add a knob: add it to
``_KNOBS``, to :class:`Overrides` and :class:`ReplyPlan`, and build it in ``_layer``.

Faults come in three independent parts, each replaced whole by a higher layer:
``fault`` ends the request abnormally (an HTTP error status, or a stream cut short
by a disconnect, a malformed line or an error event), ``stall`` pauses the stream,
and ``refusal`` turns the reply into a refusal.

``tool_calls`` (script only: ``[{"name", "arguments": object or raw JSON text, "id"?}]``) makes
the reply ask for those calls, in either API's format; ``{{tool_result}}`` and
``{{tool_result.key}}`` in a reply are filled from the last tool result the request carries.
"""

import dataclasses
import itertools
import json
import math
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from gateway.simulator.replies import default_reply, fill_reply, split_tokens

T = TypeVar("T")

_USAGE_KEYS = (
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
)

# A stall without stall_ms lasts until the client gives up, but not past this.
FOREVER_STALL_MS = 600_000


@dataclass(frozen=True)
class SimulatorDefaults:
    """Server-wide settings, from the CLI."""

    ttft_ms: int = 250
    tokens_per_s: float = 40.0
    seed: int = 0
    # Models that answer on their own: only script entries naming them apply to their requests.
    # A background job calling such a model never uses up a reply scripted for someone else.
    own_models: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Usage:
    """Token counts, each priced once: uncached input, cached input, cache writes, output."""

    input_tokens: int
    cached_input_tokens: int
    cache_write_tokens: int
    output_tokens: int
    reasoning_tokens: int = 0  # part of output_tokens, as OpenAI reports it

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class StatusFault:
    """Answer with an HTTP error in the API's own format instead of a reply."""

    status: int
    retry_after: float | None = None  # seconds, sent as Retry-After
    retry_after_ms: float | None = None  # sent as retry-after-ms

    @property
    def name(self) -> str:
        return f"status:{self.status}"


EndKind = Literal["disconnect", "malformed", "error_event"]


@dataclass(frozen=True)
class StreamFault:
    """End the reply abnormally once ``after`` content tokens have been sent."""

    kind: EndKind
    after: int

    @property
    def name(self) -> str:
        return self.kind


Fault = StatusFault | StreamFault


@dataclass(frozen=True)
class Stall:
    """Stop sending for a while once ``after`` content tokens have been sent."""

    after: int
    ms: int | None = None  # None: until the client goes away (FOREVER_STALL_MS at most)

    @property
    def seconds(self) -> float:
        return (FOREVER_STALL_MS if self.ms is None else self.ms) / 1000


@dataclass(frozen=True)
class PlannedCall:
    """A tool call the reply asks for. ``arguments`` is sent verbatim: a test may garble it."""

    name: str
    arguments: str
    id: str = ""


@dataclass(frozen=True)
class Overrides:
    """One layer of optional settings; ``None`` means "keep what's below"."""

    reply: str | None = None
    ttft_ms: int | None = None
    tokens_per_s: float | None = None
    usage: Mapping[str, int] = field(default_factory=dict)
    fault: Fault | None = None
    stall: Stall | None = None
    refusal: bool | None = None
    tool_calls: tuple[PlannedCall, ...] | None = None

    def over(self, below: "Overrides") -> "Overrides":
        """This layer stacked on top of ``below``."""
        changes = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name != "usage" and getattr(self, f.name) is not None
        }
        return dataclasses.replace(below, **changes, usage={**below.usage, **self.usage})


@dataclass(frozen=True)
class ReplyPlan:
    """Everything the response writers need: fully resolved, no optional knobs.

    ``fault.after`` and ``stall.after`` are capped at ``len(tokens)``: a fault set past
    the end of the reply fires after its last token, before the closing events.
    """

    reply: str
    tokens: list[str]
    ttft_ms: int
    tokens_per_s: float
    usage: Usage
    fault: Fault | None = None
    stall: Stall | None = None
    refusal: bool = False
    tool_calls: tuple[PlannedCall, ...] = ()

    @property
    def ttft_s(self) -> float:
        return self.ttft_ms / 1000

    @property
    def fault_name(self) -> str | None:
        """The journal's short name for what goes wrong (or differs) with this reply."""
        if self.fault is not None:
            return self.fault.name
        if self.stall is not None:
            return "stall"
        return "refusal" if self.refusal else None

    def token_delay_s(self) -> float:
        """Gap between consecutive tokens; 0 when pacing is disabled."""
        return 1 / self.tokens_per_s if self.tokens_per_s > 0 else 0.0

    def duration_s(self, tokens: int | None = None) -> float:
        """How long generating the first ``tokens`` (default: all) tokens takes, stall included.

        Non-streaming replies wait this long before answering.
        """
        count = len(self.tokens) if tokens is None else tokens
        # A stall fires once `after` tokens are out, even if the reply ends right there.
        stall = self.stall.seconds if self.stall and self.stall.after <= count else 0.0
        return self.ttft_s + self.token_delay_s() * max(count - 1, 0) + stall


@dataclass
class ScriptEntry:
    """A scripted response, for requests whose last user message contains ``match``
    and whose model is exactly ``model`` (either filter may be None: anything goes)."""

    id: str
    match: str | None
    overrides: Overrides
    times: int  # uses left; 0 means forever
    model: str | None = None

    def matches(self, user_text: str, model: str, *, named_only: bool = False) -> bool:
        """`named_only`: the entry must name `model` (an own model of the simulator)."""
        model_ok = self.model == model if named_only else self.model in (None, model)
        return model_ok and (self.match is None or self.match in user_text)


class ScriptStore:
    """Ordered script entries; the first match wins and uses up one of its ``times``.

    A sequence of responses (429, 429, then a reply) is several ``times: 1`` entries.
    """

    def __init__(self) -> None:
        self._entries: list[ScriptEntry] = []
        self._ids = itertools.count(1)

    def add(self, body: Any) -> ScriptEntry:
        """Append an entry from its JSON body; raises ValueError if it is malformed."""
        entry = _entry_from_json(f"script_{next(self._ids)}", body)
        self._entries.append(entry)
        return entry

    def clear(self) -> int:
        cleared = len(self._entries)
        self._entries.clear()
        return cleared

    def take(self, user_text: str, model: str, *, named_only: bool = False) -> ScriptEntry | None:
        entry = next(
            (e for e in self._entries if e.matches(user_text, model, named_only=named_only)), None
        )
        if entry is not None and entry.times > 0:
            entry.times -= 1
            if entry.times == 0:
                self._entries.remove(entry)
        return entry


def resolve_plan(
    defaults: SimulatorDefaults,
    script: ScriptStore,
    headers: Mapping[str, str],
    *,
    model: str,
    user_text: str,
    prompt_tokens: int,
    system: str = "",
    tool_result: str = "",
) -> ReplyPlan:
    """Resolve the plan for one request. Raises ValueError on a malformed X-Sim-* header.

    Headers are parsed before the script is consulted so a bad header does not
    use up a script entry.
    """
    header_layer = overrides_from_headers(headers)
    entry = script.take(user_text, model, named_only=model in defaults.own_models)
    merged = header_layer.over(entry.overrides) if entry else header_layer
    calls = tuple(
        dataclasses.replace(call, id=call.id or f"call_{uuid.uuid4().hex[:20]}")
        for call in merged.tool_calls or ()
    )
    if merged.reply is not None:
        reply = merged.reply
    elif calls:  # a model that calls tools usually says nothing else
        reply = ""
    else:
        reply = default_reply(defaults.seed, model, user_text)
    # "{{system}}" leaks the instructions; "{{tool_result.key}}" reads the last tool result.
    reply = fill_reply(reply, system=system, tool_result=tool_result)
    tokens = split_tokens(reply)
    usage = Usage(
        input_tokens=merged.usage.get("input_tokens", prompt_tokens),
        cached_input_tokens=merged.usage.get("cached_input_tokens", 0),
        cache_write_tokens=merged.usage.get("cache_write_tokens", 0),
        output_tokens=merged.usage.get("output_tokens", len(tokens)),
        reasoning_tokens=merged.usage.get("reasoning_tokens", 0),
    )
    fault, stall = merged.fault, merged.stall
    if isinstance(fault, StreamFault):
        fault = dataclasses.replace(fault, after=min(fault.after, len(tokens)))
    if stall is not None:
        stall = dataclasses.replace(stall, after=min(stall.after, len(tokens)))
    return ReplyPlan(
        reply=reply,
        tokens=tokens,
        ttft_ms=_pick(merged.ttft_ms, lambda: defaults.ttft_ms),
        tokens_per_s=_pick(merged.tokens_per_s, lambda: defaults.tokens_per_s),
        usage=usage,
        fault=fault,
        stall=stall,
        refusal=bool(merged.refusal),
        tool_calls=calls,
    )


def _pick(value: T | None, fallback: Callable[[], T]) -> T:
    # Explicit None check: "" replies and 0 timings are legitimate overrides.
    return value if value is not None else fallback()


# Every per-request knob by its script JSON key, with the type of its value.
_KNOBS: dict[str, type] = {
    "reply": str,
    "ttft_ms": int,
    "tokens_per_s": float,
    "status": int,
    "retry_after": float,
    "retry_after_ms": float,
    "stall_after": int,
    "stall_ms": int,
    "disconnect_after": int,
    "malformed_after": int,
    "error_event_after": int,
    "refusal": bool,
}
_STREAM_FAULTS: dict[str, EndKind] = {
    "disconnect_after": "disconnect",
    "malformed_after": "malformed",
    "error_event_after": "error_event",
}
_ENTRY_KEYS = {*_KNOBS, "match", "model", "times", "usage", "tool_calls"}
_FLAGS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def header_name(key: str) -> str:
    """The ``X-Sim-*`` header for a script key: ``retry_after_ms`` → ``X-Sim-Retry-After-Ms``."""
    return "X-Sim-" + "-".join(word.capitalize() for word in key.split("_"))


def overrides_from_headers(headers: Mapping[str, str]) -> Overrides:
    """The ``X-Sim-*`` layer. The reply header is used verbatim."""
    values = {key: _header_value(headers, header_name(key), kind) for key, kind in _KNOBS.items()}
    return _layer(values, header_name)


def _entry_from_json(entry_id: str, body: Any) -> ScriptEntry:
    if not isinstance(body, Mapping):
        raise ValueError("script entry must be a JSON object")
    # A misspelt fault knob would otherwise be a silent success.
    unknown = set(body) - _ENTRY_KEYS
    if unknown:
        raise ValueError(f"unknown script keys: {sorted(unknown)}")
    values = {key: _field(body, key, kind) for key, kind in _KNOBS.items()}
    times = _field(body, "times", int)
    return ScriptEntry(
        id=entry_id,
        match=_field(body, "match", str),
        model=_field(body, "model", str),
        overrides=dataclasses.replace(
            _layer(values, str, usage=_usage_from_json(body.get("usage"))),
            tool_calls=_tool_calls_from_json(body.get("tool_calls")),
        ),
        times=1 if times is None else times,
    )


def _layer(
    values: Mapping[str, Any],
    name: Callable[[str], str],
    usage: Mapping[str, int] | None = None,
) -> Overrides:
    """One layer from its knob values (None = not given), checking the fault knobs fit.

    ``name`` spells a key as the caller wrote it (JSON key or header), for error messages.
    """
    given = {key for key, value in values.items() if value is not None}
    endings = sorted(given & {"status", *_STREAM_FAULTS})
    if len(endings) > 1:
        raise ValueError(f"pick one of {', '.join(map(name, endings))}: a reply ends only once")
    for knob, needs in (
        ("retry_after", "status"),
        ("retry_after_ms", "status"),
        ("stall_ms", "stall_after"),
    ):
        if knob in given and needs not in given:
            raise ValueError(f"{name(knob)} needs {name(needs)}")
    if {"status", "stall_after"} <= given:
        # A status answer is sent at once: there is no stream to stall.
        raise ValueError(f"{name('stall_after')} cannot be combined with {name('status')}")
    stall = Stall(values["stall_after"], values["stall_ms"]) if "stall_after" in given else None
    return Overrides(
        reply=values["reply"],
        ttft_ms=values["ttft_ms"],
        tokens_per_s=values["tokens_per_s"],
        usage=usage or {},
        fault=_fault(values, name),
        stall=stall,
        refusal=values["refusal"],
    )


def _fault(values: Mapping[str, Any], name: Callable[[str], str]) -> Fault | None:
    status = values["status"]
    if status is not None:
        if not 400 <= status <= 599:
            raise ValueError(f"{name('status')} must be an HTTP error status, 400 to 599")
        return StatusFault(status, values["retry_after"], values["retry_after_ms"])
    for key, kind in _STREAM_FAULTS.items():
        if values[key] is not None:
            return StreamFault(kind, values[key])
    return None


def _tool_calls_from_json(raw: Any) -> tuple[PlannedCall, ...] | None:
    """``[{"name", "arguments": object or raw JSON text, "id"?}]``: calls in one reply."""
    if raw is None:
        return None
    if not isinstance(raw, list) or not raw:
        raise ValueError("tool_calls must be a non-empty list")
    calls = []
    for call in raw:
        if not isinstance(call, Mapping) or not isinstance(call.get("name"), str):
            raise ValueError("each tool call needs a name")
        if unknown := set(call) - {"name", "arguments", "id"}:
            raise ValueError(f"unknown tool call keys: {sorted(unknown)}")
        arguments = call.get("arguments", {})
        text = arguments if isinstance(arguments, str) else json.dumps(arguments)
        calls.append(PlannedCall(call["name"], text, str(call.get("id") or "")))
    return tuple(calls)


def _usage_from_json(raw: Any) -> dict[str, int]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ValueError("usage must be an object")
    unknown = set(raw) - set(_USAGE_KEYS)
    if unknown:
        raise ValueError(f"unknown usage keys: {sorted(unknown)}")
    # Explicit nulls mean "not overridden", like a missing key.
    counts = {key: _field(raw, key, int) for key in raw}
    return {key: value for key, value in counts.items() if value is not None}


def _field(body: Mapping[str, Any], key: str, kind: type) -> Any:
    """``body[key]`` type-checked, or None when absent/null; numbers must be >= 0.

    ``float`` accepts JSON integers too (and converts them).
    """
    value = body.get(key)
    if value is None:
        return None
    accepted: type | tuple[type, ...] = (int, float) if kind is float else kind
    # bool is an int subclass, but a JSON true is never a valid count.
    if not isinstance(value, accepted) or (isinstance(value, bool) and kind is not bool):
        raise ValueError(f"{key} has the wrong type")
    if kind is bool or not isinstance(value, int | float):
        return value
    return _checked_number(key, float(value) if kind is float else value)


def _header_value(headers: Mapping[str, str], name: str, kind: type) -> Any:
    raw = headers.get(name)
    if raw is None or kind is str:
        return raw
    if kind is bool:
        flag = _FLAGS.get(raw.strip().lower())
        if flag is None:
            raise ValueError(f"{name} must be true or false")
        return flag
    try:
        value = kind(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number ({kind.__name__})") from None
    return _checked_number(name, value)


def _checked_number(name: str, value: float) -> float:
    # Python's json and float() both accept NaN/Infinity, which would break pacing maths.
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0")
    return value
