"""Shared pieces of the browser tests: headless Debian chromium driven by Playwright."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

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
expect.set_options(timeout=TIMEOUT_MS)  # a shared, busy machine: as patient as the context
PASSWORD = "a-long-test-password"

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


def visible(text: str) -> str:
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
def page(browser: Browser, request) -> Iterator[Page]:
    """A fresh context per test: no cookies or storage carried over. Options for the context
    (viewport, color_scheme, permissions) come from `@pytest.mark.context(...)`."""
    marker = request.node.get_closest_marker("context")
    options = {"viewport": {"width": 1280, "height": 900}, **(marker.kwargs if marker else {})}
    context = browser.new_context(**options)
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


def open_new_chat(page: Page, app_server: str, username: str) -> None:
    """Log in through the form, start a chat, and wait until its websocket is open."""
    log_in(page, app_server, username)
    start_chat(page, app_server)


def log_in(page: Page, app_server: str, username: str) -> None:
    page.goto(f"{app_server}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{app_server}/")


def start_chat(page: Page, app_server: str, assistant: str | None = None) -> None:
    """New chat, pick an assistant (the default one unless named), and wait for the websocket."""
    if not page.locator("#new-chat").is_visible():  # a small screen: the list is a drawer
        page.get_by_role("button", name="Conversations").click()
    page.locator("#new-chat").click()
    if assistant:
        page.get_by_label(assistant).check()
    page.get_by_role("button", name="Start chat").click()
    expect(page).to_have_url(re.compile(re.escape(app_server) + r"/c/[0-9a-f-]{36}/$"))
    poll(page, "() => window.__wsOpened === true")


def poll(page: Page, js: str, arg=None, until=bool, timeout_ms: int = TIMEOUT_MS):
    """Evaluate `js` until `until(result)`. Not wait_for_function: Playwright builds its predicate
    with eval, which the app's Content-Security-Policy (rightly) refuses."""
    deadline = time.monotonic() + timeout_ms / 1000
    while not until(result := page.evaluate(js, arg)):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_ms} ms waiting on {js.strip()[:60]}")
        page.wait_for_timeout(15)
    return result


def send(page: Page, text: str) -> None:
    composer = page.locator("#composer-input")
    composer.click()
    composer.press_sequentially(text)
    composer.press("Enter")


def sample_until_final(page: Page) -> tuple[list[dict], dict]:
    """Every distinct state of the reply while it streams, then its final state."""
    poll(page, SAMPLE_JS, until=lambda sample: sample is not None)
    seen: list[dict] = []
    sample = page.evaluate(SAMPLE_JS)
    while sample["status"] == "streaming":
        seen.append(sample)
        poll(page, CHANGED_JS, arg=[sample["text"], sample["status"]])
        sample = page.evaluate(SAMPLE_JS)
    return seen, sample
