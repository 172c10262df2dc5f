"""The chat page in a real browser: log in, start a chat, watch a reply stream, stop one.

Headless Debian chromium driven by Playwright against Daphne and the provider simulator, so
htmx, its websocket extension, chat.js and the CSS are exercised the way a person uses them.
"""

from __future__ import annotations

import itertools

import pytest
from playwright.sync_api import expect

from tests import browserkit
from tests.browserkit import PASSWORD, SCREENSHOTS, open_new_chat, sample_until_final, send, visible
from tests.live import TITLE_MODEL

browser, page = browserkit.browser, browserkit.page  # fixtures

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Markdown to render plus markup that must stay inert. Payloads sit in their own paragraphs so
# that no emphasis can pair up across them.
MARKDOWN_REPLY = (
    "Here is a plain opening sentence that streams in word by word for the test.\n\n"
    "This paragraph has **bold** text.\n\n"
    "- first item\n"
    "- second item\n\n"
    "<script>window.__xss=1</script>\n\n"
    '<img src=x onerror="window.__xss=1">\n\n'
    "[click me](javascript:window.__xss=1)\n\n"
    "The end."
)


def test_a_reply_streams_token_by_token_and_renders_safe_markdown(
    page, app_server, simulator, celery_worker, openai_template, make_user
):
    make_user("alice", PASSWORD)
    simulator.post(
        "/_sim/script",
        json={"model": TITLE_MODEL, "reply": "Markdown sampler", "times": 1},
    )
    simulator.post(
        "/_sim/script",
        json={
            "match": "markdown please",
            "reply": MARKDOWN_REPLY,
            "ttft_ms": 200,
            "tokens_per_s": 15,
            "times": 1,
        },
    )
    open_new_chat(page, app_server, "alice")

    send(page, "Some markdown please")
    streamed, final = sample_until_final(page)

    # Tokens arrive one after another: several growing states, each extending the last.
    shown = [visible(s["text"]) for s in streamed if s["text"].strip()]
    lengths = [len(t) for t in shown]
    assert len(set(lengths)) >= 3, f"expected a visible stream, saw {shown}"
    for before, after in itertools.pairwise([*shown, visible(final["text"])]):
        assert after.startswith(before), f"{after!r} does not extend {before!r}"
    # While it streams, only Stop is offered (CSS keyed on #turn-state[data-state]).
    assert all(s["stopVisible"] and not s["sendVisible"] for s in streamed), streamed
    assert final["status"] == "complete"

    reply = page.locator("#messages article.message.assistant").last
    expect(reply).to_have_attribute("data-status", "complete")
    body = reply.locator(".message-body")
    expect(body.locator("strong")).to_have_text("bold")
    expect(body.locator("li")).to_have_text(["first item", "second item"])
    # The payload is shown as text and never runs.
    expect(body).to_contain_text("<script>window.__xss=1</script>")
    expect(body).to_contain_text('<img src=x onerror="window.__xss=1">')
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert page.locator("#messages script, #messages img").count() == 0
    for link in page.locator("#messages a").all():
        assert not (link.get_attribute("href") or "").strip().lower().startswith("javascript:")
    expect(page.locator("#stop-form .stop")).to_be_hidden()
    expect(page.locator("#composer .send")).to_be_visible()

    # The user's message is shown, and the draft was dropped once the server saved it.
    ack = page.locator("#composer-ack").get_attribute("data-ack")
    assert ack, "the server never acknowledged the message"
    mine = page.locator("#messages article.message.user")
    expect(mine).to_have_count(1)
    expect(mine.locator(".message-body")).to_have_text("Some markdown please")
    expect(page.locator("#composer-input")).to_have_value("")
    expect(reply.locator(".badge")).to_have_text("simulated")
    # After the first exchange a cheap model names the conversation in the background (Celery),
    # and the title appears live: header, sidebar and tab.
    # (The worker may still be starting: allow it the time.)
    expect(page.locator("#conversation-title")).to_have_text("Markdown sampler", timeout=60_000)
    expect(page.locator(".conversation-list a[aria-current=page]")).to_have_text("Markdown sampler")
    expect(page).to_have_title("Markdown sampler · Switchboard")

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "chat.png", full_page=True)


def test_stop_keeps_the_partial_reply_and_offers_send_again(
    page, app_server, simulator, openai_template, make_user
):
    make_user("bob", PASSWORD)
    long_reply = " ".join(f"word{i}" for i in range(200))
    simulator.post("/_sim/script", json={"reply": long_reply, "tokens_per_s": 15, "times": 1})
    open_new_chat(page, app_server, "bob")

    send(page, "Tell me a long story")
    reply = page.locator("#messages article.message.assistant").last
    body = reply.locator(".message-body")
    expect(body).to_contain_text("word3")
    expect(reply).to_have_attribute("data-status", "streaming")
    before_stop = visible(body.inner_text())

    page.get_by_role("button", name="Stop").click()

    expect(reply).to_have_attribute("data-status", "cancelled")
    expect(reply.locator(".message-meta")).to_contain_text("Stopped")
    # Everything shown before Stop survives; the rest of the answer never came.
    kept = visible(body.inner_text())
    assert kept.startswith(before_stop) and kept.startswith("word0 word1 word2 word3"), kept
    assert "word199" not in kept
    expect(page.locator("#composer .send")).to_be_visible()
    expect(page.locator("#stop-form .stop")).to_be_hidden()
