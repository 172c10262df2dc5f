"""The cost dashboard in a real browser: charts drawn, nothing refused by the CSP."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone
from playwright.sync_api import expect, sync_playwright

from observability.rollups import rollup_days
from tests.browserkit import CHROMIUM, CHROMIUM_ARGS, PASSWORD, SCREENSHOTS, TIMEOUT_MS
from tests.test_dashboards import _log

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_cost_dashboard_shows_its_charts(
    app_server, make_user, openai_template, anthropic_template
):
    today = timezone.now().date()
    spender = make_user("spender")
    for n in range(14):
        day = today - timedelta(days=n)
        _log(spender, openai_template, day, cost=Decimal("0.40") + Decimal(n) / 100)
        _log(spender, anthropic_template, day, cost=Decimal("0.90") - Decimal(n) / 50)
    rollup_days(today - timedelta(days=14), today)
    manager = make_user("manager", PASSWORD)
    manager.is_staff = True
    manager.save()
    manager.user_permissions.add(Permission.objects.get(codename="view_dashboards"))

    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 1400})
            page.set_default_timeout(TIMEOUT_MS)
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.goto(f"{app_server}/admin/login/?next=/admin/dashboards/cost/")
            page.fill("#id_username", "manager")
            page.fill("#id_password", PASSWORD)
            page.click("input[type=submit]")
            page.wait_for_url("**/admin/dashboards/cost/")

            charts = page.locator("svg.chart")
            expect(charts).to_have_count(2)
            expect(page.locator("#total-cost")).to_have_text("$17.29")
            bars = page.locator("svg.chart rect.bar")
            assert bars.count() == 2 * 2 * 14  # two charts, two series, fourteen days
            box = charts.first.bounding_box()
            assert box and box["width"] > 500 and box["height"] > 150
            # Colours come from the stylesheet's classes: a bar is filled, not black or empty.
            fill = bars.first.evaluate("el => getComputedStyle(el).fill")
            assert fill not in ("", "none", "rgb(0, 0, 0)")
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=SCREENSHOTS / "cost-dashboard.png", full_page=True)
        finally:
            browser.close()
    assert not [p for p in problems if "Content Security Policy" in p], problems
