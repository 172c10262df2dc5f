"""The chat page in a real browser: log in, start a chat, watch a reply stream, stop one.

Headless Debian chromium driven by Playwright against Daphne and the provider simulator, so
htmx, its websocket extension, chat.js and the CSS are exercised the way a person uses them.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parent.parent / ".data" / "test" / "screenshots"
TIMEOUT_MS = 15_000
PASSWORD = "a-long-test-password"

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

# Records the websocket opening from the first script on, so a fast open is never missed.
WS_OPEN_PROBE = """
document.addEventListener("htmx:wsOpen", () => { window.__wsOpened = true; });
"""

# One atomic look at the newest assistant reply and the composer buttons.
SAMPLE_JS = """
() => {
  const replies = document.querySelectorAll("#messages article.message.assistant");
  const reply = replies[replies.length - 1];
  if (!reply) return null;
  return {
    status: reply.dataset.status,
    text: reply.querySelector(".message-body").innerText,
    stopVisible: document.querySelector("#stop-form .stop").checkVisibility(),
    sendVisible: document.querySelector("#composer .send").checkVisibility(),
  };
}
"""

# Resolves once the reply's text or status differs from what the test saw last.
CHANGED_JS = """
([text, status]) => {
  const replies = document.querySelectorAll("#messages article.message.assistant");
  const reply = replies[replies.length - 1];
  return !!reply && (reply.dataset.status !== status
                     || reply.querySelector(".message-body").innerText !== text);
}
"""


def _visible(text: str) -> str:
    """Text as compared while streaming: `**` vanishes once its pair arrives, spacing varies."""
    return " ".join(text.replace("*", "").split())


@pytest.fixture(scope="module")
def browser(app_server) -> Iterator[Browser]:
    # Playwright's sync API leaves its event loop marked as running in this thread, which
    # Django's async-safety check takes for ORM calls made from a coroutine (make_user, the
    # test database flush). Nothing runs concurrently, so allow it: in this process only, and
    # only after Daphne (a dependency here) has started, so the app itself stays checked.
    with pytest.MonkeyPatch.context() as env, sync_playwright() as playwright:
        env.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh context per test: no cookies or storage carried over."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    context.add_init_script(WS_OPEN_PROBE)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    # The strict Content-Security-Policy must never have to block anything the app itself does.
    page.on(
        "console",
        lambda msg: errors.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    yield page
    context.close()
    assert not errors, f"errors in the page: {errors}"


def _open_new_chat(page: Page, app_server: str, username: str) -> None:
    """Log in through the form, start a chat, and wait until its websocket is open."""
    page.goto(f"{app_server}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{app_server}/")

    page.locator("#new-chat").click()
    expect(page).to_have_url(re.compile(re.escape(app_server) + r"/c/[0-9a-f-]{36}/$"))
    _poll(page, "() => window.__wsOpened === true")


def _poll(page: Page, js: str, arg=None, until=bool, timeout_ms: int = TIMEOUT_MS):
    """Evaluate `js` until `until(result)`. Not wait_for_function: Playwright builds its predicate
    with eval, which the app's Content-Security-Policy (rightly) refuses."""
    deadline = time.monotonic() + timeout_ms / 1000
    while not until(result := page.evaluate(js, arg)):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_ms} ms waiting on {js.strip()[:60]}")
        page.wait_for_timeout(15)
    return result


def _send(page: Page, text: str) -> None:
    composer = page.locator("#composer-input")
    composer.click()
    composer.press_sequentially(text)
    composer.press("Enter")


def _sample_until_final(page: Page) -> tuple[list[dict], dict]:
    """Every distinct state of the reply while it streams, then its final state."""
    _poll(page, SAMPLE_JS, until=lambda sample: sample is not None)
    seen: list[dict] = []
    sample = page.evaluate(SAMPLE_JS)
    while sample["status"] == "streaming":
        seen.append(sample)
        _poll(page, CHANGED_JS, arg=[sample["text"], sample["status"]])
        sample = page.evaluate(SAMPLE_JS)
    return seen, sample


def test_a_reply_streams_token_by_token_and_renders_safe_markdown(
    page, app_server, simulator, openai_template, make_user
):
    make_user("alice", PASSWORD)
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
    _open_new_chat(page, app_server, "alice")

    _send(page, "Some markdown please")
    streamed, final = _sample_until_final(page)

    # Tokens arrive one after another: several growing states, each extending the last.
    shown = [_visible(s["text"]) for s in streamed if s["text"].strip()]
    lengths = [len(t) for t in shown]
    assert len(set(lengths)) >= 3, f"expected a visible stream, saw {shown}"
    for before, after in itertools.pairwise([*shown, _visible(final["text"])]):
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
    mine = page.locator(f"#m{ack}")
    expect(mine).to_have_class(re.compile(r"\buser\b"))
    expect(mine.locator(".message-body")).to_have_text("Some markdown please")
    expect(page.locator("#composer-input")).to_have_value("")
    expect(reply.locator(".badge")).to_have_text("simulated")
    # The first message names the conversation, live: header, sidebar and tab.
    expect(page.locator("#conversation-title")).to_have_text("Some markdown please")
    expect(page.locator(".conversation-list a[aria-current=page]")).to_have_text(
        "Some markdown please"
    )
    expect(page).to_have_title("Some markdown please · Switchboard")

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "chat.png", full_page=True)


def test_stop_keeps_the_partial_reply_and_offers_send_again(
    page, app_server, simulator, openai_template, make_user
):
    make_user("bob", PASSWORD)
    long_reply = " ".join(f"word{i}" for i in range(200))
    simulator.post("/_sim/script", json={"reply": long_reply, "tokens_per_s": 15, "times": 1})
    _open_new_chat(page, app_server, "bob")

    _send(page, "Tell me a long story")
    reply = page.locator("#messages article.message.assistant").last
    body = reply.locator(".message-body")
    expect(body).to_contain_text("word3")
    expect(reply).to_have_attribute("data-status", "streaming")
    before_stop = _visible(body.inner_text())

    page.get_by_role("button", name="Stop").click()

    expect(reply).to_have_attribute("data-status", "cancelled")
    expect(reply.locator(".message-meta")).to_contain_text("Stopped")
    # Everything shown before Stop survives; the rest of the answer never came.
    kept = _visible(body.inner_text())
    assert kept.startswith(before_stop) and kept.startswith("word0 word1 word2 word3"), kept
    assert "word199" not in kept
    expect(page.locator("#composer .send")).to_be_visible()
    expect(page.locator("#stop-form .stop")).to_be_hidden()
