"""List prices (USD per million tokens) of the models the project ships configured for.

As published by OpenAI and Anthropic when this was written (2026); they change, so check them
against the providers' pricing pages and edit them in admin. claude-sonnet-4-5 is left out: the
Anthropic SDK marks it deprecated (end of life 2026-11-30).
"""

from decimal import Decimal

from django.db import migrations

MODELS = [
    # name, provider, input, cached input, cache write, output, context window
    ("gpt-4o", "openai", "2.50", "1.25", None, "10.00", 128_000),
    ("gpt-4o-mini", "openai", "0.15", "0.075", None, "0.60", 128_000),
    ("gpt-4.1-mini", "openai", "0.40", "0.10", None, "1.60", 1_047_576),
    ("gpt-5-mini", "openai", "0.25", "0.025", None, "2.00", 400_000),
    ("claude-sonnet-4-6", "anthropic", "3.00", "0.30", "3.75", "15.00", 200_000),
    ("claude-haiku-4-5", "anthropic", "1.00", "0.10", "1.25", "5.00", 200_000),
]


def seed(apps, schema_editor):
    LanguageModel = apps.get_model("gateway", "LanguageModel")
    for name, provider, price_in, cached, write, price_out, window in MODELS:
        LanguageModel.objects.get_or_create(
            name=name,
            defaults={
                "provider": provider,
                "input_price": Decimal(price_in),
                "cached_input_price": Decimal(cached),
                "cache_write_price": Decimal(write) if write else None,
                "output_price": Decimal(price_out),
                "context_window": window,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("gateway", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
