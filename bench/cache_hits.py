"""Cache-hit turns per second: N clients at once asking questions the cache has answered.

    .venv/bin/python -m bench.cache_hits [--clients 1 10 50] [--turns-per-client 20]
                                         [--questions 20] [--web-processes 1]

A warm cache first: each of `--questions` distinct questions is asked once over the websocket (a
miss; the simulator streams a 100-token reply, which the record stage stores). Then, for each N,
N clients at once each ask `--turns-per-client` of those questions one after another, each in a
fresh conversation (what the cache scope needs: no earlier history), over a real websocket as the
browser does. Measured at the client: hit turns per second (turns answered from the cache / wall
time), the share of turns that were hits, time to the first streamed frame and to the final one
(p50/p95/p99), and CPU and memory of every process. Writes bench/results/cache_hits.json.
"""

from __future__ import annotations

import argparse
import asyncio
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
from bench.streaming import REPLY

TEMPLATE = "bench-cache"


def setup_template() -> None:
    """The assistant under test, caching with the shipped defaults."""
    from gateway.models import CachePolicy, LanguageModel
    from prompts_admin.models import PromptTemplate

    template, _ = PromptTemplate.objects.update_or_create(
        slug=TEMPLATE,
        defaults={
            "name": "Cache bench",
            "system_prompt": "You are terse.",
            "model": LanguageModel.objects.get(name="gpt-4o-mini"),
        },
    )
    CachePolicy.objects.update_or_create(template=template, defaults={"enabled": True})


def questions(count: int) -> list[str]:
    topics = ["refund", "invoice", "password", "shipping", "warranty", "account", "plan", "API"]
    return [
        f"Question {index}: how does the {topics[index % len(topics)]} process work?"
        for index in range(count)
    ]


def clients_with_conversations(clients: int, per_client: int) -> list[tuple[str, list[str]]]:
    """`clients` signed-in users, each with `per_client` fresh conversations: (cookie, ids)."""
    from chat.models import Conversation

    out = []
    for cookie, first_id in users_with_sessions(clients, TEMPLATE):
        first = Conversation.objects.get(id=first_id)
        more = Conversation.objects.bulk_create(
            Conversation(user_id=first.user_id, template_id=first.template_id)
            for _ in range(per_client - 1)
        )
        out.append((cookie, [first_id, *(str(c.id) for c in more)]))
    return out


def warm(url: str, asked: list[str]) -> int:
    """Ask every question once (all at once); returns how many were answered, and so stored."""
    pairs = users_with_sessions(len(asked), TEMPLATE)
    turns = asyncio.run(
        _all(
            websocket_turn(url, cookie, conversation, text)
            for (cookie, conversation), text in zip(pairs, asked, strict=True)
        )
    )
    return sum(turn.ok for turn in turns)


async def client_loop(url: str, cookie: str, conversations: list[str], asked: list[str], offset):
    """One client: a cached question per fresh conversation, one after another."""
    return [
        await websocket_turn(url, cookie, conversation, asked[(offset + n) % len(asked)])
        for n, conversation in enumerate(conversations)
    ]


def measure(stack, clients: int, per_client: int, asked: list[str]) -> dict:
    plan = clients_with_conversations(clients, per_client)
    with ProcessSampler(stack.sampled()) as sampler:
        started = time.monotonic()
        rounds = asyncio.run(
            _all(
                # Clients spread over the web processes, as a load balancer would.
                client_loop(stack.web[index % len(stack.web)], cookie, conversations, asked, index)
                for index, (cookie, conversations) in enumerate(plan)
            )
        )
        elapsed = time.monotonic() - started
    turns = [turn for client in rounds for turn in client]
    hits = [turn for turn in turns if turn.ok and turn.cached]
    failures: dict[str, int] = {}
    for turn in turns:
        if not turn.ok:
            failures[turn.error] = failures.get(turn.error, 0) + 1
    return {
        "clients": clients,
        "turns": len(turns),
        "hit_turns": len(hits),
        "hit_share": round(len(hits) / len(turns), 4),
        "answered_by_the_model": sum(turn.ok and not turn.cached for turn in turns),
        "failures_by_kind": failures,
        "wall_seconds": round(elapsed, 2),
        "hit_turns_per_second": round(len(hits) / elapsed, 1),
        "to_first_frame_ms": summary_ms([t.ttft for t in hits if t.ttft is not None]),
        "to_final_frame_ms": summary_ms([t.total for t in hits]),
        "processes": sampler.report(),
    }


async def _all(loops) -> list:
    return list(await asyncio.gather(*loops))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--turns-per-client", type=int, default=20)
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--web-processes", type=int, default=1)
    args = parser.parse_args()

    asked = questions(args.questions)
    with app_stack(web_processes=args.web_processes, ttft_ms=300, tokens_per_s=50) as stack:
        setup_template()
        httpx.post(f"{stack.simulator}/_sim/script", json={"reply": REPLY, "times": 0})
        stored = warm(stack.web[0], asked)
        runs = []
        for clients in args.clients:
            runs.append(measure(stack, clients, args.turns_per_client, asked))
            print(f"{clients} clients: {runs[-1]['hit_turns_per_second']} hit turns/s", flush=True)
    write_result(
        "cache_hits",
        {
            "questions_in_cache": stored,
            "reply_tokens": 100,
            "turns_per_client": args.turns_per_client,
            "web_processes": args.web_processes,
            "runs": runs,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
