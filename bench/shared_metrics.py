"""Cost of the shared (Redis-backed) turn metrics per turn, and of reading them at scrape time.

    .venv/bin/python -m bench.shared_metrics [--turns 2000]

On its own embedded Redis (no database). Times, per turn: what the turn's own task pays
(observe_turn: a dozen series added to the process's pending buffer), the one pipelined round
trip that sends them (done by the writer thread, off the event loop; timed here synchronously),
and for comparison one round trip per series (what a naive HINCRBYFLOAT per .inc() would cost).
Then a scrape: HGETALL of the hash and the exposition text, for as many series as the turns
made. Writes bench/results/shared_metrics.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from decimal import Decimal
from types import SimpleNamespace

from bench.harness import write_result
from devstack.processes import ROOT
from devstack.services import EmbeddedRedis
from devstack.testrun import test_env

DATA = ROOT / ".data" / "bench-shared-metrics"
MODELS = ["gpt-4o-mini", "claude-haiku", "gpt-4o"]
TEMPLATES = [f"assistant-{n}" for n in range(20)]


def outcome(index: int) -> SimpleNamespace:
    usage = SimpleNamespace(
        input_tokens=120, cached_input_tokens=40, cache_write_tokens=0, output_tokens=80
    )
    model = MODELS[index % len(MODELS)]
    return SimpleNamespace(
        model=model, model_requested=model, status="complete", latency_ms=900 + index % 700,
        ttft_ms=200 + index % 300, usage=usage, cost=Decimal("0.00012"), priced=True,
        attempts=[{"model": model, "outcome": "ok"}], fallback_used=False,
    )  # fmt: skip


def us(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    return {
        "p50_us": round(statistics.median(seconds) * 1e6, 1),
        "p95_us": round(ordered[int(0.95 * (len(ordered) - 1))] * 1e6, 1),
        "mean_us": round(statistics.fmean(seconds) * 1e6, 1),
    }


def measure(turns: int) -> dict:
    import django

    django.setup()
    from prometheus_client import generate_latest

    from observability import shared_metrics
    from observability.metrics import observe_turn

    writer = shared_metrics.WRITER
    client = writer._redis()
    client.delete(shared_metrics.KEY)
    record, send, naive = [], [], []
    fields = 0
    for index in range(turns):
        template = TEMPLATES[index % len(TEMPLATES)]
        started = time.perf_counter()
        observe_turn(outcome(index), template=template)
        record.append(time.perf_counter() - started)
        with writer._lock:  # what the writer thread would send for this turn
            batch = dict(writer._pending)
        fields = max(fields, len(batch))
        started = time.perf_counter()
        writer.flush()
        send.append(time.perf_counter() - started)
        started = time.perf_counter()
        for field, amount in batch.items():  # one round trip per series, for comparison
            client.hincrbyfloat("bench:naive", field, amount)
        naive.append(time.perf_counter() - started)
    scrape = []
    for _ in range(50):
        started = time.perf_counter()
        shared_metrics.COLLECTOR.update(client.hgetall(shared_metrics.KEY))
        generate_latest()
        scrape.append(time.perf_counter() - started)
    return {
        "turns": turns,
        "redis_fields_per_turn": fields,
        "hash_fields_after_run": client.hlen(shared_metrics.KEY),
        "observe_turn_in_the_turn": us(record),
        "pipelined_send_per_turn": us(send),
        "one_round_trip_per_series": us(naive),
        "scrape_read_and_render": us(scrape),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=2000)
    args = parser.parse_args()
    redis = EmbeddedRedis(DATA / "redis", persist=False)
    url = redis.start()
    try:
        # No database: the settings need a URL, nothing here connects to it.
        unused_db = "postgres://bench@127.0.0.1:1/unused"
        os.environ.update({**test_env(), "REDIS_URL": url, "DATABASE_URL": unused_db})
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        write_result("shared_metrics", measure(args.turns))
    finally:
        redis.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
