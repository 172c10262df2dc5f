"""Real processes for the tests: the provider simulator, Daphne and a Celery worker."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import httpx

from devstack.daphne import daphne_argv
from devstack.processes import ROOT
from devstack.services import free_port, wait_for_port

# CHAT_TITLE_MODEL in every test process. The simulator answers it on its own (--own-model): a
# title job running in the background never uses up a reply a test scripted for the chat, and
# a test scripts a title by naming this model.
TITLE_MODEL = "title-model"


def wait_for_http(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


@contextmanager
def running(argv: list[str], env: Mapping[str, str] | None = None) -> Iterator[subprocess.Popen]:
    process = subprocess.Popen(argv, cwd=ROOT, env={**os.environ, **(env or {})})
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def simulator(**knobs: float) -> Iterator[str]:
    port = free_port()
    flags = [f"--{name.replace('_', '-')}={value}" for name, value in knobs.items()]
    argv = [sys.executable, "-m", "gateway.simulator", "--port", str(port), *flags]
    with running(argv):
        url = f"http://127.0.0.1:{port}"
        wait_for_http(f"{url}/healthz")
        yield url


@contextmanager
def daphne(env: Mapping[str, str]) -> Iterator[str]:
    port = free_port()
    with running(daphne_argv("127.0.0.1", port, env), env):
        wait_for_port(port, timeout=30)
        yield f"http://127.0.0.1:{port}"


@contextmanager
def celery_worker(env: Mapping[str, str]) -> Iterator[None]:
    argv = [sys.executable, "-m", "celery", "-A", "config", "-q", "worker", "-P", "solo"]
    with running([*argv, "-l", "warning", "--without-gossip", "--without-mingle"], env):
        yield
