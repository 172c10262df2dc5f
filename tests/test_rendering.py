"""Markdown rendering and incremental streaming stay safe and correct."""

from __future__ import annotations

import pytest

from chat.markdown import render_markdown
from chat.streaming import StreamingReply, settled_length
from tests.htmlcheck import dangerous_markup

HOSTILE = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    '<a href="javascript:alert(1)">x</a>',
    "<iframe src=//evil></iframe>",
]


@pytest.mark.parametrize("payload", HOSTILE)
def test_hostile_markup_renders_inert(payload):
    html = render_markdown(f"before {payload} after")
    assert dangerous_markup(html) == []
    assert "before" in html and "after" in html


@pytest.mark.parametrize("payload", HOSTILE)
def test_hostile_markup_stays_inert_at_every_streaming_step(payload):
    reply = StreamingReply()
    for char in f"Intro\n\n{payload} and more\n\n":
        blocks, tail = reply.feed(char)
        for html in [*blocks, tail]:
            assert dangerous_markup(html) == []


def test_markdown_renders_lists_emphasis_tables_and_code():
    html = render_markdown(
        "**bold**\n\n- a\n- b\n\n| x | y |\n|---|---|\n| 1 | 2 |\n\n```\ncode\n```"
    )
    code = '<pre class="highlight"><code>code'
    for tag in ("<strong>bold</strong>", "<li>a</li>", "<table>", code):
        assert tag in html


def test_blocks_settle_at_blank_lines_outside_code_fences():
    text = "para one\n\n```\ncode\n\nmore code\n```\n\ntail"
    assert settled_length(text, 0) == text.index("tail")
    assert settled_length("para one\n\n```\ncode\n\nstill open", 0) == len("para one\n\n")
    assert settled_length("no blank line yet", 0) == 0


def test_streamed_blocks_add_up_to_the_whole_text():
    reply = StreamingReply()
    text = "# Title\n\nFirst paragraph.\n\n- item 1\n- item 2\n\nLast words"
    for i in range(0, len(text), 3):
        reply.feed(text[i : i + 3])
    assert len(reply.blocks) == 3
    assert "Last words" in reply.tail_html()
    assert "<h1>Title</h1>" in reply.blocks[0]
