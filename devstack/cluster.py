"""`make cluster`: the production shape on one machine — nginx in front of several Daphne
processes, a Celery worker and beat, one Redis, one Postgres (embedded unless configured).

WEB_PROCESSES (default 2) sets how many web processes; PORT is nginx's. Ctrl-C stops it all.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

from devstack.nginx import nginx_argv, write_config
from devstack.processes import Supervisor
from devstack.run import (
    DATA,
    local_env,
    prepare,
    start_simulator,
    start_web,
    start_workers,
)
from devstack.services import embedded_services, free_port, wait_for_port


def start_cluster(
    supervisor: Supervisor, env: dict[str, str], *, host: str, port: int, web_processes: int
) -> list[int]:
    """Start the web processes and nginx in front of them; returns the web processes' ports."""
    ports = [free_port() for _ in range(web_processes)]
    for index, web_port in enumerate(ports):
        start_web(supervisor, env, "127.0.0.1", web_port, name=f"web{index}", behind_proxy=True)
    for web_port in ports:
        wait_for_port(web_port, timeout=30)
    config = write_config(
        DATA / "nginx",
        upstreams=[f"127.0.0.1:{web_port}" for web_port in ports],
        listen=f"{host}:{port}",
    )
    supervisor.spawn("nginx", nginx_argv(config), env)
    wait_for_port(port, timeout=10, host=host)
    return ports


def main() -> int:
    DATA.mkdir(parents=True, exist_ok=True)
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8000"))
    web_processes = int(os.environ.get("WEB_PROCESSES", "2"))
    env = local_env(host, port)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())

    with embedded_services(env, DATA):
        supervisor = Supervisor()
        try:
            prepare(env)
            start_simulator(supervisor, env)
            start_workers(supervisor, env)
            start_cluster(supervisor, env, host=host, port=port, web_processes=web_processes)
            print(
                f"\nSwitchboard ({web_processes} web processes behind nginx) is running at "
                f"http://{host}:{port}/  (Ctrl-C stops it)\n",
                flush=True,
            )
            while not stop.wait(0.5):
                if dead := supervisor.exited():
                    print(f"stopping: {', '.join(dead)} exited", file=sys.stderr, flush=True)
                    return 1
            return 0
        finally:
            print("stopping...", flush=True)
            supervisor.stop_all()


if __name__ == "__main__":
    sys.exit(main())
