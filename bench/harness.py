"""What the benchmarks share: their own embedded services, the app's processes, users with
sessions, websocket turns timed from the client's side, and process CPU/memory sampling."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field

import psutil

from bench.output import RESULTS_DIR
from devstack.daphne import daphne_argv
from devstack.processes import ROOT, manage
from devstack.services import embedded_services, free_port, wait_for_port
from devstack.testrun import test_env

DATA = ROOT / ".data" / "bench"
RESULTS = RESULTS_DIR
# The benches measure the pipeline, not the rate limits: every user may send as much as it likes.
UNLIMITED = {
    "RATE_LIMITS_API": "default=1000000/m",
    "RATE_LIMITS_CHAT": "default=1000000/m",
    "RATE_LIMITS_HTTP": "anonymous=1000000/m,default=1000000/m",
}


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def summary_ms(values: list[float]) -> dict[str, float]:
    """p50/p95/p99 of `values` (seconds), in milliseconds."""
    return {
        f"p{int(share * 100)}": round(percentile(values, share) * 1000, 1)
        for share in (0.5, 0.95, 0.99)
    }


def write_result(name: str, result: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


@contextmanager
def process(argv: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen]:
    """A child in its own process group, so that whatever it forks is stopped with it."""
    child = subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, start_new_session=True
    )
    try:
        yield child
    finally:
        with suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGTERM)
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            child.wait()


@dataclass
class Stack:
    env: dict[str, str]
    simulator: str
    web: list[str]  # base URLs of the web processes (or nginx in front of them)
    pids: dict[str, int] = field(default_factory=dict)

    def sampled(self) -> dict[str, int]:
        """The app's processes and this one: the clients can be the bottleneck on a small box."""
        return {**self.pids, "bench_clients": os.getpid()}


@contextmanager
def app_stack(
    *, web_processes: int = 1, ttft_ms: int = 300, tokens_per_s: int = 50, extra_env=None
) -> Iterator[Stack]:
    """Own Postgres + Redis under .data/bench, the simulator, and Daphne process(es)."""
    DATA.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in test_env().items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["DATABASE_CONN_MAX_AGE"] = "60"  # as in production: connections are reused
    env.update({**UNLIMITED, **(extra_env or {})})
    with ExitStack() as stack:
        stack.enter_context(embedded_services(env, DATA, persist_redis=False))
        sim_port = free_port()
        env["SIMULATOR_URL"] = simulator = f"http://127.0.0.1:{sim_port}"
        sim_argv = [sys.executable, "-m", "gateway.simulator", "--port", str(sim_port)]
        knobs = ["--ttft-ms", str(ttft_ms), "--tokens-per-s", str(tokens_per_s)]
        sim = stack.enter_context(process([*sim_argv, *knobs], env))
        manage(env, "migrate", "--noinput", "-v", "0")
        pids = {"simulator": sim.pid}
        web = []
        for index in range(web_processes):
            port = free_port()
            daphne = stack.enter_context(process(daphne_argv("127.0.0.1", port, env), env))
            pids[f"web{index}"] = daphne.pid
            web.append(f"http://127.0.0.1:{port}")
        wait_for_port(sim_port)
        for url in web:
            wait_for_port(int(url.rsplit(":", 1)[1]), timeout=60)
        os.environ.update(env)
        import django

        django.setup()
        yield Stack(env, simulator, web, pids)


def users_with_sessions(count: int, template_slug: str) -> list[tuple[str, str]]:
    """`count` users, each with a session cookie and a fresh conversation: (cookie, conv id)."""
    from django.conf import settings
    from django.contrib.auth import (
        BACKEND_SESSION_KEY,
        HASH_SESSION_KEY,
        SESSION_KEY,
        get_user_model,
    )
    from django.contrib.sessions.backends.db import SessionStore

    from chat.models import Conversation
    from prompts_admin.models import PromptTemplate

    template = PromptTemplate.objects.get(slug=template_slug)
    User = get_user_model()
    pairs = []
    for index in range(count):
        user, _ = User.objects.get_or_create(username=f"bench{index}")
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        conversation = Conversation.objects.create(user=user, template=template)
        cookie = f"{settings.SESSION_COOKIE_NAME}={session.session_key}"
        pairs.append((cookie, str(conversation.id)))
    return pairs


_REPLY = re.compile(r'id="m(\d+)" class="message assistant" data-status="(\w+)"')


@dataclass
class TurnTiming:
    ok: bool
    ttft: float | None = None  # seconds from send to the first reply text on the socket
    total: float | None = None  # seconds from send to the saved, final reply
    error: str = ""
    cached: bool = False  # the final reply carried the "answered from the cache" badge


async def websocket_turn(base_url: str, cookie: str, conversation: str, text: str) -> TurnTiming:
    """One chat turn as the browser does it; timed at the client."""
    import websockets

    url = base_url.replace("http://", "ws://") + f"/ws/c/{conversation}/"
    try:
        async with websockets.connect(
            url,
            origin=base_url,
            additional_headers={"Cookie": cookie},
            open_timeout=60,
            max_size=2**22,
        ) as socket:
            sent = time.monotonic()
            await socket.send(json.dumps({"action": "send", "message": text, "HEADERS": {}}))
            first = None
            async with asyncio.timeout(120):
                async for frame in socket:
                    if first is None and '-tail" hx-swap-oob' in frame:  # text, not the placeholder
                        first = time.monotonic() - sent
                    for _, status in _REPLY.findall(frame):
                        if status != "streaming":
                            total = time.monotonic() - sent
                            cached = 'class="badge cached"' in frame
                            return TurnTiming(status == "complete", first, total, status, cached)
    except Exception as error:  # counted as a failed turn, with its kind
        return TurnTiming(False, error=type(error).__name__)
    return TurnTiming(False, error="closed")


class ProcessSampler:
    """Samples CPU (% of one core) and RSS of named processes every `interval` seconds."""

    def __init__(self, pids: dict[str, int], interval: float = 0.5) -> None:
        self.processes = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.interval = interval
        self.samples: dict[str, list[tuple[float, int]]] = {name: [] for name in pids}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        for proc in self.processes.values():
            proc.cpu_percent(None)
        while not self._stop.wait(self.interval):
            for name, proc in self.processes.items():
                with suppress(psutil.Error):
                    self.samples[name].append((proc.cpu_percent(None), proc.memory_info().rss))

    def __enter__(self) -> ProcessSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def report(self) -> dict[str, dict[str, float]]:
        return {
            name: {
                "cpu_percent_mean": round(statistics.fmean(c for c, _ in rows), 1) if rows else 0,
                "cpu_percent_max": round(max(c for c, _ in rows), 1) if rows else 0,
                "rss_mb_max": round(max(r for _, r in rows) / 2**20, 1) if rows else 0,
            }
            for name, rows in self.samples.items()
        }
