"""Provider keys never leak: not into logs, traces, request logs, saved messages, admin pages,
health output or error responses — checked by scanning everything a keyed server produced.

A web process is started with provider keys (pointed at the simulator through the base-URL
settings) and its traces exported over OTLP to a collector in this test, driven through good
turns, refused keys, provider errors, admin and error pages, and then every byte it wrote,
served or exported is searched for the keys and for key-shaped strings.
"""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from django.core import serializers
from google.protobuf.json_format import MessageToJson
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from chat.models import Conversation, Message
from devstack.processes import ROOT
from devstack.services import free_port, wait_for_port
from observability.models import RequestLog
from tests.wsclient import ChatSocket

pytestmark = pytest.mark.django_db(transaction=True)

OPENAI_KEY = "sk-proj-" + "Zq7" * 16  # key-shaped, and unique enough to search for
ANTHROPIC_KEY = "sk-ant-api03-" + "Wk9" * 16
KEY_SHAPES = [
    re.compile(r"sk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}"),  # OpenAI / Anthropic
    re.compile(r"AKIA[0-9A-Z]{16}"),  # AWS access key id
    re.compile(r"gh[pousr]_[A-Za-z0-9]{30,}"),  # GitHub tokens
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
]


class _Collector(BaseHTTPRequestHandler):
    """An OTLP/HTTP trace collector: keeps every exported request, decoded to JSON."""

    exports: list[str] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        request = ExportTraceServiceRequest.FromString(body)
        self.exports.append(MessageToJson(request))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args) -> None:  # quiet
        pass


@pytest.fixture(scope="module")
def trace_collector() -> Iterator[tuple[int, list[str]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Collector.exports = []
    yield server.server_address[1], _Collector.exports
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def keyed_server(
    live_env, simulator_url, tmp_path_factory, trace_collector
) -> Iterator[tuple[str, Path]]:
    """Daphne with real-looking keys, its whole output captured to a file, traces exported."""
    output = tmp_path_factory.mktemp("keyed") / "server.log"
    collector_port, _ = trace_collector
    env = {
        **live_env,
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{collector_port}",
        "OTEL_BSP_SCHEDULE_DELAY": "200",  # export spans within 0.2 s, not 5 s
        "OPENAI_API_KEY": OPENAI_KEY,
        "OPENAI_BASE_URL": f"{simulator_url}/v1",
        "ANTHROPIC_API_KEY": ANTHROPIC_KEY,
        "ANTHROPIC_BASE_URL": simulator_url,
        "LOG_LEVEL": "DEBUG",  # the most a misconfigured operator could log
        "ROUTER_MAX_RETRIES": "0",
    }
    port = free_port()
    argv = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
    import os

    with output.open("w") as sink:
        process = subprocess.Popen(
            [*argv, "config.asgi:application"],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for_port(port, timeout=120)
            yield f"http://127.0.0.1:{port}", output
        finally:
            process.terminate()
            process.wait(10)


def _turn(server: str, cookie: str, conversation: Conversation, text: str) -> str:
    socket = ChatSocket.open(server, conversation.id, cookie)
    try:
        socket.send_message(text)
        socket.receive_until("composer-ack")
        reply = conversation.messages.filter(role="assistant").latest("id")
        return "".join([*socket.frames, socket.receive_final(reply.id, timeout=30)])
    finally:
        socket.close()


def _leaks(text: str) -> list[str]:
    found = [key for key in (OPENAI_KEY, ANTHROPIC_KEY) if key in text]
    # Any long fragment of a key counts too (a truncated or masked-at-the-end echo).
    found += [key[:24] for key in (OPENAI_KEY, ANTHROPIC_KEY) if key[8:32] in text]
    found += [match.group(0) for shape in KEY_SHAPES for match in shape.finditer(text)]
    return found


def _exported_traces(exports: list[str], *, containing: str, timeout: float = 15) -> str:
    """Every span exported so far, once the turns' spans have arrived."""
    deadline = time.monotonic() + timeout
    while containing not in (text := "\n".join(exports)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return text


def test_keys_appear_nowhere_the_server_writes_or_serves(
    keyed_server,
    trace_collector,
    simulator,
    openai_template,
    anthropic_template,
    make_user,
    session_cookie,
    admin_user,
):
    server, output = keyed_server
    user = make_user()
    cookie = session_cookie(user)
    seen: list[str] = []

    # Good turns on both providers, a refused key, a provider outage.
    for template in (openai_template, anthropic_template):
        conversation = Conversation.objects.create(user=user, template=template)
        seen.append(_turn(server, cookie, conversation, "hello there"))
    simulator.post("/_sim/script", json={"match": "refused", "status": 401, "times": 2})
    simulator.post("/_sim/script", json={"match": "outage", "status": 500, "times": 2})
    for text in ("refused please", "outage please"):
        conversation = Conversation.objects.create(user=user, template=openai_template)
        seen.append(_turn(server, cookie, conversation, text))

    # The keys really were used: replies came through the keyed (not simulated) endpoints.
    replies = Message.objects.filter(role="assistant")
    assert set(replies.values_list("model", flat=True)) == {"gpt-4o-mini", "claude-haiku-4-5"}
    assert not replies.filter(simulated=True).exists()
    assert set(replies.values_list("error_kind", flat=True)) == {"", "auth", "unavailable"}

    # Health output, error pages, and every admin page an operator would open.
    admin_cookie = session_cookie(admin_user)
    with httpx.Client(base_url=server, headers={"Cookie": admin_cookie}, timeout=30) as client:
        paths = ["/readyz", "/healthz", "/no-such-page/", f"/{settings.ADMIN_URL}"]
        for model in ("observability/requestlog", "chat/message", "gateway/languagemodel"):
            paths.append(f"/{settings.ADMIN_URL}{model}/")
        for log in RequestLog.objects.all():
            paths.append(f"/{settings.ADMIN_URL}observability/requestlog/{log.pk}/change/")
        for path in paths:
            seen.append(client.get(path).text)
        seen.append(client.post("/accounts/login/", data={"username": "x"}).text)  # CSRF 403

    # What the database kept about those turns.
    for model in (RequestLog, Message, Conversation):
        seen.append(serializers.serialize("json", model.objects.all()))

    # The spans of those turns, provider errors included, as the collector received them.
    traces = _exported_traces(trace_collector[1], containing="claude-haiku-4-5")
    expected_in_spans = ("gen_ai.request.model", "gpt-4o-mini", "claude-haiku-4-5", "attempt")
    for expected in expected_in_spans:
        assert expected in traces, f"{expected} missing: the trace scan would prove nothing"

    output_text = output.read_text()
    assert "hello there" in "".join(seen)  # the scan covers real content, not empty pages
    assert output_text.strip(), "the server wrote nothing: the scan would prove nothing"
    leaks = {
        "server output": _leaks(output_text),
        "traces": _leaks(traces),
        "responses and records": _leaks("\n".join(seen)),
    }
    assert leaks == {"server output": [], "traces": [], "responses and records": []}, json.dumps(
        leaks
    )
