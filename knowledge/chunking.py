"""Documents into passages: whole sentences, about CHUNK_CHARS long, overlapping by a sentence or
two so that an answer spanning a boundary is still found in one passage."""

from __future__ import annotations

import re

CHUNK_CHARS = 700
OVERLAP_CHARS = 160

# A sentence ends at . ! ? (and closing quotes or brackets) before whitespace, or at a paragraph
# break.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+")
# Paragraph breaks: a blank line, or a line opening a heading, list item or table row.
_PARAGRAPH = re.compile(r"\n\s*\n|\n(?=#{1,6} )|\n(?=[-*+] )|\n(?=\d+[.)] )|\n(?=\|)")
_HEADING = re.compile(r"^(#{1,6} .*)$", re.M)


def sentences(text: str) -> list[str]:
    found = []
    for paragraph in _PARAGRAPH.split(_HEADING.sub("\\1\n", text)):
        paragraph = " ".join(paragraph.split())
        for sentence in _SENTENCE_END.split(paragraph):
            found.extend(_hard_wrap(sentence.strip()))
    return [s for s in found if s]


def _hard_wrap(sentence: str) -> list[str]:
    """A 'sentence' longer than a chunk (a table, a run-on list) is cut between words."""
    if len(sentence) <= CHUNK_CHARS:
        return [sentence]
    pieces, current = [], ""
    for word in sentence.split(" "):
        if current and len(current) + 1 + len(word) > CHUNK_CHARS:
            pieces.append(current)
            current = ""
        current = f"{current} {word}" if current else word[:CHUNK_CHARS]
    return [*pieces, current]


def chunk_text(text: str) -> list[str]:
    chunks: list[str] = []
    current: list[str] = []
    for sentence in sentences(text):
        if current and _length([*current, sentence]) > CHUNK_CHARS:
            chunks.append(" ".join(current))
            current = _overlap(current)
            # The overlap never makes a chunk outgrow the limit on its own.
            while current and _length([*current, sentence]) > CHUNK_CHARS:
                current.pop(0)
        current.append(sentence)
    if current:
        chunks.append(" ".join(current))
    return chunks


def _overlap(previous: list[str]) -> list[str]:
    """The last sentences of the previous chunk, up to OVERLAP_CHARS (at least one if it fits)."""
    kept: list[str] = []
    for sentence in reversed(previous):
        if _length([sentence, *kept]) > OVERLAP_CHARS:
            break
        kept.insert(0, sentence)
    return kept


def _length(parts: list[str]) -> int:
    return sum(len(p) for p in parts) + max(len(parts) - 1, 0)
