"""Structured logs: one JSON line per event, a request id that follows a turn everywhere."""

from __future__ import annotations

import io
import json
import logging
import sys
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from django.conf import settings
from django.http import HttpResponse
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils.log import log_response

from chat.models import Conversation
from devstack.daphne import daphne_argv
from devstack.services import free_port, wait_for_port
from observability.context import HEADER
from observability.logs import structured_formatter
from observability.models import EvalResult, RequestLog
from tests import live
from tests.wsclient import ChatSocket, is_finished

SECRET_REPLY = "The launch code is tangerine-42, keep it quiet."


def test_a_sane_request_id_is_honoured_and_returned(db):
    response = Client().get("/healthz", headers={HEADER: "edge-7f3a9c21-01"})
    assert response[HEADER] == "edge-7f3a9c21-01"


@pytest.mark.parametrize("hostile", ["short", "x" * 200, 'line"\nbreak-1234567', "semi;colon12"])
def test_a_hostile_request_id_is_replaced_with_a_fresh_one(db, hostile):
    response = Client().get("/healthz", headers={HEADER: hostile})
    assert response[HEADER] != hostile and len(response[HEADER]) == 32


def test_every_response_gets_a_request_id(db):
    first, second = Client().get("/healthz"), Client().get("/healthz")
    assert first[HEADER] and first[HEADER] != second[HEADER]


def _json_lines(path: Path) -> list[dict]:
    lines = []
    for raw in path.read_text().splitlines():
        try:
            lines.append(json.loads(raw))
        except ValueError:
            continue  # a line written before logging was configured (e.g. a warning)
    return lines


def _running_logged(stack: ExitStack, argv: list[str], env: dict, log_file: Path) -> None:
    """Like tests.live.running, with stderr captured to `log_file`."""
    import os
    import subprocess

    handle = stack.enter_context(log_file.open("w"))
    process = subprocess.Popen(
        argv, cwd=live.ROOT, env={**os.environ, **env}, stderr=handle, stdout=handle
    )

    def stop() -> None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    stack.callback(stop)


@pytest.mark.django_db(transaction=True)
def test_one_request_id_links_the_consumer_and_the_celery_task_log_lines(
    live_env, simulator, make_user, session_cookie, openai_template, tmp_path
):
    simulator.post("/_sim/script", json={"reply": SECRET_REPLY})
    user = make_user()
    conversation = Conversation.objects.create(user=user, template=openai_template)
    # A broker database of their own: the session's shared worker must not take this task.
    broker = settings.REDIS_URL.rsplit("/", 1)[0] + "/7"
    env = {**live_env, "LOG_FORMAT": "json", "LOG_LEVEL": "INFO", "CELERY_BROKER_URL": broker}
    web_log, worker_log = tmp_path / "daphne.log", tmp_path / "worker.log"
    port = free_port()
    with ExitStack() as stack:
        _running_logged(stack, daphne_argv("127.0.0.1", port, env), env, web_log)
        worker = [sys.executable, "-m", "celery", "-A", "config", "worker", "-P", "solo"]
        _running_logged(
            stack, [*worker, "-l", "info", "--without-gossip", "--without-mingle"], env, worker_log
        )
        wait_for_port(port, timeout=30)
        socket = ChatSocket.open(f"http://127.0.0.1:{port}", conversation.id, session_cookie(user))
        try:
            socket.send_message("What is the launch code?")
            socket.receive_until("composer-ack")
            reply = conversation.messages.filter(role="assistant").latest("id")
            socket.receive_until(lambda frame: is_finished(frame, reply.id))
        finally:
            socket.close()
        request_id = str(RequestLog.objects.get(message=reply).request_id)
        deadline = time.monotonic() + 60
        while not EvalResult.objects.filter(request_log__request_id=request_id).exists():
            assert time.monotonic() < deadline, worker_log.read_text()[-3000:]
            time.sleep(0.2)
        time.sleep(0.5)  # let the worker flush its "turn evaluated" line

    web_lines = [line for line in _json_lines(web_log) if line.get("request_id") == request_id]
    worker_lines = [
        line for line in _json_lines(worker_log) if line.get("request_id") == request_id
    ]
    assert "turn recorded" in [line["event"] for line in web_lines]
    evaluated = [line for line in worker_lines if line["event"] == "turn evaluated"]
    assert evaluated and evaluated[0]["task"] == "observability.tasks.evaluate_turn"
    assert all({"timestamp", "level", "logger"} <= line.keys() for line in web_lines)
    # Prompt and reply text stay out of the logs by default.
    everything = web_log.read_text() + worker_log.read_text()
    assert "tangerine" not in everything and "launch code?" not in everything


def test_reply_text_is_redacted_when_content_logging_is_on(settings):
    from observability.logs import loggable_text

    settings.LOG_CONTENT = False
    assert loggable_text("mail me at bob@example.com") is None
    settings.LOG_CONTENT = True
    logged = loggable_text("mail bob@example.com or call +1 415 555 0100, key sk-abcdef123456789")
    assert "bob@example.com" not in logged and "555" not in logged and "sk-abc" not in logged
    assert "[email]" in logged and "[number]" in logged and "[secret]" in logged


@contextmanager
def _django_request_log():
    """The JSON lines Django's response logger writes, through the app's own formatter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(structured_formatter(fmt="json"))
    logger = logging.getLogger("django.request")
    logger.addHandler(handler)
    lines: list[dict] = []
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        lines.extend(json.loads(line) for line in stream.getvalue().splitlines())


def test_a_404_is_one_clean_line_with_status_path_and_request_id(db):
    with _django_request_log() as lines:
        response = Client().get("/no-such-page/", headers={HEADER: "req-404-abcdef12"})
    assert response.status_code == 404
    (line,) = lines
    assert line["level"] == "warning" and line["event"] == "Not Found: /no-such-page/"
    assert (line["status_code"], line["method"], line["path"]) == (404, "GET", "/no-such-page/")
    assert line["request_id"] == "req-404-abcdef12"
    assert "exception" not in line and "request" not in line


def test_a_403_is_one_clean_line_whether_raised_or_returned(db, make_user):
    staff = make_user("intern")
    staff.is_staff = True
    staff.save()
    client = Client()
    client.force_login(staff)
    with _django_request_log() as lines:
        raised = client.get(reverse("dashboards:cost"), headers={HEADER: "req-403-raised01"})
        returned = client.get("/metrics", headers={HEADER: "req-403-returned"})
    assert raised.status_code == returned.status_code == 403
    assert [(line["status_code"], line["path"], line["request_id"]) for line in lines] == [
        (403, reverse("dashboards:cost"), "req-403-raised01"),
        (403, "/metrics", "req-403-returned"),
    ]
    assert all("exception" not in line for line in lines)


def test_a_500_keeps_its_traceback():
    request = RequestFactory().get("/broken/")
    request.request_id = "req-500-abcdef12"
    with _django_request_log() as lines:
        try:
            raise ZeroDivisionError("division by zero")
        except ZeroDivisionError as error:
            response = HttpResponse(status=500)
            log_response(
                "Internal Server Error: %s",
                "/broken/",
                response=response,
                request=request,
                exception=error,
            )
    (line,) = lines
    assert (line["level"], line["status_code"], line["path"]) == ("error", 500, "/broken/")
    assert line["request_id"] == "req-500-abcdef12"
    assert "Traceback" in line["exception"] and "ZeroDivisionError" in line["exception"]
