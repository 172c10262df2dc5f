"""Cost from provider-reported usage, in exact decimals, each kind of token at its own rate."""

import importlib
from decimal import Decimal

import pytest

from chat.models import Conversation
from gateway.events import Done
from gateway.models import LanguageModel
from gateway.pipeline import Turn
from gateway.pricing import cost_of
from gateway.usage import Usage
from observability.models import RequestLog
from tests.turns import turn_events

CENT = Decimal("0.01")


def _model(**prices) -> LanguageModel:
    return LanguageModel(name="m", provider="openai", **prices)


def test_each_kind_of_token_is_priced_once_at_its_own_rate():
    model = _model(
        input_price=Decimal("3"),
        cached_input_price=Decimal("0.30"),
        cache_write_price=Decimal("3.75"),
        output_price=Decimal("15"),
    )
    usage = Usage(
        input_tokens=1000, cached_input_tokens=2000, cache_write_tokens=100, output_tokens=500
    )
    # 1000*3 + 2000*0.30 + 100*3.75 + 500*15 = 3000 + 600 + 375 + 7500 = 11475 per million
    assert cost_of(usage, model) == Decimal("0.011475")


def test_cached_tokens_fall_back_to_the_input_price_when_no_cached_rate_is_set():
    model = _model(input_price=Decimal("2"), output_price=Decimal("8"))
    assert cost_of(Usage(cached_input_tokens=1_000_000), model) == Decimal("2")


def test_a_model_without_prices_has_unknown_cost_not_zero():
    assert cost_of(Usage(input_tokens=10, output_tokens=10), _model()) is None


def test_reasoning_tokens_are_output_billed_once_at_the_output_rate_by_default():
    model = _model(input_price=Decimal("0.25"), output_price=Decimal("2"))
    # 1,000 output tokens of which 800 were reasoning: 1,000 output tokens billed, not 1,800.
    usage = Usage(input_tokens=0, output_tokens=1000, reasoning_tokens=800)
    assert cost_of(usage, model) == Decimal("0.002")


def test_reasoning_tokens_use_their_own_rate_when_the_table_has_one():
    model = _model(
        input_price=Decimal("1"), output_price=Decimal("4"), reasoning_price=Decimal("8")
    )
    usage = Usage(output_tokens=1000, reasoning_tokens=250)
    # 750 * 4 + 250 * 8 = 3000 + 2000 = 5000 per million
    assert cost_of(usage, model) == Decimal("0.005")


def test_every_model_the_project_ships_is_seeded_with_list_prices():
    # Read from the migration: transactional tests empty the tables the seed filled.
    seed = importlib.import_module("gateway.migrations.0002_seed_prices")
    names = {row[0] for row in seed.MODELS}
    assert {"gpt-4o-mini", "claude-haiku-4-5"} <= names  # the demo assistant's two choices
    for name, _, input_price, cached, _, output_price, window in seed.MODELS:
        assert input_price and cached and output_price, name
        assert Decimal(cached) < Decimal(input_price) < Decimal(output_price), name
        assert window >= 128_000, name


@pytest.mark.django_db(transaction=True)
def test_a_staged_openai_usage_costs_the_hand_computed_amount(
    make_user, openai_template, simulator
):
    model = openai_template.model
    model.input_price, model.cached_input_price = Decimal("2.50"), Decimal("1.25")
    model.output_price, model.reasoning_price = Decimal("10.00"), None
    model.save()
    usage = {
        "input_tokens": 2_000_000,  # uncached (the wire's prompt_tokens is 3,000,000)
        "cached_input_tokens": 1_000_000,
        "output_tokens": 500_000,
        "reasoning_tokens": 120_000,  # inside the 500,000 output tokens
    }
    simulator.post("/_sim/script", json={"reply": "Priced.", "usage": usage})
    conversation = Conversation.objects.create(user=make_user(), template=openai_template)

    events = turn_events(Turn(conversation.user_id, conversation.id, "What does this cost?"))

    # By hand: 2.0M * $2.50 + 1.0M * $1.25 (cached rate) + 0.5M * $10.00 = 5.00 + 1.25 + 5.00
    expected = Decimal("11.25")
    done = events[-1]
    assert isinstance(done, Done) and done.cost == expected
    assert done.usage.reasoning_tokens == 120_000 and done.usage.output_tokens == 500_000
    log = RequestLog.objects.get()
    assert log.cost.quantize(CENT) == expected and log.cost == expected
    assert (log.input_tokens, log.cached_input_tokens) == (2_000_000, 1_000_000)
    assert conversation.messages.get(role="assistant").cost == expected


@pytest.mark.django_db(transaction=True)
def test_a_staged_anthropic_usage_with_cache_writes_costs_the_hand_computed_amount(
    make_user, anthropic_template, simulator
):
    usage = {
        "input_tokens": 300_000,
        "cached_input_tokens": 2_000_000,
        "cache_write_tokens": 400_000,
        "output_tokens": 150_000,
    }
    simulator.post("/_sim/script", json={"reply": "Priced.", "usage": usage})
    conversation = Conversation.objects.create(user=make_user(), template=anthropic_template)

    events = turn_events(Turn(conversation.user_id, conversation.id, "And this one?"))

    # claude-haiku-4-5 at $1 / $0.10 cached / $1.25 cache write / $5 output per million:
    # 0.30 + 0.20 + 0.50 + 0.75 = $1.75
    assert events[-1].cost == Decimal("1.75")
    assert RequestLog.objects.get().cost.quantize(CENT) == Decimal("1.75")


def test_prices_are_edited_right_in_the_admin_list_and_used_for_the_next_cost(admin_client):
    model = LanguageModel.objects.create(
        name="listed", provider="openai", input_price=Decimal("1"), output_price=Decimal("2")
    )
    page = admin_client.get("/admin/gateway/languagemodel/").content.decode()
    assert 'name="form-0-reasoning_price"' in page and 'name="form-0-input_price"' in page
    rows = LanguageModel.objects.order_by("provider", "name")
    form = {
        "form-TOTAL_FORMS": str(rows.count()),
        "form-INITIAL_FORMS": str(rows.count()),
        "_save": "Save",
    }
    for i, row in enumerate(rows):
        changed = row.pk == model.pk
        form |= {
            f"form-{i}-id": str(row.pk),
            f"form-{i}-input_price": "0.50" if changed else str(row.input_price or ""),
            f"form-{i}-cached_input_price": str(row.cached_input_price or ""),
            f"form-{i}-cache_write_price": str(row.cache_write_price or ""),
            f"form-{i}-output_price": "4" if changed else str(row.output_price or ""),
            f"form-{i}-reasoning_price": "8" if changed else str(row.reasoning_price or ""),
            f"form-{i}-context_window": str(row.context_window),
        }

    assert admin_client.post("/admin/gateway/languagemodel/", form).status_code == 302

    model.refresh_from_db()
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000, reasoning_tokens=500_000)
    assert cost_of(usage, model) == Decimal("0.50") + Decimal("2") + Decimal("4")
