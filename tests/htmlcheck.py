"""Find markup that could run script, by parsing HTML the way a browser tokenises it."""

from __future__ import annotations

from html.parser import HTMLParser

_DANGEROUS_TAGS = {"script", "img", "iframe", "object", "embed", "svg", "style", "form"}


class _Finder(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _DANGEROUS_TAGS:
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"{tag}[{name}]")
            if name in ("href", "src") and (value or "").strip().lower().startswith(
                ("javascript:", "data:", "vbscript:")
            ):
                self.found.append(f"{tag}[{name}={value}]")


def dangerous_markup(html: str) -> list[str]:
    finder = _Finder()
    finder.feed(html)
    return finder.found
