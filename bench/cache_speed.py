"""How fast the semantic cache answers: lookups at 10k / 100k (/ 1M) entries, and a hit turn.

    .venv/bin/python -m bench.cache_speed                 # 10k and 100k entries
    .venv/bin/python -m bench.cache_speed --with-1m       # also 1M: run it on a quiet machine
    .venv/bin/python -m bench.cache_speed --sizes 1000000 --turns 0   # only the 1M lookups

On its own embedded PostgreSQL + pgvector and Redis (under .data/bench-cache). For each size the
table is emptied, filled with COPY (binary, pgvector's psycopg types) with vectors of real
questions (QQP train, embedded by wordllama; past its ~150k questions, recycled with a little
noise), the HNSW index is built once, after the load (timed; with maintenance_work_mem sized so the
whole graph fits — a graph that spills builds many times slower — and parallel workers), and
`lookups` questions not in the table go through
the cache's real lookup: exact hash, embedding, HNSW search in one scope holding every row (the
worst case for the scope filter), verification. Then Daphne serves the app and cache-hit turns
are timed end to end over a real websocket, from sending the message to the final frame.
Writes bench/results/cache_speed.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from bench.faults import percentile, simulator_process
from bench.output import RESULTS_DIR
from devstack.daphne import daphne_argv
from devstack.processes import ROOT, manage
from devstack.services import embedded_services, free_port, wait_for_port
from devstack.testrun import test_env

DATA = ROOT / ".data" / "bench-cache"
RESULTS = RESULTS_DIR / "cache_speed.json"
EVALDATA = Path("/work/shared/evaldata")
SCOPE = "b" * 64
EMBEDDER = "wordllama-l2_supercat-256"
COLUMNS = (
    "scope, template_id, knowledge_revision, query, query_hash, answer, embedding, embedder, "
    "model, simulated, hits, created_at, last_used_at, expires_at"
)


def questions() -> list[str]:
    path = EVALDATA / "paraphrase_qqp_train.jsonl"
    if not path.exists():
        path = ROOT.parent / "shared" / "evaldata" / "paraphrase_qqp_train.jsonl"
    seen: dict[str, None] = {}
    for line in path.open():
        pair = json.loads(line)
        seen.setdefault(pair["a"])
        seen.setdefault(pair["b"])
    return list(seen)


def vectors_for(texts: list[str], size: int, rng: np.random.Generator) -> np.ndarray:
    from gateway.embeddings import WordLlamaEmbedder

    base = WordLlamaEmbedder().embed(texts[: min(size, len(texts))])
    if size <= len(base):
        return base
    picks = base[rng.integers(0, len(base), size - len(base))]
    noisy = picks + rng.normal(0, 0.05, picks.shape).astype(np.float32)
    noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
    return np.vstack([base, noisy])


# The app's index (gateway/cache/models.py): the bench measures what ships.
HNSW_M, HNSW_EF_CONSTRUCTION = 16, 64


def build_memory(size: int) -> str:
    """maintenance_work_mem for an in-memory build: ~1 KB of vector + ~0.3 KB of graph a row,
    doubled for headroom; at least 1 GB (pgvector logs a notice when the graph stops fitting)."""
    return f"{max(1024, size * 2600 // 2**20)}MB"


def fill(size: int, texts: list[str], rng: np.random.Generator, *, workers: int) -> dict:
    """Empty the table, COPY `size` rows in, build the HNSW index; return the timings."""
    from django.db import connection
    from django.utils import timezone
    from pgvector.psycopg import register_vector

    vectors = vectors_for(texts, size, rng)
    connection.ensure_connection()
    conn = connection.connection  # the raw psycopg connection, in autocommit
    register_vector(conn)
    conn.execute("DROP INDEX IF EXISTS cache_embedding_hnsw")
    conn.execute("TRUNCATE gateway_cacheentry")
    now = timezone.now()
    expires = now + timezone.timedelta(days=1)
    started = time.perf_counter()
    with (
        conn.cursor() as cursor,
        cursor.copy(f"COPY gateway_cacheentry ({COLUMNS}) FROM STDIN WITH (FORMAT BINARY)") as copy,
    ):
        copy.set_types(
            ["text", "int8", "int8", "text", "text", "text", "vector", "text", "text",
             "bool", "int4", "timestamptz", "timestamptz", "timestamptz"]
        )  # fmt: skip
        for i, vector in enumerate(vectors):
            text = texts[i % len(texts)]
            copy.write_row(
                [SCOPE, 1, 0, text, f"{i:064x}", "An answer.", vector, EMBEDDER,
                 "gpt-4o-mini", True, 0, now, now, expires]
            )  # fmt: skip
    copied = time.perf_counter() - started
    conn.execute(f"SET maintenance_work_mem = '{build_memory(size)}'")
    conn.execute(f"SET max_parallel_maintenance_workers = {int(workers)}")
    print(f"  copied in {copied:.0f} s; building HNSW ({workers} parallel workers)…", flush=True)
    started = time.perf_counter()
    conn.execute(
        "CREATE INDEX cache_embedding_hnsw ON gateway_cacheentry USING hnsw (embedding "
        f"vector_cosine_ops) WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION})"
    )
    built = time.perf_counter() - started
    conn.execute("ANALYZE gateway_cacheentry")
    return {
        "copy_seconds": round(copied, 1),
        "hnsw_build_seconds": round(built, 1),
        "hnsw": {
            "m": HNSW_M,
            "ef_construction": HNSW_EF_CONSTRUCTION,
            "parallel_workers": workers,
            "maintenance_work_mem": build_memory(size),
        },
    }


def time_lookups(queries: list[str]) -> dict:
    """The cache's lookup as the pipeline runs it, minus the thread hop: ms per stage."""
    from gateway.cache.store import find_exact, find_similar
    from gateway.embeddings import embed, embedder

    name = embedder().name
    totals, searches, hits = [], [], 0
    for question in queries:
        started = time.perf_counter()
        if find_exact(scope=SCOPE, question=question) is None:
            vector = embed([question])[0].tolist()
            searched = time.perf_counter()
            hit = find_similar(scope=SCOPE, question=question, embedding=vector, embedder=name)
            searches.append((time.perf_counter() - searched) * 1000)
            hits += hit is not None
        totals.append((time.perf_counter() - started) * 1000)
    return {
        "lookups": len(queries),
        "lookup_ms": _summary(totals),
        "vector_search_and_verify_ms": _summary(searches),
        "verified_hits": hits,
    }


