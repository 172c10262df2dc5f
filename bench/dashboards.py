"""Dashboard render time with a year of traffic: 1,000,000 request logs.

    .venv/bin/python -m bench.dashboards [--rows 1000000] [--users 2000] [--runs 5]

Runs on its own embedded PostgreSQL (under .data/bench-dashboards, kept between runs so the
seed is paid once). Seeds request logs spread over 365 days with COPY (bounded: one streaming
statement), rolls them up as beat would (then VACUUM ANALYZE of the rollup tables, as autovacuum
does soon after such a bulk write), then renders each dashboard through Django's test
client (full request: middleware, auth, queries, templates, SVG) for the default 30-day range
and for the whole year. Writes bench/results/dashboards.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from bench.output import RESULTS_DIR
from devstack.processes import ROOT, manage
from devstack.services import embedded_services
from devstack.testrun import test_env

DATA = ROOT / ".data" / "bench-dashboards"
RESULTS = RESULTS_DIR / "dashboards.json"
PAGES = ["cost", "users", "latency", "cache", "quality"]
COLUMNS = [
    "request_id", "user_id", "template_id", "model_requested", "model_used", "provider",
    "simulated", "input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens",
    "cost", "priced", "latency_ms", "ttft_ms", "status", "error_kind", "attempts",
    "fallback_used", "created_at", "citations", "retrieval_error", "cache_status", "cache_hit",
]  # fmt: skip


def other_columns() -> dict[str, object]:
    """The request log's other NOT NULL columns, with the model's defaults: a column added by a
    later migration gets its default instead of breaking the COPY."""
    from django.db.models import JSONField

    from observability.models import RequestLog

    defaults = {}
    for field in RequestLog._meta.concrete_fields:
        if field.primary_key or field.null or field.column in COLUMNS:
            continue
        value = field.get_default()
        defaults[field.column] = json.dumps(value) if isinstance(field, JSONField) else value
    return defaults


def seed(rows: int, users: int, rng: random.Random) -> float:
    """COPY `rows` request logs over the last 365 days; returns the seconds it took."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from gateway.models import LanguageModel
    from prompts_admin.models import PromptTemplate

    models = list(LanguageModel.objects.filter(name__in=["gpt-4o-mini", "claude-haiku-4-5"]))
    templates = [
        PromptTemplate.objects.update_or_create(
            slug=f"bench-{n}",
            defaults={"name": f"Bench assistant {n}", "system_prompt": "-", "model": model},
        )[0]
        for n, model in enumerate(models * 2)
    ]
    User = get_user_model()
    User.objects.bulk_create(
        [User(username=f"bench-user-{n}") for n in range(users)], ignore_conflicts=True
    )
    user_ids = list(
        User.objects.filter(username__startswith="bench-user-").values_list("id", flat=True)
    )
    now = datetime.now(UTC)
    started = time.monotonic()
    others = other_columns()
    sql = f"COPY observability_requestlog ({', '.join([*COLUMNS, *others])}) FROM STDIN"
    with connection.cursor() as cursor, cursor.connection.cursor().copy(sql) as copy:
        for _ in range(rows):
            template = rng.choice(templates)
            model = template.model
            status = rng.choices(["complete", "failed", "blocked"], [0.96, 0.03, 0.01])[0]
            output = rng.randint(20, 800)
            latency = int(rng.lognormvariate(7, 0.5))
            hit = status == "complete" and rng.random() < 0.1  # a cache hit costs nothing
            copy.write_row(
                (
                    uuid.uuid4(), rng.choice(user_ids),
                    template.id, model.name, model.name if status != "failed" else "",
                    model.provider, True, rng.randint(50, 3000), rng.randint(0, 500), 0, output,
                    0 if hit else Decimal(output) * model.output_price / 1_000_000, True, latency,
                    latency // 4, status, "prompt_injection" if status == "blocked" else "",
                    "[]", rng.random() < 0.02,
                    now - timedelta(seconds=rng.randint(0, 365 * 86_400)),
                    "[]", "", "hit" if hit else "miss", hit,
                    *others.values(),
                )
            )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE observability_requestlog")
    return time.monotonic() - started


def vacuum_rollups() -> None:
    """What autovacuum does soon after a bulk rollup: statistics and the visibility map (which
    lets the covering indexes answer without reading the table)."""
    from django.apps import apps
    from django.db import connection

    with connection.cursor() as cursor:
        for model in apps.get_app_config("observability").get_models():
            if model.__name__.endswith("Rollup"):
                cursor.execute(f"VACUUM ANALYZE {model._meta.db_table}")


def render_times(client, query: dict, runs: int) -> dict:
    from django.urls import reverse

    timings = {}
    for page in PAGES:
        client.get(reverse(f"dashboards:{page}"), query)  # warm-up: template compilation
        samples = []
        for _ in range(runs):
            started = time.perf_counter()
            response = client.get(reverse(f"dashboards:{page}"), query)
            samples.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (page, response.status_code)
        timings[page] = {
            "median_ms": round(statistics.median(samples), 1),
            "max_ms": round(max(samples), 1),
        }
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    env = {k: v for k, v in test_env().items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["LOG_LEVEL"] = "WARNING"
    DATA.mkdir(parents=True, exist_ok=True)
    with embedded_services(env, DATA, persist_redis=False):
        manage(env, "migrate", "--noinput", "-v", "0")
        os.environ.update(env)
        import django

        django.setup()
        from django.contrib.auth import get_user_model
        from django.test import Client
        from django.utils import timezone

        from observability.models import RequestLog
        from observability.rollups import rollup_days

        existing = RequestLog.objects.count()
        seed_seconds = None
        if existing < args.rows:
            seed_seconds = round(seed(args.rows - existing, args.users, random.Random(9)), 1)
        today = timezone.now().date()
        started = time.monotonic()
        rollup_days(today - timedelta(days=366), today)
        rollup_seconds = round(time.monotonic() - started, 1)
        vacuum_rollups()

        admin, _ = get_user_model().objects.get_or_create(
            username="bench-admin", defaults={"is_staff": True, "is_superuser": True}
        )
        client = Client()
        client.force_login(admin)
        load_before = round(os.getloadavg()[0], 1)
        year = {"start": (today - timedelta(days=365)).isoformat(), "end": today.isoformat()}
        results = {
            "request_logs": RequestLog.objects.count(),
            "users": args.users,
            "seed_seconds": seed_seconds,
            "rollup_full_year_seconds": rollup_seconds,
            "render_ms_last_30_days": render_times(client, {}, args.runs),
            "render_ms_full_year": render_times(client, year, args.runs),
            "floor_ms": 500,
            "load_average_1m_before": load_before,
            # This machine is shared: the load while rendering says how far to trust the numbers.
            "load_average_1m_after": round(os.getloadavg()[0], 1),
            "cpus": os.cpu_count(),
        }
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
