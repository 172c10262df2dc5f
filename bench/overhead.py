"""Gateway overhead: what the full pipeline adds to a model call, next to LiteLLM's proxy.

    .venv/bin/python -m bench.overhead [--concurrency 1 10 100] [--turns 200] [--no-litellm]

The same streamed request is timed (time to first token and total, at the client) four ways, at
each concurrency: straight to the provider simulator with the OpenAI SDK (the floor), through
Switchboard's websocket chat (the browser's path: admission, persist, prompt selection, the
pipeline's stages, record), through Switchboard's OpenAI-compatible API when it is installed,
and through LiteLLM's proxy (installed on first use into .data/bench/litellm-venv, from PyPI)
pointed at the same simulator. Overhead = path - direct, per percentile; the ratio compares
Switchboard's API overhead with LiteLLM's. Writes bench/results/overhead.json.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

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
from bench.streaming import REPLY, TEMPLATE, setup_template
from devstack.services import free_port, wait_for_port

LITELLM_VENV = DATA / "litellm-venv"
MODEL = "gpt-4o-mini"
LITELLM_KEY = "sk-bench-" + secrets.token_hex(16)  # the proxy refuses to start without one


async def sdk_stream(base_url: str, api_key: str, model: str) -> tuple[float, float]:
    """(ttft, total) of one streamed completion through an OpenAI-compatible endpoint."""
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=120)
    try:
        started = time.monotonic()
        first = None
        stream = await client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "bench question"}], stream=True
        )
        async for chunk in stream:
            if first is None and chunk.choices and chunk.choices[0].delta.content:
                first = time.monotonic() - started
        return first or float("nan"), time.monotonic() - started
    finally:
        await client.close()


async def timed_rounds(call: Callable[[int], Awaitable], turns: int, concurrency: int) -> list:
    """`turns` calls, `concurrency` at a time; returns what each call returned."""
    semaphore = asyncio.Semaphore(concurrency)

    async def one(index: int):
        async with semaphore:
            return await call(index)

    return list(await asyncio.gather(*(one(index) for index in range(turns))))


def stats(samples: list[tuple[float, float]]) -> dict:
    ok = [(ttft, total) for ttft, total in samples if ttft == ttft]  # drop failures (NaN)
    return {
        "ok": len(ok),
        "failed": len(samples) - len(ok),
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


@contextmanager
def litellm_proxy(simulator: str) -> Iterator[str]:
    """LiteLLM's proxy, from its own virtualenv, routing MODEL to the simulator."""
    python = LITELLM_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(LITELLM_VENV)], check=True)
        pip = [str(python), "-m", "pip", "install", "-q", "litellm[proxy]"]
        subprocess.run(pip, check=True)
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
        "PATH": "/usr/bin",
    }
    argv = [str(LITELLM_VENV / "bin" / "litellm"), "--config", str(config), "--port", str(port)]
    with process([*argv, "--num_workers", "1"], env):
        wait_for_port(port, timeout=120)
        yield f"http://127.0.0.1:{port}"


def measure_level(stack, concurrency: int, turns: int, litellm: str | None, api) -> dict:
    direct_base = f"{stack.simulator}/v1"

    async def direct(_):
        return await sdk_stream(direct_base, "bench", MODEL)

    pairs = users_with_sessions(turns, TEMPLATE)

    async def websocket(index):
        cookie, conversation = pairs[index]
        turn = await websocket_turn(stack.web[0], cookie, conversation, "bench question")
        return (turn.ttft, turn.total) if turn.ok and turn.ttft else (float("nan"),) * 2

    paths = {"direct": direct, "websocket": websocket}
    if api:
        base_url, key = api

        async def via_api(_):
            return await sdk_stream(base_url, key, TEMPLATE)

        paths["api"] = via_api
    if litellm:

        async def via_litellm(_):
            return await sdk_stream(f"{litellm}/v1", LITELLM_KEY, MODEL)

        paths["litellm"] = via_litellm

    level = {}
    for name, call in paths.items():
        asyncio.run(timed_rounds(call, min(turns, concurrency), concurrency))  # warm up
        level[name] = stats(asyncio.run(timed_rounds(call, turns, concurrency)))
    for name in paths:
        if name != "direct":
            level[name]["overhead"] = overhead(level[name], level["direct"])
    if "api" in level and "litellm" in level:
        ours = level["api"]["overhead"]["total_ms"]["p50"]
        theirs = level["litellm"]["overhead"]["total_ms"]["p50"]
        level["api_vs_litellm_overhead_ratio_p50"] = round(ours / theirs, 2) if theirs else None
    return level


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--no-litellm", action="store_true")
    args = parser.parse_args()

    with app_stack(ttft_ms=200, tokens_per_s=200) as stack:
        setup_template()
        httpx.post(f"{stack.simulator}/_sim/script", json={"match": "bench", "reply": REPLY})
        api = None  # the OpenAI-compatible API's (base URL, key), once it lands
        with (litellm_proxy(stack.simulator) if not args.no_litellm else _nothing()) as litellm:
            levels = {
                str(c): measure_level(stack, c, max(args.turns, c), litellm, api)
                for c in args.concurrency
            }
    write_result(
        "overhead",
        {
            "simulator": {"ttft_ms": 200, "tokens_per_s": 200, "reply_tokens": 100},
            "turns_per_level": args.turns,
            "levels": levels,
            "note": "overhead = path - direct at the same percentile; negative means noise",
        },
    )
    return 0


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


if __name__ == "__main__":
    sys.exit(main())