def _summary(values: list[float]) -> dict:
    return {
        "p50": round(statistics.median(values), 2),
        "p99": round(percentile(values, 0.99), 2),
    }


def _one_turn(app_server: str, cookie: str, conversation, text: str) -> tuple[float, float, bool]:
    from tests.wsclient import ChatSocket, is_finished

    socket = ChatSocket.open(app_server, conversation.id, cookie)
    try:
        started = time.perf_counter()
        socket.send_message(text)
        socket.receive_until("composer-ack")
        reply = conversation.messages.filter(role="assistant").latest("id")
        first_frame = None
        while not is_finished(frame := socket.receive(), reply.id):
            if first_frame is None and f'id="m{reply.id}-tail"' in frame:
                first_frame = time.perf_counter()
        done = time.perf_counter()
        return (first_frame or done) - started, done - started, ">cached<" in frame
    finally:
        socket.close()


async def hit_turns(app_server: str, turns: int) -> dict:
    """Cache-hit turns over the websocket: send → first streamed frame, send → final frame."""
    from channels.db import database_sync_to_async
    from django.contrib.auth import get_user_model
    from django.test import Client

    from chat.models import Conversation
    from prompts_admin.models import PromptTemplate

    def setup():
        user, _ = get_user_model().objects.get_or_create(username="cache-bench")
        client = Client()
        client.force_login(user)
        return user, PromptTemplate.objects.get(is_default=True), client.cookies["sessionid"].value

    user, template, session = await database_sync_to_async(setup)()
    cookie = f"sessionid={session}"
    first, final = [], []
    for index in range(turns + 1):
        conversation = await database_sync_to_async(Conversation.objects.create)(
            user=user, template=template
        )
        text = "How do I reset my password?" if index % 2 else "How can I reset my password?"

        to_first, to_final, cached = await database_sync_to_async(_one_turn)(
            app_server, cookie, conversation, text
        )
        if index == 0:
            continue  # the miss that fills the cache
        assert cached, "expected a cache hit"
        first.append(to_first * 1000)
        final.append(to_final * 1000)
    return {
        "turns": turns,
        "to_first_frame_ms": _summary(first),
        "to_final_frame_ms": _summary(final),
    }


