"""Retrieval quality: recall@5 of the hybrid search on a question → passage set.

    .venv/bin/python -m bench.retrieval

Indexes the seeded handbook (chat/management/commands/seed_demo.py) and the documents in
bench/data/knowledge/ through the same service the upload task uses, then asks the questions of
bench/data/retrieval_questions.json. A question is answered when a returned passage contains its
answer sentence. Runs on its own embedded PostgreSQL (under .data/bench-retrieval) and writes
bench/results/retrieval.json: recall@1, recall@5 and MRR for hybrid (RRF), vector-only and
full-text-only search, and the latency of one retrieval (embedding + query).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

from bench.output import RESULTS_DIR
from devstack.processes import ROOT, manage
from devstack.services import embedded_services
from devstack.testrun import test_env

DATA = ROOT / ".data" / "bench-retrieval"
CORPUS = ROOT / "bench" / "data" / "knowledge"
QUESTIONS = ROOT / "bench" / "data" / "retrieval_questions.json"
RESULTS = RESULTS_DIR / "retrieval.json"
TOP_K = 5
MODES = ("hybrid", "vector", "fulltext")


def _flat(text: str) -> str:
    return " ".join(text.split())


def index_corpus() -> int:
    from chat.management.commands.seed_demo import DOCUMENT_TEXT
    from knowledge.models import Chunk, Document
    from knowledge.services import document_create_from_text

    Document.objects.all().delete()
    document_create_from_text(title="Switchboard handbook", text=DOCUMENT_TEXT)
    for path in sorted(CORPUS.glob("*.md")):
        text = path.read_text()
        title = text.splitlines()[0].removeprefix("# ").strip()
        document_create_from_text(title=title, text=text, source=path.name)
    return Chunk.objects.count()


def evaluate(mode: str, questions: list[dict]) -> dict:
    from gateway.embeddings import embed_one, embedder
    from knowledge.selectors import search_passages

    ranks, misses = [], []
    for item in questions:
        passages = search_passages(
            item["q"],
            embed_one(item["q"]),
            embedder=embedder().name,
            top_k=TOP_K,
            timeout_ms=10_000,
            mode=mode,
        )
        rank = next(
            (
                n
                for n, p in enumerate(passages, 1)
                if p.document_title == item["document"] and _flat(item["answer"]) in _flat(p.text)
            ),
            None,
        )
        ranks.append(rank)
        if rank is None:
            misses.append(item["q"])
    found = [r for r in ranks if r]
    return {
        "recall_at_1": round(sum(r == 1 for r in found) / len(ranks), 3),
        "recall_at_5": round(len(found) / len(ranks), 3),
        "mrr": round(sum(1 / r for r in found) / len(ranks), 3),
        "missed": misses,
    }


def latency(questions: list[dict]) -> dict:
    """Milliseconds of one retrieval as the pipeline runs it (embed the question, then search)."""
    from gateway.stages.retrieval import retrieve

    async def timed() -> list[float]:
        times = []
        for _ in range(3):
            for item in questions:
                started = time.perf_counter()
                await retrieve(item["q"], top_k=TOP_K)
                times.append((time.perf_counter() - started) * 1000)
        return times

    times = sorted(asyncio.run(timed()))
    return {
        "samples": len(times),
        "p50_ms": round(statistics.median(times), 2),
        "p95_ms": round(times[int(0.95 * (len(times) - 1))], 2),
    }


def main() -> int:
    DATA.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in test_env().items() if k not in ("DATABASE_URL", "REDIS_URL")}
    with embedded_services(env, DATA, persist_redis=False):
        manage(env, "migrate", "--noinput", "-v", "0")
        os.environ.update(env)
        import django

        django.setup()
        from gateway.embeddings import embedder

        questions = json.loads(Path(QUESTIONS).read_text())
        chunks = index_corpus()
        embedder().embed(["warm up"])  # the model loads once per process; not a query's cost
        result = {
            "embedder": embedder().name,
            "documents": 1 + len(list(CORPUS.glob("*.md"))),
            "passages": chunks,
            "questions": len(questions),
            "top_k": TOP_K,
            **{mode: evaluate(mode, questions) for mode in MODES},
            "latency": latency(questions),
        }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
