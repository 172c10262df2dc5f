"""What the simulator will do for one request, and where that decision comes from.

A :class:`ReplyPlan` is resolved per request by layering, later wins:
server defaults ← the first matching script entry ← ``X-Sim-*`` request headers.
To add a knob (status code, stall, disconnect, ...): add a field to
:class:`Overrides` and :class:`ReplyPlan`, and a line in the script/header parsers.
"""

import dataclasses
import itertools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from gateway.simulator.replies import default_reply, split_tokens

T = TypeVar("T")

_USAGE_KEYS = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens")


@dataclass(frozen=True)
class SimulatorDefaults:
    """Server-wide settings, from the CLI."""

    ttft_ms: int = 250
    tokens_per_s: float = 40.0
    seed: int = 0


@dataclass(frozen=True)
class Usage:
    """Token counts, each priced once: uncached input, cached input, cache writes, output."""

    input_tokens: int
    cached_input_tokens: int
    cache_write_tokens: int
    output_tokens: int

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Overrides:
    """One layer of optional settings; ``None`` means "keep what's below"."""

    reply: str | None = None
    ttft_ms: int | None = None
    tokens_per_s: float | None = None
    usage: Mapping[str, int] = field(default_factory=dict)

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
    """Everything the response writers need: fully resolved, no optionals."""

    reply: str
    tokens: list[str]
    ttft_ms: int
    tokens_per_s: float
    usage: Usage

    @property
    def ttft_s(self) -> float:
        return self.ttft_ms / 1000

    def token_delay_s(self) -> float:
        """Gap between consecutive tokens; 0 when pacing is disabled."""
        return 1 / self.tokens_per_s if self.tokens_per_s > 0 else 0.0

    def duration_s(self) -> float:
        """How long generating the whole reply takes (used by non-streaming replies)."""
        return self.ttft_s + self.token_delay_s() * max(len(self.tokens) - 1, 0)


@dataclass
class ScriptEntry:
    """A scripted response, used by requests whose last user message contains ``match``."""

    id: str
    match: str | None
    overrides: Overrides
    times: int  # uses left; 0 means forever

    def matches(self, user_text: str) -> bool:
        return self.match is None or self.match in user_text


class ScriptStore:
    """Ordered script entries; the first match wins and uses up one of its ``times``."""

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

    def take(self, user_text: str) -> ScriptEntry | None:
        entry = next((e for e in self._entries if e.matches(user_text)), None)
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
) -> ReplyPlan:
    """Resolve the plan for one request. Raises ValueError on a malformed X-Sim-* header.

    Headers are parsed before the script is consulted so a bad header does not
    use up a script entry.
    """
    header_layer = overrides_from_headers(headers)
    entry = script.take(user_text)
    merged = header_layer.over(entry.overrides) if entry else header_layer
    reply = _pick(merged.reply, lambda: default_reply(defaults.seed, model, user_text))
    tokens = split_tokens(reply)
    usage = Usage(
        input_tokens=merged.usage.get("input_tokens", prompt_tokens),
        cached_input_tokens=merged.usage.get("cached_input_tokens", 0),
        cache_write_tokens=merged.usage.get("cache_write_tokens", 0),
        output_tokens=merged.usage.get("output_tokens", len(tokens)),
    )
    return ReplyPlan(
        reply=reply,
        tokens=tokens,
        ttft_ms=_pick(merged.ttft_ms, lambda: defaults.ttft_ms),
        tokens_per_s=_pick(merged.tokens_per_s, lambda: defaults.tokens_per_s),
        usage=usage,
    )


def _pick(value: T | None, fallback: Callable[[], T]) -> T:
    # Explicit None check: "" replies and 0 timings are legitimate overrides.
    return value if value is not None else fallback()


def overrides_from_headers(headers: Mapping[str, str]) -> Overrides:
    """The ``X-Sim-*`` layer. The reply header is used verbatim."""
    return Overrides(
        reply=headers.get("X-Sim-Reply"),
        ttft_ms=_header_number(headers, "X-Sim-Ttft-Ms", int),
        tokens_per_s=_header_number(headers, "X-Sim-Tokens-Per-S", float),
    )


def _entry_from_json(entry_id: str, body: Any) -> ScriptEntry:
    if not isinstance(body, Mapping):
        raise ValueError("script entry must be a JSON object")
    tokens_per_s = _field(body, "tokens_per_s", (int, float))
    overrides = Overrides(
        reply=_field(body, "reply", str),
        ttft_ms=_field(body, "ttft_ms", int),
        tokens_per_s=float(tokens_per_s) if tokens_per_s is not None else None,
        usage=_usage_from_json(body.get("usage")),
    )
    times = _field(body, "times", int)
    return ScriptEntry(
        id=entry_id,
        match=_field(body, "match", str),
        overrides=overrides,
        times=1 if times is None else times,
    )


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


def _field(body: Mapping[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    """``body[key]`` type-checked, or None when absent/null; numbers must be >= 0."""
    value = body.get(key)
    if value is None:
        return None
    # bool is an int subclass, but a JSON true is never a valid count.
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ValueError(f"{key} has the wrong type")
    return _checked_number(key, value) if isinstance(value, int | float) else value


def _header_number(headers: Mapping[str, str], name: str, kind: type[int] | type[float]) -> Any:
    raw = headers.get(name)
    if raw is None:
        return None
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
