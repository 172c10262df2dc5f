"""A websocket client that talks to the chat consumer the way htmx's ws extension does."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from websockets.sync.client import ClientConnection, connect

_TAGS = re.compile(r"<[^>]+>")


def visible_text(html: str) -> str:
    return " ".join(_TAGS.sub(" ", html).split())


@dataclass
class ChatSocket:
    connection: ClientConnection
    frames: list[str] = field(default_factory=list)

    @classmethod
    def open(
        cls, app_server: str, conversation_id, cookie: str | None, origin: str | None = None
    ) -> ChatSocket:
        url = app_server.replace("http://", "ws://") + f"/ws/c/{conversation_id}/"
        headers = {"Cookie": cookie} if cookie else {}
        connection = connect(
            url, origin=origin or app_server, additional_headers=headers, open_timeout=10
        )
        return cls(connection.__enter__())  # closed by close(), as the context manager would

    def send_message(self, text: str) -> None:
        self.connection.send(json.dumps({"action": "send", "message": text, "HEADERS": {}}))

    def stop(self) -> None:
        self.connection.send(json.dumps({"action": "stop", "HEADERS": {}}))

    def receive(self, timeout: float = 10.0) -> str:
        frame = self.connection.recv(timeout=timeout)
        self.frames.append(frame)
        return frame

    def receive_until(self, needle: str | Callable[[str], bool], timeout: float = 15.0) -> str:
        """Frames until one contains `needle` (or satisfies it); returns that frame."""
        matches = needle if callable(needle) else lambda frame: needle in frame
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            frame = self.receive(remaining)
            if matches(frame):
                return frame
        raise TimeoutError(f"no frame matching {needle!r} within {timeout} s")

    def receive_final(self, reply_id: int, timeout: float = 15.0) -> str:
        return self.receive_until(lambda frame: is_finished(frame, reply_id), timeout)

    def close(self) -> None:
        self.connection.close()


def is_finished(frame: str, reply_id: int) -> bool:
    """Whether `frame` is the final one: the saved reply, no longer streaming, replaces it."""
    pattern = rf'<article id="m{reply_id}" class="message assistant" data-status="(?!streaming)'
    return re.search(pattern, frame) is not None
