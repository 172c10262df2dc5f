"""The one way every launcher starts Daphne, so `make run`, `make cluster`, the benchmarks and
the tests all run the server with the same settings."""

from __future__ import annotations

import sys
from collections.abc import Mapping

# Daphne closes a websocket whose handshake the app has not accepted within this many seconds
# (its default is 5). Under a burst of new connections on a busy process the accept waits for
# the event loop, and at 5 s 1,000 simultaneous users lost 89 % of their handshakes; a browser
# waits far longer than that.
DEFAULT_CONNECT_TIMEOUT = "60"


def daphne_argv(
    host: str, port: int, env: Mapping[str, str], *, behind_proxy: bool = False
) -> list[str]:
    timeout = env.get("WEBSOCKET_CONNECT_TIMEOUT") or DEFAULT_CONNECT_TIMEOUT
    argv = [sys.executable, "-m", "daphne", "-b", host, "-p", str(port)]
    argv += ["--websocket_connect_timeout", timeout]
    # Behind nginx, the client address comes from X-Forwarded-For (nginx overwrites it).
    if behind_proxy:
        argv.append("--proxy-headers")
    return [*argv, "config.asgi:application"]
