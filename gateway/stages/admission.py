"""Stage 0: refuse input the rest of the pipeline must never see."""

from __future__ import annotations

from django.conf import settings


def input_problem(text: str) -> str | None:
    """A sentence telling the user what is wrong with `text`, or None when it is acceptable."""
    if not text.strip():
        return "Type a message first."
    limit = settings.CHAT_MAX_INPUT_CHARS
    if len(text) > limit:
        return f"That message is {len(text):,} characters long; the limit is {limit:,}."
    if "\x00" in text:
        return "That message contains a NUL character, which cannot be stored. Remove it and retry."
    return None
