"""Admission overhead: what stage 0's budget checks cost per turn as today's request logs grow.

    .venv/bin/python -m bench.admission [--rows 0,100000,300000] [--calls 200]

Runs on its own embedded PostgreSQL (under .data/bench-admission). For each size it fills
RequestLog with that many of today's rows (spread over 1,000 users), then times `admit()` for a
user with a budget: with no global cap (the user's own spend only, on the (user, created_at)
index); with a global daily cap summed every turn (GLOBAL_SPEND_CACHE_SECONDS=0); and with the
cap's total shared through Redis (the default, 10 s). Writes bench/results/admission.json:
p50 / p99 milliseconds per call for each.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from decimal import Decimal

from bench.output import RESULTS_DIR
from devstack.processes import ROOT, manage
from devstack.services import embedded_services
from devstack.testrun import test_env

DATA = ROOT / ".data" / "bench-admission"
RESULTS = RESULTS_DIR / "admission.json"
USERS = 1_000


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def setup():
    from django.contrib.auth import get_user_model

    from budgets.models import Budget
    from chat.models import Conversation
    from gateway.models import LanguageModel
    from prompts_admin.models import PromptTemplate

    user_model = get_user_model()
    users = user_model.objects.bulk_create(
        [user_model(username=f"bench{i}") for i in range(USERS)], ignore_conflicts=True
    )
    users = list(user_model.objects.filter(username__startswith="bench").order_by("id"))
    template, _ = PromptTemplate.objects.get_or_create(
        slug="bench-admission",
        defaults={
            "name": "Bench",
            "system_prompt": "You are terse.",
            "model": LanguageModel.objects.get(name="gpt-4o-mini"),
        },
    )
    user = users[0]
    Budget.objects.get_or_create(
        user=user,
        defaults={"daily_soft_usd": Decimal("1000"), "daily_hard_usd": Decimal("2000")},
    )
    conversation = Conversation.objects.create(user=user, template=template)
    return users, conversation


def fill_logs(users, target: int) -> None:
    from observability.models import RequestLog

    have = RequestLog.objects.count()
    batch = []
    for i in range(have, target):
        batch.append(
            RequestLog(
                user=users[i % len(users)],
                model_requested="gpt-4o-mini",
                model_used="gpt-4o-mini",
                status="complete",
                input_tokens=500,
                output_tokens=200,
                cost=Decimal("0.000195"),
            )
        )
        if len(batch) == 5_000:
            RequestLog.objects.bulk_create(batch)
            batch = []
    if batch:
        RequestLog.objects.bulk_create(batch)


def time_admit(conversation, calls: int) -> dict:
    from budgets.admission import admit

    admit(user_id=conversation.user_id, conversation_id=conversation.id, text="warm up")
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        admission = admit(
            user_id=conversation.user_id, conversation_id=conversation.id, text="How are you?"
        )
        samples.append((time.perf_counter() - started) * 1000)
        assert admission.refusal is None
    return {
        "p50_ms": round(statistics.median(samples), 2),
        "p99_ms": round(percentile(samples, 0.99), 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", default="0,100000,300000")
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()

    DATA.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in test_env().items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["DATABASE_CONN_MAX_AGE"] = "60"  # one connection for the run, as a web process keeps
    with embedded_services(env, DATA, redis_dir="redis-admission", persist_redis=False):
        manage(env, "migrate", "--noinput", "-v", "0")
        os.environ.update(env)
        import django

        django.setup()
        from django.conf import settings
        from django.db import connection

        from budgets.models import EmergencyMode
        from observability.models import RequestLog

        with connection.cursor() as cursor:  # the data folder outlives a run: start empty
            # CASCADE: rows that point at request logs (shadow runs, eval results) go with them.
            cursor.execute(f"TRUNCATE {RequestLog._meta.db_table} CASCADE")
        users, conversation = setup()
        results = []
        for rows in (int(r) for r in args.rows.split(",")):
            fill_logs(users, rows)
            EmergencyMode.objects.update_or_create(pk=1, defaults={"daily_cap_usd": None})
            no_cap = time_admit(conversation, args.calls)
            # A cap far above today's spend: the total is needed every turn, nothing starts.
            EmergencyMode.objects.update_or_create(pk=1, defaults={"daily_cap_usd": 10**6})
            settings.GLOBAL_SPEND_CACHE_SECONDS = 0
            summed = time_admit(conversation, args.calls)
            settings.GLOBAL_SPEND_CACHE_SECONDS = 10
            shared = time_admit(conversation, args.calls)
            results.append(
                {
                    "todays_request_logs": rows,
                    "no_global_cap": no_cap,
                    "global_cap_summed_every_turn": summed,
                    "global_cap_total_shared_10s": shared,
                }
            )
            print(json.dumps(results[-1]))
    result = {"calls_per_size": args.calls, "users": USERS, "results": results}
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
