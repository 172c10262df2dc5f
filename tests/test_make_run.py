"""What `make run` promises, checked on `python -m devstack.run` (the venv part is the Makefile's).

It runs on the embedded defaults (no DATABASE_URL, REDIS_URL or provider key) with a data
directory of its own (DATA_DIR) and a free PORT, so neither the checkout's `.data/` database nor
this test session's services are touched.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import psycopg
import pytest

from devstack.processes import ROOT
from devstack.services import DATABASE_NAME, free_port

# Slow: every start brings up PostgreSQL, Redis, Daphne, Celery and the simulator for real.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

START_TIMEOUT = 90.0
STOP_TIMEOUT = 20.0
PASSWORD_LINE = re.compile(r"Created staff user 'admin' with password: (\S+)")

# What `make test` exports for the suite; `make run` must work out its own values instead.
NOT_INHERITED = (
    "DATABASE_URL",
    "REDIS_URL",
    "CELERY_BROKER_URL",
    "SIMULATOR_URL",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS",
    "SECURE_COOKIES",
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "OPENAI_BASE_URL",
    "ANTHROPIC_BASE_URL",
)


@dataclass
class Run:
    """One `python -m devstack.run`, started in its own session as a terminal would."""

    data_dir: Path
    port: int
    log: Path
    process: subprocess.Popen
    url: str = ""
    password: str | None = None
    # A logged-in session, to show it outlives a restart.
    session: httpx.Cookies | None = None
    # Every process this run brought up, seen while it was running.
    seen: list[psutil.Process] = field(default_factory=list)

    @classmethod
    def start(cls, data_dir: Path, log: Path) -> Run:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
        env |= {"DATA_DIR": str(data_dir), "PORT": str(port), "PYTHONUNBUFFERED": "1"}
        with log.open("w") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "devstack.run"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        run = cls(data_dir, port, log, process)
        try:
            run._wait_until_serving()
        except BaseException:
            run.seen = run._processes()
            run.ctrl_c()
            run.kill_leftovers()
            raise
        return run

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def _wait_until_serving(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if found := re.search(r"running at (http://\S+?)/? ", self.output):
                self.url = found.group(1)
                self.seen = self._processes()
                return
            if self.process.poll() is not None:
                raise AssertionError(f"devstack.run exited early:\n{self.output}")
            time.sleep(0.2)
        raise AssertionError(f"no URL printed within {START_TIMEOUT:.0f} s:\n{self.output}")

    def _processes(self) -> list[psutil.Process]:
        """The run's descendants plus what was started detached for it (pg_ctl daemonizes
        PostgreSQL), found by the data directory or port on their command line."""
        found = {p.pid: p for p in psutil.Process(self.process.pid).children(recursive=True)}
        for process in owned_by(self.data_dir, self.port):
            found[process.pid] = process
            found |= {c.pid: c for c in process.children(recursive=True)}
        return list(found.values())

    def ctrl_c(self) -> int | None:
        """SIGINT to the run's process group, as a terminal's Ctrl-C; its exit code, or None."""
        if self.process.poll() is None:
            # Look again first: the worker forks its pool after the URL is printed.
            self.seen = list({p.pid: p for p in [*self.seen, *self._processes()]}.values())
            os.killpg(self.process.pid, signal.SIGINT)
        try:
            return self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            return None

    def leftovers(self) -> list[str]:
        alive = {p.pid: p for p in self.seen if running(p)}
        alive |= {p.pid: p for p in owned_by(self.data_dir, self.port)}
        return [describe(p) for p in alive.values()]

    def kill_leftovers(self) -> None:
        """Last resort after a failed stop: end exactly the processes this run started."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for process in [*self.seen, *owned_by(self.data_dir, self.port)]:
            if running(process):
                process.kill()


def running(process: psutil.Process) -> bool:
    # A zombie has exited; only its exit status waits to be reaped (by init, in a container).
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def owned_by(data_dir: Path, port: int) -> list[psutil.Process]:
    mine = []
    for process in psutil.process_iter(["cmdline"]):
        argv = process.info["cmdline"] or []
        if process.pid == os.getpid():
            continue
        if (str(port) in argv or any(str(data_dir) in arg for arg in argv)) and running(process):
            mine.append(process)
    return mine


def describe(process: psutil.Process) -> str:
    try:
        return f"{process.pid}: {' '.join(process.cmdline())}"
    except psutil.Error:
        return f"{process.pid}: (gone)"


def stop_cleanly(run: Run) -> None:
    code = run.ctrl_c()
    assert code == 0, f"devstack.run exited with {code} on Ctrl-C:\n{run.output}"
    assert "stopped; data kept in" in run.output
    left = run.leftovers()
    assert not left, "processes outlived Ctrl-C:\n" + "\n".join(left)
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", run.port)) != 0, f"port {run.port} still answers"


