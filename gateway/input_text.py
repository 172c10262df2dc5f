"""Characters a message may not contain, shared by the chat websocket and the API.

Refused: C0 controls other than tab, newline and carriage return; DEL; C1 controls (U+0080 to
U+009F); lone surrogates (they cannot be stored as UTF-8). None of them is typed by a person,
and each can corrupt a page, a log line or a terminal that shows the message.

Allowed on purpose: bidirectional marks, embeddings, overrides and isolates (U+200E/F,
U+202A-E, U+2066-9). Right-to-left writers use them in ordinary mixed-direction text, the
guardrails remove them before judging a message (guardrails.normalize), and the page shows
each message in its own element, so an override cannot reorder anything outside it.
"""

from __future__ import annotations

import re

_REFUSED = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def refused_character(text: str) -> str | None:
    """The first refused character as `U+0007`, or None when there is none."""
    found = _REFUSED.search(text)
    return f"U+{ord(found.group(0)):04X}" if found else None


def control_character_problem(text: str) -> str | None:
    """A sentence for the user about the first refused character, or None."""
    code = refused_character(text)
    if code is None:
        return None
    what = "a NUL character" if code == "U+0000" else "a control character"
    return (
        f"That message contains {what} ({code}), which cannot be shown or stored. "
        "Remove it and retry."
    )
