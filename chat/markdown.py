"""Model and user text to safe HTML: markdown rendered first, then sanitised with nh3.

Order matters: cleaning before rendering misses links like `[x](javascript:...)` that only
become HTML during rendering.
"""

from __future__ import annotations

import nh3
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

from chat.highlight import CSS_CLASS, TOKEN_CLASSES, highlight_code

# html=False: raw HTML in the text is shown as text, never interpreted.
_markdown = MarkdownIt("commonmark", {"html": False, "highlight": highlight_code}).enable(
    ["table", "strikethrough"]
)

_URL_SCHEMES = {"http", "https", "mailto"}
# Only the highlighter's own classes survive: text cannot smuggle in a class of the app's CSS.
_CLASSES = {"pre": {CSS_CLASS}, "span": set(TOKEN_CLASSES)}


def render_markdown(text: str) -> SafeString:
    html = _markdown.render(text)
    return mark_safe(
        nh3.clean(
            html,
            url_schemes=_URL_SCHEMES,
            link_rel="noopener noreferrer nofollow",
            allowed_classes=_CLASSES,
        )
    )
