"""Overhead of tracing on a turn: OTEL_TRACES_EXPORTER=none (no SDK, no-op tracer) vs on.

    .venv/bin/python -m bench.tracing [--turns 300]

Runs on its own embedded PostgreSQL and Redis (under .data/bench-tracing) with the provider
simulator. For each exporter setting a fresh process runs the same turns one after another
through the real pipeline, and separately times the span work of one turn alone (a turn span,
nine stage spans and two attempt spans) many times over, which isolates tracing's cost from the
turn's noise. "console" writes every span as JSON (to /dev/null here): the SDK, the batch
processor and serialisation, as an OTLP exporter would pay them. Writes bench/results/tracing.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time

from bench.faults import simulator_process
from bench.output import RESULTS_DIR
from devstack.processes import ROOT, manage
from devstack.services import embedded_services
from devstack.testrun import test_env

DATA = ROOT / ".data" / "bench-tracing"
RESULTS = RESULTS_DIR / "tracing.json"
EXPORTERS = ["none", "console"]
STAGES = ["admission", "persist_input", "guardrails", "prompt_selection", "cache", "retrieval"]
SPAN_ROUNDS = 2_000


def span_work_us() -> float:
    """Microseconds of tracing work for one turn's spans, without the turn."""
    from observability.tracing import record_attempt_spans, stage_span, turn_span

    attempts = [
        {"model": "m", "provider": "openai", "outcome": "server_error", "status": 500,
         "wait_ms": 0, "duration_ms": 5, "usage": None, "cost": None},
        {"model": "m2", "provider": "anthropic", "outcome": "ok", "status": None, "wait_ms": 0,
         "duration_ms": 9, "usage": {"input_tokens": 10, "cached_input_tokens": 0,
         "cache_write_tokens": 0, "output_tokens": 5}, "cost": "0.0001"},
    ]  # fmt: skip
    started = time.perf_counter()
    for _ in range(SPAN_ROUNDS):
        with turn_span(request_id="r", user_id=1):
            for stage in STAGES:
                with stage_span(stage):
                    pass
            with stage_span("model_call"):
                record_attempt_spans(attempts, started_ns=time.time_ns())
            with stage_span("output_guardrails"):
                pass
            with stage_span("record"):
                pass
    return (time.perf_counter() - started) / SPAN_ROUNDS * 1_000_000


async def turn_times(turns: int) -> list[float]:
    from channels.db import database_sync_to_async
    from django.contrib.auth import get_user_model

    from chat.models import Conversation
    from gateway.events import Done
    from gateway.pipeline import Turn, run_turn
    from prompts_admin.models import PromptTemplate

    user, _ = await database_sync_to_async(get_user_model().objects.get_or_create)(username="tr")
    template = await database_sync_to_async(PromptTemplate.objects.get)(slug="bench-tracing")
    times = []
    for index in range(turns):
        conversation = await database_sync_to_async(Conversation.objects.create)(
            user=user, template=template
        )
        started = time.perf_counter()
        events = [e async for e in run_turn(Turn(user.id, conversation.id, f"Q {index}"))]
        times.append((time.perf_counter() - started) * 1000)
        assert isinstance(events[-1], Done), events[-1]
    return times


def one_mode(turns: int) -> dict:
    """Runs inside the child process whose environment picked the exporter."""
    import django

    django.setup()
    from gateway.models import LanguageModel
    from prompts_admin.models import PromptTemplate

    PromptTemplate.objects.update_or_create(
        slug="bench-tracing",
        defaults={"name": "Tracing bench", "system_prompt": "-",
                  "model": LanguageModel.objects.get(name="gpt-4o-mini")},
    )  # fmt: skip
    asyncio.run(turn_times(20))  # warm-up: connections, SDK clients
    times = asyncio.run(turn_times(turns))
    ordered = sorted(times)
    return {
        "turn_ms_p50": round(statistics.median(times), 2),
        "turn_ms_p95": round(ordered[int(0.95 * (len(ordered) - 1))], 2),
        "turn_ms_mean": round(statistics.fmean(times), 2),
        "span_work_us_per_turn": round(span_work_us(), 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        # The console exporter writes to stdout: send it to /dev/null, keep ours for the result.
        result_out, sys.stdout = sys.stdout, open(os.devnull, "w")  # noqa: SIM115
        print(json.dumps(one_mode(args.turns)), file=result_out)
        return 0

    env = {k: v for k, v in test_env().items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["LOG_LEVEL"] = "WARNING"
    DATA.mkdir(parents=True, exist_ok=True)
    results: dict = {"turns_per_mode": args.turns}
    with embedded_services(env, DATA, persist_redis=False), simulator_process(env):
        manage(env, "migrate", "--noinput", "-v", "0")
        for exporter in EXPORTERS:
            child = subprocess.run(
                [sys.executable, "-m", "bench.tracing", "--child", "--turns", str(args.turns)],
                cwd=ROOT,
                env={**os.environ, **env, "OTEL_TRACES_EXPORTER": exporter},
                capture_output=True,
                text=True,
                timeout=1800,
                check=True,
            )
            results[exporter] = json.loads(child.stdout.splitlines()[-1])
    off, on = results["none"], results["console"]
    results["overhead"] = {
        "span_work_us_per_turn": round(
            on["span_work_us_per_turn"] - off["span_work_us_per_turn"], 2
        ),
        "turn_ms_p50": round(on["turn_ms_p50"] - off["turn_ms_p50"], 2),
    }
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
