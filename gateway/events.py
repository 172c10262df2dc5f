"""What the pipeline yields. Transports (websocket, HTTP API) only translate these."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from gateway.usage import Usage


@dataclass(frozen=True)
class Accepted:
    """The user's message is saved and a reply placeholder exists: render both before tokens."""

    user_message_id: int
    reply_message_id: int
    model: str
    simulated: bool
    retry: bool = False  # the user's message was saved (and shown) by an earlier turn


@dataclass(frozen=True)
class Delta:
    text: str


@dataclass(frozen=True)
class Notice:
    """Something the user should know about this turn (e.g. a cheaper model over budget)."""

    text: str


@dataclass(frozen=True)
class Citation:
    """A knowledge-base passage the reply was given: shown under the answer as [n]."""

    n: int
    document_id: int
    document_title: str
    passage: int  # the passage's position in its document, from 1
    excerpt: str

    def as_json(self) -> dict:
        return {
            "n": self.n,
            "document_id": self.document_id,
            "document": self.document_title,
            "passage": self.passage,
            "excerpt": self.excerpt,
        }


@dataclass(frozen=True)
class ToolUse:
    """A tool the model called, with what it was given and what it returned (or why not)."""

    call_id: str
    name: str
    arguments: str  # as the model sent them (JSON text, possibly malformed)
    ok: bool
    result: str  # the tool's output as the model read it, or the error it was told

    def as_json(self) -> dict:
        return {
            "call_id": self.call_id,
            "name": self.name,
            "arguments": self.arguments,
            "ok": self.ok,
            "result": self.result,
        }


@dataclass(frozen=True)
class Error:
    """The turn ended without a complete answer. `message` is safe to show to the user."""

    kind: str
    message: str


@dataclass(frozen=True)
class Replace:
    """The output guard retracted the reply: everything shown so far becomes `text`."""

    text: str


@dataclass(frozen=True)
class Blocked:
    """A guardrail ended the turn. `message` says why in plain words; `reason` is its code."""

    reason: str
    message: str
    stage: str  # "input" (the user's message was not sent) or "output" (the reply was withheld)


@dataclass(frozen=True)
class Done:
    usage: Usage
    cost: Decimal | None
    model: str
    cache_hit: bool = False
    timings: dict[str, int] = field(default_factory=dict)


Event = Accepted | Notice | Delta | Citation | ToolUse | Replace | Blocked | Error | Done
