"""What the server needs from a wire format (``wire_openai``, ``wire_anthropic``)."""

from typing import Any, Protocol

from gateway.simulator.plan import ReplyPlan


class WireReply(Protocol):
    """A reply in one API's format: ``wire_openai.ChatCompletion``, ``wire_anthropic.Message``."""

    @property
    def plan(self) -> ReplyPlan: ...

    def body(self) -> dict[str, Any]: ...

    def head(self) -> list[bytes]: ...

    def token(self, text: str) -> bytes: ...

    def tail(self) -> list[bytes]: ...

    # Faults (see ``faults``): an error answer, a mid-stream error event, a broken line.
    @property
    def error_event_status(self) -> int:
        """The status a non-streaming request gets where a stream would get an error event."""
        ...

    def status_body(self, status: int) -> dict[str, Any]: ...

    def error_event(self) -> bytes: ...

    def malformed(self) -> bytes: ...
