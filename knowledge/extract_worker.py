"""Text out of an untrusted PDF or HTML file, run as a child process under hard limits.

    python -m knowledge.extract_worker pdf|html MEMORY_BYTES CPU_SECONDS  < file  > text

Runs without Django. It caps its own memory and CPU time before reading anything, and the parent
(knowledge.extraction) its wall time, so a decompression bomb or a pathological file ends this
process, not the worker that asked.
Exit status 0: the text on stdout. Exit status 3: a message for the uploader on stderr.
"""

from __future__ import annotations

import io
import logging
import resource
import sys
from html.parser import HTMLParser

MAX_PAGES = 2000
MAX_TEXT_CHARS = 5_000_000
MAX_HTML_DEPTH = 512
REJECTED = 3


class Rejected(Exception):
    """The file cannot be read; the message says why, in the uploader's terms."""


def pdf_text(data: bytes) -> str:
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError, LimitReachedError, PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise Rejected("The PDF is password-protected; upload an unprotected copy.")
        pages = len(reader.pages)
        if pages > MAX_PAGES:
            raise Rejected(f"The PDF has {pages:,} pages; the limit is {MAX_PAGES:,}.")
        parts, size = [], 0
        for page in reader.pages:
            text = page.extract_text() or ""
            size += len(text)
            if size > MAX_TEXT_CHARS:
                raise Rejected(f"The PDF holds more than {MAX_TEXT_CHARS:,} characters of text.")
            parts.append(text)
    except LimitReachedError:
        raise Rejected(
            "The PDF expands to far more data than its size suggests (a decompression bomb?); "
            "it was not read."
        ) from None
    except FileNotDecryptedError:
        raise Rejected("The PDF is password-protected; upload an unprotected copy.") from None
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError) as error:
        raise Rejected(f"The PDF is damaged and could not be read ({_short(error)}).") from None
    text = "\n\n".join(part.strip() for part in parts if part.strip())
    if not text:
        raise Rejected("The PDF has no text to read (a scan? text in images is not read).")
    return text


# Elements whose content is not prose, and elements that end a line.
_SKIPPED = {"script", "style", "template", "noscript", "head", "svg", "math", "iframe", "object"}
_BLOCKS = {
    "p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article",
    "header", "footer", "blockquote", "pre", "table", "ul", "ol", "dl", "dt", "dd", "hr",
    "title", "main", "aside", "nav", "figure", "figcaption",
}  # fmt: skip
# Elements that never have content, or that the HTML parser closes implicitly: not nesting.
_NOT_NESTING = {
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
    "track", "wbr", "p", "li", "dt", "dd", "tr", "td", "th", "option",
}  # fmt: skip


class _TextCollector(HTMLParser):
    """A streaming tokenizer (no tree, no recursion, no entity expansion): text in reading order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.size = 0
        self.depth = 0
        self.skipping = 0
        self.title = ""

    def handle_starttag(self, tag, attrs):
        if tag not in _NOT_NESTING:
            self.depth += 1
            if self.depth > MAX_HTML_DEPTH:
                raise Rejected(f"The HTML is nested more than {MAX_HTML_DEPTH} elements deep.")
        if tag in _SKIPPED:
            self.skipping += 1
        if tag in _BLOCKS:
            self.parts.append("\n")

    def handle_startendtag(self, tag, attrs):
        if tag in _BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag not in _NOT_NESTING and self.depth:
            self.depth -= 1
        if tag in _SKIPPED and self.skipping:
            self.skipping -= 1
        if tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data):
        if self.skipping:
            return
        self.size += len(data)
        if self.size > MAX_TEXT_CHARS:
            raise Rejected(f"The HTML holds more than {MAX_TEXT_CHARS:,} characters of text.")
        self.parts.append(data)


def html_text(data: bytes) -> str:
    try:
        markup = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        markup = data.decode("windows-1252", errors="replace")
    collector = _TextCollector()
    collector.feed(markup)
    collector.close()
    lines = (" ".join(line.split()) for line in "".join(collector.parts).splitlines())
    text = "\n".join(_paragraphs(lines))
    if not text:
        raise Rejected("The HTML page has no text to read.")
    return text


def _paragraphs(lines):
    """Collapse runs of empty lines to one blank line between paragraphs."""
    blank = True
    for line in lines:
        if line:
            yield line
            blank = False
        elif not blank:
            yield ""
            blank = True


def _short(error: Exception) -> str:
    return (str(error) or type(error).__name__)[:200]


def main(kind: str, memory_bytes: int, cpu_seconds: int) -> int:
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    logging.getLogger("pypdf").setLevel(logging.ERROR)  # its warnings are not the uploader's
    data = sys.stdin.buffer.read()
    try:
        text = pdf_text(data) if kind == "pdf" else html_text(data)
    except Rejected as rejected:
        sys.stderr.write(str(rejected))
        return REJECTED
    except MemoryError:
        sys.stderr.write("The file needs more memory to read than uploads are allowed.")
        return REJECTED
    except RecursionError:
        sys.stderr.write("The file is nested too deeply to read.")
        return REJECTED
    sys.stdout.buffer.write(text.encode("utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
