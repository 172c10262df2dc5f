"""The request journal: what each completion request asked for and how its reply ended."""

import time
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

_JOURNAL_SIZE = 1_000

# completed: the reply ended as planned (a malformed stream included: it is closed cleanly).
# failed: the simulator answered with an error (an injected status, or a mid-stream error).
# disconnected_by_server: it cut the connection on purpose (disconnect_after).
# client_disconnected: the client went away first.
Status = Literal[
    "streaming", "completed", "failed", "disconnected_by_server", "client_disconnected"
]


@dataclass
class RequestRecord:
    """What one completion request asked for and how far its reply got."""

    id: str
    api: Literal["openai", "anthropic"]
    model: str
    stream: bool
    messages: Any
    system: Any
    usage: dict[str, int]
    # The request's other parameters (max tokens, temperature, ...), to check what clients send.
    params: dict[str, Any] = field(default_factory=dict)
    # Which credential the client presented, by kind only: the simulator never keeps keys.
    auth: str = ""
    # The injected fault's short name ("status:429", "stall", "disconnect", ...), or None.
    fault: str | None = None
    status: Status = "streaming"
    tokens_sent: int = 0
    started_at: float = field(default_factory=time.time)
    ended_at: float | None = None

    def finish(self, status: Status) -> None:
        # First outcome wins: a cancellation after completion must not rewrite history.
        if self.status == "streaming":
            self.status = status
            self.ended_at = time.time()


class RequestJournal:
    """The most recent requests, oldest first, for tests to inspect."""

    def __init__(self, size: int = _JOURNAL_SIZE) -> None:
        self._records: deque[RequestRecord] = deque(maxlen=size)

    def add(self, record: RequestRecord) -> RequestRecord:
        self._records.append(record)
        return record

    def as_json(self, model: str | None = None) -> list[dict[str, Any]]:
        """Every record, or only those for exactly ``model``."""
        return [asdict(r) for r in self._records if model is None or r.model == model]

    def clear(self) -> int:
        cleared = len(self._records)
        self._records.clear()
        return cleared
