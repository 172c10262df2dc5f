"""Guardrail and retrieval cost per turn: time spent in those stages of real turns.

    .venv/bin/python -m bench.stage_cost [--rounds 3]

Runs on its own embedded PostgreSQL and Redis (under .data/bench-stages) with the provider
simulator. The knowledge base holds the retrieval benchmark's documents (bench/retrieval.py); the
assistant retrieves 4 passages per turn and does not cache, so every turn runs every stage. The
inputs are what users send: the retrieval benchmark's questions, Quora questions and texts with
personal data (Presidio's synthetic set, from the shared evaldata), each `--rounds` times, one
turn after another (cost, not queueing). Each turn goes through the real pipeline in this
process with an in-memory OpenTelemetry exporter, and its stage spans give the time spent in
input guardrails (injection score, PII redaction and their writes), retrieval (embedding plus
hybrid search) and output guardrails (recording the reply checks); the reply guard's streaming
checks run inside the model call, so `ReplyGuard.feed` and `.finish` are timed directly.
Writes bench/results/stage_cost.json: p50/p95/p99 and mean per stage, their sum per turn, and
its share of the whole turn.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import statistics
import sys
import time
from collections import Counter

from bench.faults import simulator_process
from bench.harness import summary_ms
from bench.output import RESULTS_DIR
from devstack.processes import ROOT, manage
from devstack.services import embedded_services
from devstack.testrun import test_env

DATA = ROOT / ".data" / "bench-stages"
RESULTS = RESULTS_DIR / "stage_cost.json"
QUESTIONS = ROOT / "bench" / "data" / "retrieval_questions.json"
TEMPLATE = "bench-stages"
STAGES = ("input_guardrails", "retrieval", "output_guardrails")
# A reply of ordinary prose (~110 tokens) for the reply guard to read.
REPLY = (
    "To reset your password, open Settings, choose Security and press Reset password. We send "
    "a link to the address on your account; it works for one hour. If the email does not "
    "arrive, check the spam folder, then ask support to confirm the address we have. Refunds "
    "for annual plans are prorated by month, and invoices are in the Billing tab, where you "
    "can also change the card we charge. Anything else, just ask."
)


def inputs(per_set: int) -> dict[str, list[str]]:
    """User messages by kind; the shared evaldata sets when they are there."""
    from guardrails.training import evaldata_dir

    sets = {"knowledge_questions": [q["q"] for q in json.loads(QUESTIONS.read_text())]}
    data = evaldata_dir()
    for name, file, field in (
        ("quora_questions", "paraphrase_qqp_test.jsonl", "a"),
        ("personal_data", "pii_presidio_synth.jsonl", "text"),
    ):
        if (data / file).exists():
            lines = (data / file).read_text().splitlines()[:per_set]
            sets[name] = [json.loads(line)[field] for line in lines]
    return sets


def setup_app() -> None:
    from bench.retrieval import index_corpus
    from gateway.models import CachePolicy, LanguageModel
    from knowledge.models import RetrievalPolicy
    from prompts_admin.models import PromptTemplate

    template, _ = PromptTemplate.objects.update_or_create(
        slug=TEMPLATE,
        defaults={
            "name": "Stage cost bench",
            "system_prompt": "You answer from the handbook.",
            "model": LanguageModel.objects.get(name="gpt-4o-mini"),
        },
    )
    CachePolicy.objects.update_or_create(template=template, defaults={"enabled": False})
    RetrievalPolicy.objects.update_or_create(template=template, defaults={"top_k": 4})
    index_corpus()


class ReplyGuardClock:
    """Adds up the time spent in the reply guard's streaming checks (they run per chunk)."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def install(self) -> None:
        from guardrails.streaming import ReplyGuard

        for name in ("feed", "finish"):
            setattr(ReplyGuard, name, self._timed(getattr(ReplyGuard, name)))

    def _timed(self, method):
        @functools.wraps(method)
        def timed(guard, *args, **kwargs):
            started = time.perf_counter()
            try:
                return method(guard, *args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started

        return timed

    def take(self) -> float:
        seconds, self.seconds = self.seconds, 0.0
        return seconds


def install_span_exporter():
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return exporter


async def run_turns(texts: list[str], exporter, clock: ReplyGuardClock) -> list[dict]:
    """Each text as one turn in a fresh conversation; per turn, ms per stage and in all."""
    from channels.db import database_sync_to_async
    from django.contrib.auth import get_user_model
    from django.db import connections

    from chat.models import Conversation
    from gateway.events import Done
    from gateway.pipeline import Turn, run_turn
    from prompts_admin.models import PromptTemplate

    user, _ = await database_sync_to_async(get_user_model().objects.get_or_create)(
        username="bench-stages"
    )
    template = await database_sync_to_async(PromptTemplate.objects.get)(slug=TEMPLATE)
    rows = []
    try:
        for text in texts:
            conversation = await database_sync_to_async(Conversation.objects.create)(
                user=user, template=template
            )
            exporter.clear()
            clock.take()
            events = [e async for e in run_turn(Turn(user.id, conversation.id, text))]
            rows.append(
                {
                    "done": isinstance(events[-1], Done),
                    "reply_guard_stream": clock.take() * 1000,
                    **span_ms(exporter.get_finished_spans()),
                }
            )
    finally:
        await database_sync_to_async(connections.close_all)()
    return rows


def span_ms(spans) -> dict[str, float]:
    out = {}
    for span in spans:
        stage = span.attributes.get("switchboard.stage")
        if stage in STAGES:
            out[stage] = out.get(stage, 0.0) + (span.end_time - span.start_time) / 1e6
        elif span.name == "chat turn":
            out["turn"] = (span.end_time - span.start_time) / 1e6
    return out


def _ms(values: list[float]) -> dict[str, float]:
    summary = summary_ms([v / 1000 for v in values])  # summary_ms takes seconds
    return {**summary, "mean": round(statistics.fmean(values), 2)} if values else summary


def report(rows: list[dict]) -> dict:
    done = [row for row in rows if row["done"] and all(s in row for s in STAGES)]
    guardrails = [
        r["input_guardrails"] + r["reply_guard_stream"] + r["output_guardrails"] for r in done
    ]
    retrieval = [r["retrieval"] for r in done]
    both = [g + r for g, r in zip(guardrails, retrieval, strict=True)]
    turn = [r["turn"] for r in done]
    return {
        "turns": len(rows),
        "measured_turns": len(done),
        "per_stage_ms": {
            "input_guardrails": _ms([r["input_guardrails"] for r in done]),
            "reply_guard_streaming": _ms([r["reply_guard_stream"] for r in done]),
            "output_guardrails_record": _ms([r["output_guardrails"] for r in done]),
            "retrieval": _ms(retrieval),
        },
        "guardrails_per_turn_ms": _ms(guardrails),
        "retrieval_per_turn_ms": _ms(retrieval),
        "guardrails_and_retrieval_per_turn_ms": _ms(both),
        "whole_turn_ms": _ms(turn),
        "share_of_turn_mean": round(sum(both) / sum(turn), 3) if turn else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="times each input is sent")
    parser.add_argument("--per-set", type=int, default=50, help="inputs from each evaldata set")
    args = parser.parse_args()

    DATA.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in test_env().items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update({"OTEL_TRACES_EXPORTER": "none", "LOG_LEVEL": "WARNING"})
    env["DATABASE_CONN_MAX_AGE"] = "60"
    with embedded_services(env, DATA, persist_redis=False), simulator_process(env) as simulator:
        manage(env, "migrate", "--noinput", "-v", "0")
        os.environ.update(env)
        import django
        import httpx

        django.setup()
        exporter = install_span_exporter()
        clock = ReplyGuardClock()
        clock.install()
        setup_app()
        httpx.post(f"{simulator}/_sim/script", json={"reply": REPLY, "times": 0})
        sets = inputs(args.per_set)
        asyncio.run(run_turns(sets["knowledge_questions"][:5], exporter, clock))  # warm-up
        result: dict = {"rounds": args.rounds, "reply_chars": len(REPLY), "by_input": {}}
        every = []
        for name, texts in sets.items():
            rows = asyncio.run(run_turns(texts * args.rounds, exporter, clock))
            result["by_input"][name] = report(rows)
            every += rows
            print(f"{name}: {len(rows)} turns", flush=True)
        result["all_inputs"] = report(every)
        statuses = Counter(row["done"] for row in every)
        result["turns_not_done"] = statuses.get(False, 0)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
