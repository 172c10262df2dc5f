"""Gateway overhead: what the full pipeline adds to a model call, next to LiteLLM's proxy.

    .venv/bin/python -m bench.overhead [--concurrency 1 10 100] [--turns 200] [--no-litellm]

The same streamed request is timed (time to first token and total, at the client) four ways, at
each concurrency: straight to the provider simulator with the OpenAI SDK (the floor), through
Switchboard's websocket chat (the browser's path: admission, persist, guardrails, prompt
selection, semantic cache lookup and store, the model call, record), through Switchboard's
OpenAI-compatible API (/v1/chat/completions, streamed, with an API key; the same pipeline), and
through LiteLLM's proxy (installed on first use into .data/bench/litellm-venv from PyPI, pinned;
LITELLM_VENV names another) pointed at the same simulator, in the same run. Overhead = path -
direct, per percentile; the ratios compare Switchboard's API overhead with LiteLLM's. Each
Switchboard turn asks a question not asked before (Quora questions from the shared evaldata),
so the cache is looked up and misses, as for a new question; hits, if any, are counted.
Writes bench/results/overhead.json.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import httpx

from bench.harness import (
    DATA,
    app_stack,
    process,
    summary_ms,
    users_with_sessions,
    websocket_turn,
    write_result,
)
from bench.streaming import REPLY, setup_template
from devstack.services import free_port, wait_for_port
from guardrails.training import evaldata_dir

LITELLM_VENV = Path(os.environ.get("LITELLM_VENV") or DATA / "litellm-venv")
# Pinned: a known release (and one whose dependencies the package index here can satisfy), so
# that a later, compromised release is never installed by accident.
LITELLM_REQUIREMENT = "litellm[proxy]==1.106.2"
MODEL = "gpt-4o-mini"
LITELLM_KEY = "sk-bench-" + secrets.token_hex(16)  # the proxy refuses to start without one
QUESTION = "bench question"
TEMPLATE = "bench-overhead"
NAN = float("nan")


def fresh_questions() -> Iterator[str]:
    """Questions never asked before in this run: each Switchboard turn is a cache miss."""
    path = evaldata_dir() / "paraphrase_qqp_test.jsonl"
    seen: set[str] = set()
    if path.exists():
        for line in path.open():
            question = json.loads(line)["a"].strip()
            if question and question not in seen:
                seen.add(question)
                yield question
    for index in itertools.count():  # without the evaldata, or past its end
        yield f"Bench question {index}: {secrets.token_hex(8)}?"


def setup_overhead_template() -> None:
    """The bench assistant with the semantic cache on (the defaults): the full pipeline."""
    from gateway.cache.store import invalidate_template
    from gateway.models import CachePolicy
    from prompts_admin.models import PromptTemplate

    setup_template()
    bench = PromptTemplate.objects.get(slug="bench")
    template, _ = PromptTemplate.objects.update_or_create(
        slug=TEMPLATE,
        defaults={
            "name": "Overhead bench",
            "system_prompt": bench.system_prompt,
            "model": bench.model,
            "total_timeout_seconds": 120,
        },
    )
    CachePolicy.objects.update_or_create(template=template, defaults={"enabled": True})
    # The bench database outlives a run and every run asks the same questions: answers an
    # earlier run cached would be served as hits (136 of 200 websocket turns at concurrency 1).
    invalidate_template(template.id)


def cache_hits_logged() -> int:
    from observability.models import RequestLog

    return RequestLog.objects.filter(cache_status="hit").count()


async def sdk_stream(
    base_url: str, api_key: str, model: str, question: str = QUESTION
) -> tuple[float, float, str]:
    """(ttft, total, error kind) of one streamed completion through an OpenAI-compatible API."""
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=120)
    try:
        started = time.monotonic()
        first = None
        stream = await client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": question}], stream=True
        )
        async for chunk in stream:
            if first is None and chunk.choices and chunk.choices[0].delta.content:
                first = time.monotonic() - started
        if first is None:
            return NAN, NAN, "no_text"
        return first, time.monotonic() - started, ""
    except Exception as error:  # counted as a failed call, with its kind
        return NAN, NAN, type(error).__name__
    finally:
        await client.close()


async def timed_rounds(call: Callable[[int], Awaitable], indexes: range, concurrency: int) -> list:
    """`call(index)` for every index, `concurrency` at a time; returns what each call returned."""
    semaphore = asyncio.Semaphore(concurrency)

    async def one(index: int):
        async with semaphore:
            return await call(index)

    return list(await asyncio.gather(*(one(index) for index in indexes)))


def stats(samples: list[tuple[float, float, str]]) -> dict:
    ok = [(ttft, total) for ttft, total, error in samples if not error]
    failures: dict[str, int] = {}
    for _, _, error in samples:
        if error:
            failures[error] = failures.get(error, 0) + 1
    return {
        "ok": len(ok),
        "failed": len(samples) - len(ok),
        "failures_by_kind": failures,
        "ttft_ms": summary_ms([ttft for ttft, _ in ok]),
        "total_ms": summary_ms([total for _, total in ok]),
    }


def overhead(path: dict, direct: dict) -> dict:
    return {
        measure: {
            key: round(path[measure][key] - direct[measure][key], 1) for key in direct[measure]
        }
        for measure in ("ttft_ms", "total_ms")
    }


def ratio(ours: dict, theirs: dict) -> dict:
    """Our overhead / LiteLLM's, per measure and percentile; None where theirs is not above 0."""
    return {
        measure: {
            key: round(ours[measure][key] / theirs[measure][key], 2)
            if theirs[measure][key] > 0
            else None
            for key in ours[measure]
        }
        for measure in ("ttft_ms", "total_ms")
    }


