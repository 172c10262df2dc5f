"""A prompt editor in a real browser: write a new version, run it as an experiment, ramp it,
roll the experiment back, then put the version in production and roll that back too.

Headless Debian chromium (Playwright) against Daphne; the page fixture fails the test on any
script error or Content-Security-Policy violation in the admin pages.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from prompts_admin.models import Experiment, PromptLabel
from prompts_admin.selectors import prompt_for_turn
from tests import browserkit
from tests.browserkit import PASSWORD

# The chat browser test's fixtures: chromium with its launch args, a page that fails on CSP errors.
browser = browserkit.browser
page = browserkit.page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _log_in(page: Page, app_server: str, username: str) -> None:
    page.goto(f"{app_server}/admin/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#site-name")).to_be_visible()


def test_an_editor_creates_a_version_runs_an_experiment_and_rolls_back(
    page: Page, app_server, simulator, openai_template, make_user, staff_groups
):
    simulator.post("/_sim/script", json={"reply": "Tested fine."})
    editor = make_user("editor", PASSWORD)
    editor.is_staff = True
    editor.save()
    editor.groups.add(staff_groups["Prompt editors"])
    _log_in(page, app_server, "editor")

    # A new version: edit the prompt, say why, save.
    page.goto(f"{app_server}/admin/prompts_admin/prompttemplate/{openai_template.pk}/change/")
    page.locator("#id_system_prompt").fill("You are concise, {{ user_name }}.")
    page.locator("#id_change_note").fill("shorter answers")
    page.get_by_role("button", name="Save and continue editing").click()
    expect(page.locator("ul.messagelist")).to_contain_text("Saved version 2")
    expect(page.locator("#versions-group")).to_contain_text("shorter answers")

    # Preview it with sample values, and test-run it against the model (the simulator here).
    page.get_by_role("link", name="Preview and test run").click()
    page.locator("#id_version").select_option(label="openai-assistant v2")
    page.get_by_role("button", name="Test run").click()
    expect(page.locator("#rendered-prompt")).to_have_text("You are concise, Ada.")
    expect(page.locator("#test-run-answer")).to_contain_text("Tested fine.")
    expect(page.locator("h2", has_text="Test run")).to_contain_text("simulated")

    # An experiment: v1 as control, v2 on 10 % of users.
    page.goto(f"{app_server}/admin/prompts_admin/experiment/add/")
    page.locator("#id_name").fill("concise")
    page.locator("#id_template").select_option(label="OpenAI assistant")
    page.locator("#id_arms-0-name").fill("control")
    page.locator("#id_arms-0-version").select_option(label="openai-assistant v1")
    page.locator("#id_arms-0-is_control").check()
    page.locator("#id_arms-1-name").fill("concise")
    page.locator("#id_arms-1-version").select_option(label="openai-assistant v2")
    page.locator("#id_arms-1-percent").fill("10")
    page.get_by_role("button", name="Save and continue editing").click()
    expect(page.locator("ul.messagelist")).to_contain_text("was added successfully")

    page.locator("#experiment-start").click()
    expect(page.locator("ul.messagelist")).to_contain_text("started")
    page.locator("#experiment-ramp").click()
    expect(page.locator("ul.messagelist")).to_contain_text("Variants now get 25 % of users")
    experiment = Experiment.objects.get(name="concise")
    assert experiment.state == "running"
    variant = experiment.arms.get(name="concise")
    assert variant.percent == 25
    served = {
        prompt_for_turn(template=openai_template, user_id=u, user_name="x").version.number
        for u in range(1, 200)
    }
    assert served == {1, 2}  # both arms are being served

    # Roll the experiment back: everyone is served the control again.
    page.locator("#experiment-abort").click()
    expect(page.locator("ul.messagelist")).to_contain_text("every user gets the control")
    experiment.refresh_from_db()
    assert experiment.state == "aborted"
    assert all(
        prompt_for_turn(template=openai_template, user_id=u, user_name="x").version.number == 1
        for u in range(1, 200)
    )

    # Put v2 in production by hand, then roll that back with a reason.
    page.goto(f"{app_server}/admin/prompts_admin/prompttemplate/{openai_template.pk}/change/")
    page.get_by_role("link", name="Move a label").click()
    page.locator("#id_name").fill("production")
    page.locator("#id_version").select_option(label="openai-assistant v2")
    page.locator("#id_reason").fill("concise wins")
    page.get_by_role("button", name="Move label").click()
    expect(page.locator("ul.messagelist")).to_contain_text(
        re.compile("production now serves v2", re.I)
    )

    page.locator("#labels-group").get_by_role("link", name="Roll back…").click()
    page.locator("#id_reason").fill("users want detail")
    page.get_by_role("button", name=re.compile("Roll back to v1")).click()
    expect(page.locator("ul.messagelist")).to_contain_text(
        re.compile("production rolled back to v1", re.I)
    )
    label = PromptLabel.objects.get(template=openai_template, name="production")
    move = label.moves.first()
    assert label.version.number == 1
    assert (move.kind, move.actor, move.reason) == ("rollback", editor, "users want detail")