def wait_until_ready(url: str, timeout: float = 30.0) -> dict:
    """/readyz, polled: the URL is printed as Daphne listens, the worker may still be starting."""
    deadline = time.monotonic() + timeout
    while True:
        response = httpx.get(f"{url}/readyz", timeout=10)
        if response.status_code == 200 or time.monotonic() > deadline:
            return response.json() | {"http_status": response.status_code}
        time.sleep(0.5)


@contextmanager
def log_in(url: str, password: str) -> Iterator[httpx.Client]:
    """Log in through the login form, as a browser does: CSRF cookie plus the form's token."""
    with httpx.Client(base_url=url, timeout=10) as client:
        form = client.get("/accounts/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
        assert token and "csrftoken" in client.cookies
        client.post(
            "/accounts/login/",
            data={"username": "admin", "password": password, "csrfmiddlewaretoken": token[1]},
            headers={"Referer": f"{url}/accounts/login/"},
        )
        yield client


def is_chat_home(response: httpx.Response) -> bool:
    return (
        response.status_code == 200
        and response.url.path == "/"
        and "Start a conversation" in response.text
    )


def demo_counts(data_dir: Path) -> dict[str, int]:
    """Straight from the embedded PostgreSQL: its socket directory is in postmaster.pid."""
    socket_dir = (data_dir / "pg" / "postmaster.pid").read_text().splitlines()[4]
    with psycopg.connect(host=socket_dir, user="postgres", dbname=DATABASE_NAME) as conn:
        return {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("prompts_admin_prompttemplate", "knowledge_document", "auth_user")
        }


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("make-run").resolve() / "data"


@pytest.fixture(scope="module")
def first_run(data_dir) -> Iterator[Run]:
    """The first start on an empty data directory; a test stops it (and checks how)."""
    run = Run.start(data_dir, data_dir.parent / "first.log")
    try:
        if passwords := PASSWORD_LINE.findall(run.output):
            run.password = passwords[0]
            with log_in(run.url, run.password) as client:
                run.session = httpx.Cookies(client.cookies)
        yield run
    finally:
        if run.ctrl_c() != 0 or run.leftovers():
            run.kill_leftovers()


def test_first_run_sets_everything_up_and_ctrl_c_stops_every_process(first_run):
    # The generated password is printed, once.
    passwords = PASSWORD_LINE.findall(first_run.output)
    assert len(passwords) == 1, first_run.output
    assert first_run.output.count(passwords[0]) == 1
    assert first_run.url == f"http://127.0.0.1:{first_run.port}"
    # Embedded services under DATA_DIR, not under the checkout's .data/; the simulator, no key.
    assert "embedded PostgreSQL + pgvector" in first_run.output
    assert "embedded Redis" in first_run.output
    assert "no provider key set: replies come from the provider simulator" in first_run.output
    assert (first_run.data_dir / "pg" / "PG_VERSION").exists()
    assert (first_run.data_dir / "secret_key").exists()

    report = wait_until_ready(first_run.url)
    assert report["http_status"] == 200, report
    assert report["failed"] == [] and all(check["ok"] for check in report["checks"].values())
    assert set(report["checks"]) == {"database", "redis", "channel_layer", "celery", "providers"}

    with log_in(first_run.url, "not-the-password") as client:
        assert not is_chat_home(client.get("/"))  # a wrong password is refused
    with log_in(first_run.url, passwords[0]) as client:
        assert is_chat_home(client.get("/"))

    stop_cleanly(first_run)


def test_a_second_run_keeps_the_data_and_redoes_nothing(first_run, data_dir):
    assert first_run.password and first_run.session, first_run.output
    secret_key = (data_dir / "secret_key").read_text()
    stop_cleanly(first_run)  # already done if the test above ran; then this only checks it

    second = Run.start(data_dir, data_dir.parent / "second.log")
    try:
        assert "with password" not in second.output, "a second password was generated"
        assert (data_dir / "secret_key").read_text() == secret_key
        # Same SECRET_KEY and database: the session from before the restart is still valid.
        with httpx.Client(base_url=second.url, timeout=10, cookies=first_run.session) as client:
            assert is_chat_home(client.get("/", follow_redirects=True))
        with log_in(second.url, first_run.password) as client:
            assert is_chat_home(client.get("/"))
        assert demo_counts(data_dir) == {
            "prompts_admin_prompttemplate": 1,
            "knowledge_document": 1,
            "auth_user": 1,
        }
        assert wait_until_ready(second.url)["http_status"] == 200
        stop_cleanly(second)
    finally:
        if second.process.poll() is None or second.leftovers():
            second.ctrl_c()
            second.kill_leftovers()
