from decimal import Decimal

from gateway.models import LanguageModel
from gateway.pricing import cost_of
from gateway.usage import Usage


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
