"""Concurrent streaming: N websocket users at once, each streaming a reply, on one machine.

    .venv/bin/python -m bench.streaming [--users 100 500 1000] [--web-processes CORES]
                                        [--windows 30] [--ttft-ms 300] [--tokens-per-s 50]

For each N, all N users connect and send at the same moment; the simulator answers each with the
same 100-token reply at a realistic pace. Measured at the client: share completed, time to first
token and to the final saved reply (p50/p95/p99), and the token delivery lag — the time beyond
what the same N streams take when read straight from the simulator with the OpenAI SDK. CPU and
memory of every process are sampled. `--windows` repeats the runs per delta-batching window
(CHAT_STREAM_WINDOW_MS) to show what the window costs. Writes bench/results/streaming.json.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time

import httpx

from bench.harness import (
    ProcessSampler,
    app_stack,
    summary_ms,
    users_with_sessions,
    websocket_turn,
    write_result,
)

REPLY = " ".join(f"word{index}" for index in range(100))
TEMPLATE = "bench"


def setup_template() -> None:
    """The bench assistant. It does not cache: every turn must reach the (simulated) model."""
    from gateway.models import CachePolicy, LanguageModel
    from prompts_admin.models import PromptTemplate

    template, _ = PromptTemplate.objects.update_or_create(
        slug=TEMPLATE,
        defaults={
            "name": "Bench",
            "system_prompt": "You are terse.",
            "model": LanguageModel.objects.get(name="gpt-4o-mini"),
            "total_timeout_seconds": 120,
        },
    )
    CachePolicy.objects.update_or_create(template=template, defaults={"enabled": False})


async def direct_stream(simulator: str) -> float:
    """One stream read straight from the simulator with the SDK: the floor for our total."""
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=f"{simulator}/v1", api_key="bench", max_retries=0, timeout=120)
    started = time.monotonic()
    stream = await client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "bench"}], stream=True
    )
    async for _ in stream:
        pass
    await client.close()
    return time.monotonic() - started


async def direct_baseline(simulator: str, users: int) -> list[float]:
    return list(await asyncio.gather(*(direct_stream(simulator) for _ in range(users))))


async def websocket_round(urls: list[str], pairs: list[tuple[str, str]]) -> list:
    """Every user's turn at once, the users spread over the web processes as a balancer would."""
    return list(
        await asyncio.gather(
            *(
                websocket_turn(urls[index % len(urls)], cookie, conv, "bench question")
                for index, (cookie, conv) in enumerate(pairs)
            )
        )
    )


def warm_up(stack) -> None:
    """A few turns per web process first: loading the embedder and classifier is no turn's cost."""
    for url in stack.web:
        asyncio.run(websocket_round([url], users_with_sessions(5, TEMPLATE)))


def measure(stack, users: int) -> dict:
    pairs = users_with_sessions(users, TEMPLATE)
    direct = asyncio.run(direct_baseline(stack.simulator, users))
    with ProcessSampler(stack.sampled()) as sampler:
        started = time.monotonic()
        turns = asyncio.run(websocket_round(stack.web, pairs))
        elapsed = time.monotonic() - started
    done = [t for t in turns if t.ok]
    errors: dict[str, int] = {}
    for turn in turns:
        if not turn.ok:
            errors[turn.error] = errors.get(turn.error, 0) + 1
    direct_p50 = sorted(direct)[len(direct) // 2]
    return {
        "users": users,
        "completed_share": round(len(done) / users, 4),
        "failed_turns": users - len(done),
        "failures_by_kind": errors,
        "wall_seconds": round(elapsed, 1),
        "ttft_ms": summary_ms([t.ttft for t in done if t.ttft is not None]),
        "total_ms": summary_ms([t.total for t in done]),
        "direct_from_simulator_total_ms": summary_ms(direct),
        "delivery_lag_ms": summary_ms([max(0.0, t.total - direct_p50) for t in done]),
        "processes": sampler.report(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, nargs="+", default=[100, 500, 1000])
    # One Daphne per core, spread as nginx would spread them: the production shape (make cluster).
    parser.add_argument("--web-processes", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--windows", type=int, nargs="+", default=[30])
    parser.add_argument("--ttft-ms", type=int, default=300)
    parser.add_argument("--tokens-per-s", type=int, default=50)
    args = parser.parse_args()

    runs = []
    for window in args.windows:
        extra = {"CHAT_STREAM_WINDOW_MS": str(window)}
        with app_stack(
            web_processes=args.web_processes,
            ttft_ms=args.ttft_ms,
            tokens_per_s=args.tokens_per_s,
            extra_env=extra,
        ) as stack:
            setup_template()
            # Every request (times 0: forever) gets the same 100-token reply.
            httpx.post(f"{stack.simulator}/_sim/script", json={"reply": REPLY, "times": 0})
            warm_up(stack)
            for users in args.users:
                result = measure(stack, users)
                result["window_ms"] = window
                runs.append(result)
                print(f"window {window} ms, {users} users: {result['completed_share']:.2%} done")
    write_result(
        "streaming",
        {
            "reply_tokens": 100,
            "simulator": {"ttft_ms": args.ttft_ms, "tokens_per_s": args.tokens_per_s},
            "web_processes": args.web_processes,
            "runs": runs,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