def litellm_python() -> Path:
    """LiteLLM's own virtualenv (it must not share ours), created and filled on first use."""
    python = LITELLM_VENV / "bin" / "python"
    if not (LITELLM_VENV / "bin" / "litellm").exists():
        subprocess.run([sys.executable, "-m", "venv", str(LITELLM_VENV)], check=True)
        pip = [str(python), "-m", "pip", "install", "-q", LITELLM_REQUIREMENT]
        subprocess.run(pip, check=True)
    return python


@contextmanager
def litellm_proxy(simulator: str) -> Iterator[str]:
    """LiteLLM's proxy, from its own virtualenv, routing MODEL to the simulator."""
    litellm_python()
    config = DATA / "litellm.yaml"
    config.write_text(
        "model_list:\n"
        f"  - model_name: {MODEL}\n"
        "    litellm_params:\n"
        f"      model: openai/{MODEL}\n"
        f"      api_base: {simulator}/v1\n"
        "      api_key: bench\n"
        "litellm_settings:\n"
        "  telemetry: false\n"
    )
    port = free_port()
    # Offline: its bundled price map, no telemetry, no update checks.
    env = {
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_TELEMETRY": "False",
        "LITELLM_MASTER_KEY": LITELLM_KEY,
        "PATH": "/usr/bin:/bin",
        "HOME": str(DATA),
    }
    argv = [str(LITELLM_VENV / "bin" / "litellm"), "--config", str(config), "--port", str(port)]
    with process([*argv, "--num_workers", "1"], env):
        wait_for_port(port, timeout=180)
        yield f"http://127.0.0.1:{port}"


def api_key_for_bench() -> str:
    """A bench user's API key for /v1/chat/completions."""
    from django.contrib.auth import get_user_model

    from api.keys import apikey_create

    user, _ = get_user_model().objects.get_or_create(username="bench-api")
    return apikey_create(user=user, name="bench", scopes=["chat"]).secret


def measure_level(
    stack, concurrency: int, turns: int, litellm: str | None, api_key: str, questions
) -> dict:
    # Warm-up calls use indexes past `turns`: every websocket turn gets a fresh conversation.
    warm = range(turns, turns + min(turns, concurrency))
    pairs = users_with_sessions(warm.stop, TEMPLATE)
    hits_before = cache_hits_logged()

    async def direct(_):
        return await sdk_stream(f"{stack.simulator}/v1", "bench", MODEL)

    async def websocket(index):
        cookie, conversation = pairs[index]
        turn = await websocket_turn(stack.web[0], cookie, conversation, next(questions))
        if turn.ok and turn.ttft:
            return turn.ttft, turn.total, ""
        return NAN, NAN, turn.error or "no_text"

    async def api(_):
        return await sdk_stream(f"{stack.web[0]}/v1", api_key, TEMPLATE, next(questions))

    paths = {"direct": direct, "websocket": websocket, "api": api}
    if litellm:

        async def via_litellm(_):
            return await sdk_stream(f"{litellm}/v1", LITELLM_KEY, MODEL)

        paths["litellm"] = via_litellm

    level = {}
    for name, call in paths.items():
        asyncio.run(timed_rounds(call, warm, concurrency))
        level[name] = stats(asyncio.run(timed_rounds(call, range(turns), concurrency)))
        print(f"concurrency {concurrency}, {name}: {level[name]['ok']}/{turns} ok", flush=True)
    level["cache_hits_in_switchboard_turns"] = cache_hits_logged() - hits_before  # expect 0
    for name in paths:
        if name != "direct":
            level[name]["overhead"] = overhead(level[name], level["direct"])
    if "litellm" in level:
        level["api_overhead_over_litellm_overhead"] = ratio(
            level["api"]["overhead"], level["litellm"]["overhead"]
        )
    return level


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--turns", type=int, default=200, help="per path and concurrency")
    parser.add_argument("--no-litellm", action="store_true")
    args = parser.parse_args()

    if not args.no_litellm:
        litellm_python()  # before the clock starts: a first install takes minutes
    with app_stack(ttft_ms=200, tokens_per_s=200) as stack:
        setup_overhead_template()
        # Every request (times 0: forever) gets the same 100-token reply.
        httpx.post(f"{stack.simulator}/_sim/script", json={"reply": REPLY, "times": 0})
        api_key = api_key_for_bench()
        questions = fresh_questions()
        proxy = nullcontext() if args.no_litellm else litellm_proxy(stack.simulator)
        with proxy as litellm:
            levels = {
                str(c): measure_level(stack, c, max(args.turns, c), litellm, api_key, questions)
                for c in args.concurrency
            }
    write_result(
        "overhead",
        {
            "simulator": {"ttft_ms": 200, "tokens_per_s": 200, "reply_tokens": 100},
            "turns_per_level": args.turns,
            "litellm": None if args.no_litellm else LITELLM_REQUIREMENT,
            "levels": levels,
            "note": "overhead = path - direct at the same percentile; negative means noise. "
            "api_overhead_over_litellm_overhead: ours / theirs (below 1: we add less).",
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
