"""Django admin: where it lives, and that every change there is on record."""

from __future__ import annotations

import importlib
from decimal import Decimal

import pytest
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.urls import clear_url_caches

from budgets.models import Budget
from gateway.models import LanguageModel

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_at(settings):
    def move(path: str) -> None:
        settings.ADMIN_URL = path
        clear_url_caches()
        importlib.reload(importlib.import_module(settings.ROOT_URLCONF))

    yield move
    move("admin/")


def test_the_admin_can_live_at_a_configured_path(admin_at, admin_client):
    admin_at("back-office-7f3a/")
    assert admin_client.get("/back-office-7f3a/").status_code == 200
    assert admin_client.get("/admin/").status_code == 404


def test_a_price_change_in_admin_is_logged_with_who_and_when(admin_client, admin_user):
    model = LanguageModel.objects.create(
        name="audit-model", provider="openai", input_price=Decimal("1"), output_price=Decimal("2")
    )
    form = {
        "name": model.name,
        "provider": "openai",
        "input_price": "1.50",
        "output_price": "2",
        "context_window": "128000",
        "is_active": "on",
    }
    response = admin_client.post(f"/admin/gateway/languagemodel/{model.pk}/change/", form)
    assert response.status_code == 302

    entry = LogEntry.objects.get(object_id=str(model.pk), action_flag=CHANGE)
    assert entry.user == admin_user and entry.action_time is not None
    assert "Input price" in entry.get_change_message()


def test_budget_and_cost_policy_changes_in_admin_are_logged_with_who_and_when(
    admin_client, admin_user, openai_template, make_user
):
    alice = make_user("alice")
    budget = {
        "user": alice.pk,
        "group": "",
        "daily_soft_usd": "1.00",
        "daily_hard_usd": "2.00",
        "monthly_soft_usd": "",
        "monthly_hard_usd": "",
    }
    assert admin_client.post("/admin/budgets/budget/add/", budget).status_code == 302
    added = Budget.objects.get(user=alice)
    changed = budget | {"daily_hard_usd": "3.00"}
    url = f"/admin/budgets/budget/{added.pk}/change/"
    assert admin_client.post(url, changed).status_code == 302
    policy = {"template": openai_template.pk, "downgrade_model": "", "max_input_tokens": "500"}
    assert admin_client.post("/admin/budgets/templatecostpolicy/add/", policy).status_code == 302

    entries = LogEntry.objects.filter(user=admin_user).order_by("id")
    flags = [(e.content_type.model, e.action_flag) for e in entries]
    assert flags == [("budget", ADDITION), ("budget", CHANGE), ("templatecostpolicy", ADDITION)]
    assert "Daily hard" in entries[1].get_change_message()
    assert all(entry.action_time is not None for entry in entries)
