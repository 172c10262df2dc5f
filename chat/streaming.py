"""Incremental rendering of a streaming reply: settled markdown blocks plus one growing tail.

A block is settled once a blank line outside a code fence follows it: later text cannot change
how it renders, so it is rendered once and appended. Only the tail is re-rendered per frame,
which keeps long answers cheap and stops the page from flickering.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.utils.safestring import SafeString

from chat.markdown import render_markdown

_FENCE = re.compile(r"^ {0,3}(```|~~~)")


def settled_length(text: str, start: int) -> int:
    """Index just past the last blank line outside a code fence in text[start:], or `start`."""
    in_fence = False
    boundary = start
    position = start
    for line in text[start:].splitlines(keepends=True):
        position += len(line)
        if not line.endswith("\n"):
            break  # an unfinished line can still become anything
        if _FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence and not line.strip():
            boundary = position
    return boundary


@dataclass
class StreamingReply:
    text: str = ""
    settled: int = 0
    blocks: list[SafeString] = field(default_factory=list)

    def feed(self, delta: str) -> tuple[list[SafeString], SafeString]:
        """Add `delta`; return the newly settled blocks and the re-rendered tail."""
        self.text += delta
        boundary = settled_length(self.text, self.settled)
        new_blocks: list[SafeString] = []
        if boundary > self.settled:
            new_blocks.append(render_markdown(self.text[self.settled : boundary]))
            self.blocks.extend(new_blocks)
            self.settled = boundary
        return new_blocks, self.tail_html()

    def tail_html(self) -> SafeString:
        return render_markdown(self.text[self.settled :])
