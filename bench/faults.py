"""Fault soak: many turns through the real pipeline while the primary model fails in mixed ways.

    .venv/bin/python -m bench.faults [--turns 2000] [--concurrency 50] [--fault-rate 0.2]

Runs on its own embedded PostgreSQL and Redis (under .data/bench), with the provider simulator
scripted so that a fixed share of the primary model's calls fail (429 with Retry-After, 500,
503, a stall, a mid-stream disconnect, malformed JSON); the fallback model is healthy. Writes
bench/results/faults.json: share of turns answered, user messages lost, unhandled exceptions,
and the latency each fault kind adds (p50 / p99) over clean turns.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from bench.output import RESULTS_DIR
from devstack.processes import ROOT, manage
from devstack.services import embedded_services, free_port, wait_for_port
from devstack.testrun import test_env

DATA = ROOT / ".data" / "bench"
RESULTS = RESULTS_DIR / "faults.json"
PRIMARY, FALLBACK = "gpt-4o-mini", "claude-haiku-4-5"
FAULTS = {
    "rate_limited": {"status": 429, "retry_after": 0.2},
    "server_error_500": {"status": 500},
    "unavailable_503": {"status": 503},
    "stall": {"stall_after": 3},
    "disconnect": {"disconnect_after": 3},
    "malformed": {"malformed_after": 2},
}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def script_faults(simulator: str, turns: int, rate: float, rng: random.Random) -> list[str]:
    """One script entry per primary call, consumed in order: an exact, shuffled fault mix."""
    plan = [rng.choice(list(FAULTS)) if rng.random() < rate else "clean" for _ in range(turns)]
    with httpx.Client(base_url=simulator, timeout=10) as client:
        for kind in plan:
            knobs = FAULTS.get(kind, {})
            client.post("/_sim/script", json={"model": PRIMARY, "times": 1, **knobs})
    return plan


def setup_app():
    from gateway.models import LanguageModel
    from prompts_admin.models import FallbackStep, PromptTemplate

    primary = LanguageModel.objects.get(name=PRIMARY)
    template, _ = PromptTemplate.objects.update_or_create(
        slug="soak",
        defaults={
            "name": "Soak",
            "system_prompt": "You are terse.",
            "model": primary,
            "stall_timeout_seconds": 1.0,
        },
    )
    FallbackStep.objects.get_or_create(
        template=template, model=LanguageModel.objects.get(name=FALLBACK)
    )
    return template


async def soak(args, template) -> dict:
    from channels.db import database_sync_to_async
    from django.contrib.auth import get_user_model

    from chat.models import Conversation, Message
    from gateway.events import Done, Error
    from gateway.pipeline import Turn, run_turn
    from observability.models import RequestLog

    user, _ = await database_sync_to_async(get_user_model().objects.get_or_create)(username="soak")
    before = await database_sync_to_async(Message.objects.filter(role="user").count)()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(args.turns):
        queue.put_nowait(index)
    outcomes: list[dict] = []
    crashes: list[str] = []

    async def worker() -> None:
        while not queue.empty():
            index = queue.get_nowait()
            conversation = await database_sync_to_async(Conversation.objects.create)(
                user=user, template=template
            )
            turn = Turn(user.id, conversation.id, f"Question {index}: what is {index} + 1?")
            started = time.monotonic()
            last = None
            try:
                async for event in run_turn(turn):
                    last = event
            except Exception as exc:  # the number the soak exists to keep at zero
                crashes.append(f"{type(exc).__name__}: {exc}")
            outcomes.append(
                {
                    "request_id": turn.request_id,
                    "answered": isinstance(last, Done),
                    "error": last.kind if isinstance(last, Error) else None,
                    "seconds": time.monotonic() - started,
                }
            )

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    elapsed = time.monotonic() - started

    saved = await database_sync_to_async(Message.objects.filter(role="user").count)() - before
    logs = await database_sync_to_async(
        lambda: {
            log.request_id: log
            for log in RequestLog.objects.filter(request_id__in=[o["request_id"] for o in outcomes])
        }
    )()
    return summarise(args, outcomes, logs, crashes, saved, elapsed)


def first_fault(log) -> str:
    first = log.attempts[0]["outcome"] if log and log.attempts else "missing"
    return "clean" if first == "ok" else first


def summarise(args, outcomes, logs, crashes, saved, elapsed) -> dict:
    by_kind: dict[str, list[float]] = {}
    for outcome in outcomes:
        kind = first_fault(logs.get(outcome["request_id"]))
        by_kind.setdefault(kind, []).append(outcome["seconds"] * 1000)
    clean = by_kind.get("clean", [0.0])
    clean_p50 = statistics.median(clean)
    answered = sum(o["answered"] for o in outcomes)
    return {
        "turns": len(outcomes),
        "concurrency": args.concurrency,
        "fault_rate": args.fault_rate,
        "elapsed_seconds": round(elapsed, 1),
        "turns_per_second": round(len(outcomes) / elapsed, 1),
        "answered_share": round(answered / len(outcomes), 5),
        "answered_after_retry": sum(
            1 for log in logs.values() if log.status == "complete" and len(log.attempts) > 1
        ),
        "answered_by_fallback": sum(1 for log in logs.values() if log.fallback_used),
        "user_messages_lost": len(outcomes) - saved,
        "unhandled_exceptions": len(crashes),
        "internal_errors": sum(1 for o in outcomes if o["error"] == "internal"),
        "crash_samples": crashes[:5],
        "clean_turn_ms": {
            "p50": round(clean_p50),
            "p99": round(percentile(by_kind["clean"], 0.99)),
        },
        "added_latency_ms_by_first_fault": {
            kind: {
                "turns": len(values),
                "p50": round(statistics.median(values) - clean_p50),
                "p99": round(percentile(values, 0.99) - clean_p50),
            }
            for kind, values in sorted(by_kind.items())
            if kind != "clean"
        },
    }


@contextmanager
def simulator_process(env: dict[str, str]) -> Iterator[str]:
    """The provider simulator, quick (50 ms to first token, 400 tokens/s), for the app in `env`."""
    port = free_port()
    env["SIMULATOR_URL"] = url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "gateway.simulator", "--port", str(port)]
    process = subprocess.Popen([*argv, "--ttft-ms", "50", "--tokens-per-s", "400"], cwd=ROOT)
    try:
        wait_for_port(port)
        yield url
    finally:
        process.terminate()
        process.wait(10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--fault-rate", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    DATA.mkdir(parents=True, exist_ok=True)
    # Always its own database and Redis: a soak must not write into anything else's.
    env = {k: v for k, v in test_env().items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["ROUTER_BACKOFF_BASE_SECONDS"] = "0.1"
    with embedded_services(env, DATA, persist_redis=False), simulator_process(env) as simulator:
        manage(env, "migrate", "--noinput", "-v", "0")
        os.environ.update(env)
        import django

        django.setup()
        template = setup_app()
        script_faults(simulator, args.turns, args.fault_rate, random.Random(args.seed))
        result = asyncio.run(soak(args, template))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
