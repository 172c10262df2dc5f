"""The tools a reply ran, in a real browser: a collapsible block per call with its arguments and
result, shown as it happens and kept after a reload, escaped like everything the model sends."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from chat.titles import TITLE_REQUEST
from tests import browserkit
from tests.browserkit import PASSWORD, open_new_chat, send

browser, page = browserkit.browser, browserkit.page  # fixtures

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

QUESTION = "What is 1234 * 5678?"
HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture(autouse=True)
def _titles(simulator):
    simulator.post("/_sim/script", json={"match": TITLE_REQUEST, "reply": "Titled", "times": 0})


def test_the_reply_shows_which_tools_ran_with_arguments_and_results(
    page, app_server, simulator, openai_template, make_user
):
    openai_template.tools = ["calculator"]
    openai_template.save()
    make_user("tess", PASSWORD)
    calls = [
        {"name": "calculator", "arguments": {"expression": HOSTILE}},
        {"name": "calculator", "arguments": {"expression": "1234 * 5678"}},
    ]
    simulator.post("/_sim/script", json={"match": QUESTION, "tool_calls": calls})
    reply = "1234 * 5678 = {{tool_result.result}}."
    simulator.post("/_sim/script", json={"match": QUESTION, "reply": reply})
    open_new_chat(page, app_server, "tess")

    send(page, QUESTION)

    answer = page.locator("#messages article.message.assistant").last
    expect(answer.locator(".message-body")).to_contain_text("1234 * 5678 = 7006652.")
    expect(answer).to_have_attribute("data-status", "complete")
    for shown in (answer, page.locator("#messages article.message.assistant").last):
        uses = shown.locator(".tool-uses details.tool-use")
        expect(uses).to_have_count(2)
        failed, worked = uses.nth(0), uses.nth(1)
        expect(failed.locator("summary")).to_contain_text("Used calculator (failed)")
        expect(worked.locator("summary")).to_have_text("Used calculator")
        expect(worked.locator("pre").first).not_to_be_visible()  # collapsed until asked
        worked.locator("summary").click()
        expect(worked.locator("dd pre").nth(0)).to_have_text('{"expression": "1234 * 5678"}')
        expect(worked.locator("dd pre").nth(1)).to_contain_text("7006652")
        failed.locator("summary").click()
        # The model's hostile arguments are shown as text, never as markup.
        expect(failed.locator("dd pre").nth(0)).to_contain_text(HOSTILE)
        assert shown.locator(".tool-uses img").count() == 0
        page.reload()  # saved with the reply: still there after a reload