def seed_app() -> None:
    from decimal import Decimal

    from gateway.models import LanguageModel
    from prompts_admin.models import PromptTemplate

    model, _ = LanguageModel.objects.get_or_create(
        name="gpt-4o-mini",
        defaults={
            "provider": "openai",
            "input_price": Decimal("0.15"),
            "output_price": Decimal("0.6"),
        },
    )
    PromptTemplate.objects.update_or_create(
        slug="cache-bench",
        defaults={"name": "Cache bench", "system_prompt": "Be brief.", "model": model,
                  "is_default": True},
    )  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--with-1m", action="store_true", help="add 1,000,000 entries to --sizes")
    parser.add_argument("--lookups", type=int, default=300)
    parser.add_argument("--turns", type=int, default=100, help="websocket hit turns (0: none)")
    parser.add_argument(
        "--build-workers",
        type=int,
        default=max(1, (os.cpu_count() or 2) - 1),
        help="max_parallel_maintenance_workers for the HNSW build",
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")] + ([1_000_000] if args.with_1m else [])

    DATA.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in test_env().items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["DATABASE_CONN_MAX_AGE"] = "60"
    # One user sends every hit turn, back to back: the per-user chat limit is not what is timed.
    env.setdefault("RATE_LIMITS_CHAT", "default=100000/m")
    with embedded_services(env, DATA, persist_redis=False), simulator_process(env):
        manage(env, "migrate", "--noinput", "-v", "0")
        os.environ.update(env)
        import django

        django.setup()
        rng = np.random.default_rng(7)
        texts = questions()
        known = set(texts)
        queries = [q for q in _test_questions() if q not in known][: args.lookups]
        result: dict = {"embedder": "wordllama-l2_supercat-256", "sizes": {}}
        for size in sizes:
            print(f"filling {size:,} entries…", flush=True)
            timings = fill(size, texts, rng, workers=args.build_workers)
            result["sizes"][str(size)] = {**timings, **time_lookups(queries)}
            save(result)  # a long run keeps what it measured even if a later step fails
        if not args.turns:
            return 0
        seed_app()
        with daphne(env) as app_server:
            result["hit_turn_websocket"] = asyncio.run(hit_turns(app_server, args.turns))
            result["hit_turn_websocket"]["table_entries"] = sizes[-1]
        save(result)
    return 0


def save(result: dict) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    if RESULTS.exists():  # keep the measurements of sizes not run this time (e.g. 1M)
        previous = json.loads(RESULTS.read_text())
        result["sizes"] = {**previous.get("sizes", {}), **result["sizes"]}
        result.setdefault("hit_turn_websocket", previous.get("hit_turn_websocket"))
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2), flush=True)


@contextmanager
def daphne(env: dict[str, str]) -> Iterator[str]:
    """Daphne serving the app; a generous start-up bound, since the machine may be busy."""
    from tests.live import running

    port = free_port()
    with running(daphne_argv("127.0.0.1", port, env), env):
        wait_for_port(port, timeout=180)
        yield f"http://127.0.0.1:{port}"


def _test_questions() -> list[str]:
    path = EVALDATA / "paraphrase_qqp_test.jsonl"
    return [json.loads(line)["b"] for line in path.open()]


if __name__ == "__main__":
    raise SystemExit(main())
