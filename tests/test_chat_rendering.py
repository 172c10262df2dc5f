"""Code blocks highlighted on the server, with classes only (the CSP forbids inline styles)."""

from __future__ import annotations

from pathlib import Path

from chat.highlight import stylesheet
from chat.markdown import render_markdown

STATIC = Path(__file__).resolve().parent.parent / "static" / "chat"


def test_code_is_highlighted_with_classes_and_stays_escaped():
    html = render_markdown('```python\nif x < 1:\n    print("<script>")\n```')
    assert '<pre class="highlight"><code><span class="k">if</span>' in html
    assert "&lt;script&gt;" in html and "<script>" not in html
    assert "style=" not in html


def test_an_unknown_language_is_shown_as_plain_code():
    html = render_markdown("```no-such-language\n<b>bold?</b>\n```")
    assert html.startswith('<pre class="highlight"><code>&lt;b&gt;bold?&lt;/b&gt;')


def test_the_stylesheet_in_static_is_the_generated_one():
    # Regenerate: python -c "from chat.highlight import stylesheet as s; print(s(), end='')"
    assert (STATIC / "pygments.css").read_text() == stylesheet()
