"""What an uploaded file is, judged by its bytes: its name and declared type are not trusted."""

from __future__ import annotations

import re

from knowledge.models import Kind

_HEAD = 4096
# A page, or a fragment that opens with a common element (after comments).
_HTML_START = re.compile(
    rb"^\s*(<!--.*?-->\s*)*"
    rb"<(!doctype\s+html|html|head|body|div|p|h[1-6]|section|article|main|table|ul|ol|title|meta)"
    rb"[\s/>]",
    re.I | re.S,
)
_XHTML = re.compile(rb"^\s*<\?xml[^>]*\?>\s*(<!doctype\s+html|<html)", re.I | re.S)
_BINARY_MAGIC = {
    b"PK\x03\x04": "a ZIP archive (Word, Excel and similar files are ZIP archives)",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"\x1f\x8b": "a gzip archive",
    b"\x7fELF": "a program",
    b"MZ": "a program",
    b"\xd0\xcf\x11\xe0": "an old Office document",
}


class UnsupportedFile(ValueError):
    """The file is not one the knowledge base reads. The message is for the person uploading."""


def sniff(data: bytes, *, file_name: str = "") -> Kind:
    """The file's kind from its content; the name only tells Markdown from plain text."""
    if not data.strip():
        raise UnsupportedFile("The file is empty.")
    head = data[:_HEAD]
    # PDF readers accept the header anywhere in the first kilobyte, so this does too.
    if b"%PDF-" in head[:1024]:
        return Kind.PDF
    for magic, what in _BINARY_MAGIC.items():
        if head.startswith(magic):
            raise UnsupportedFile(f"This file is {what}; upload text, Markdown, PDF or HTML.")
    if b"\x00" in head:
        raise UnsupportedFile("This is a binary file; upload text, Markdown, PDF or HTML.")
    bare = head.removeprefix(b"\xef\xbb\xbf")
    if _HTML_START.match(bare) or _XHTML.match(bare):
        return Kind.HTML
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        raise UnsupportedFile(
            "This file is neither PDF nor HTML, and is not UTF-8 text; save it as UTF-8 and retry."
        ) from None
    if file_name.lower().endswith((".md", ".markdown")):
        return Kind.MARKDOWN
    return Kind.TEXT
