"""Security headers on every page: a strict CSP and the usual hardening headers."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/", "/healthz"])
def test_pages_carry_a_strict_content_security_policy(client, path):
    response = client.get(path)
    policy = dict(
        directive.strip().split(" ", 1)
        for directive in response["Content-Security-Policy"].split(";")
    )
    assert policy["script-src"] == "'self'"  # no 'unsafe-inline', no 'unsafe-eval'
    assert policy["style-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'" and policy["object-src"] == "'none'"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"


def test_the_chat_page_has_no_inline_script_or_style(admin_client, openai_template):
    html = admin_client.post("/c/new/", follow=True).content.decode()
    assert "<script>" not in html and 'style="' not in html
    assert html.count("<script src=") == 4  # theme.js, htmx, htmx-ext-ws, chat.js
