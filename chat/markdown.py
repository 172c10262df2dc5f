"""Model and user text to safe HTML: markdown rendered first, then sanitised with nh3.

Order matters: cleaning before rendering misses links like `[x](javascript:...)` that only
become HTML during rendering.
"""

from __future__ import annotations

import nh3
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

# html=False: raw HTML in the text is shown as text, never interpreted.
_markdown = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])

_URL_SCHEMES = {"http", "https", "mailto"}


def render_markdown(text: str) -> SafeString:
    html = _markdown.render(text)
    return mark_safe(
        nh3.clean(html, url_schemes=_URL_SCHEMES, link_rel="noopener noreferrer nofollow")
    )
