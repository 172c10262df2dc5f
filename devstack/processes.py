"""A tiny supervisor: start child processes in their own sessions and stop them in order."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def manage(env: Mapping[str, str], *args: str) -> None:
    """Run a manage.py command to completion, failing loudly."""
    subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], env=env, check=True)


@dataclass
class Supervisor:
    children: dict[str, subprocess.Popen] = field(default_factory=dict)

    def spawn(self, name: str, argv: list[str], env: Mapping[str, str]) -> subprocess.Popen:
        # Own session: a terminal's Ctrl-C reaches only us, so we can stop children in order.
        process = subprocess.Popen(argv, env=env, cwd=ROOT, start_new_session=True)
        self.children[name] = process
        return process

    def exited(self) -> list[str]:
        return [name for name, p in self.children.items() if p.poll() is not None]

    def stop_all(self, timeout: float = 10.0) -> None:
        """SIGTERM every child (newest first), then SIGKILL whatever outlives the timeout."""
        running = [p for p in reversed(self.children.values()) if p.poll() is None]
        for process in running:
            os.killpg(process.pid, signal.SIGTERM)
        for process in running:
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.children.clear()
