"""The production shape: two web processes behind nginx, sharing one Redis and one Postgres.

A turn works through either process; rate limits, circuit breakers, experiment arms and prompt
rollbacks agree across them; and a web process killed mid-answer loses nothing the user sent:
the message is saved, the other process serves the conversation, Retry answers it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from django.contrib.auth.models import Group

from api.keys import apikey_create
from chat import services
from chat.models import Conversation, Message, Status
from devstack.daphne import daphne_argv
from devstack.nginx import nginx_argv, write_config
from devstack.services import free_port, wait_for_port
from observability.models import RequestLog
from prompts_admin.assignment import arm_for
from prompts_admin.models import Experiment, ExperimentArm, FallbackStep, PromptLabel
from prompts_admin.services import experiment_start, label_move, version_create
from tests import live
from tests.wsclient import ChatSocket, is_finished, visible_text

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

API_LIMIT = 4  # per key owner and hour, shared by every process
CHAT_LIMIT = 2  # messages per hour for the "limited" tier
CHAT_LIMITED_GROUP = "chat-limited"


@dataclass
class Cluster:
    url: str  # nginx
    web: dict[str, subprocess.Popen]  # "127.0.0.1:port" -> its Daphne


@contextmanager
def _web_process(env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen]]:
    port = free_port()
    argv = daphne_argv("127.0.0.1", port, env, behind_proxy=True)
    with live.running(argv, env) as process:
        wait_for_port(port, timeout=120)  # a bound, not a measurement: startup on a busy machine
        yield f"127.0.0.1:{port}", process


@pytest.fixture(scope="module")
def cluster(live_env, tmp_path_factory) -> Iterator[Cluster]:
    # An hour-long login window: a test's attempts cannot straddle two windows.
    env = {
        **live_env,
        "LOGIN_RATE_LIMIT": "10/h",
        "ROUTER_MAX_RETRIES": "0",
        "BREAKER_FAILURE_THRESHOLD": "2",
        "BREAKER_COOLDOWN_SECONDS": "60",
        "RATE_LIMITS_API": f"default={API_LIMIT}/h",
        # Only members of this group have a low chat limit: other tests send freely.
        "RATE_LIMITS_CHAT": f"default=100/h,limited={CHAT_LIMIT}/h",
        "RATE_LIMIT_GROUP_TIERS": f"{CHAT_LIMITED_GROUP}=limited",
    }
    with ExitStack() as stack:
        web = dict(stack.enter_context(_web_process(env)) for _ in range(2))
        port = free_port()
        config = write_config(
            tmp_path_factory.mktemp("nginx"), upstreams=list(web), listen=f"127.0.0.1:{port}"
        )
        stack.enter_context(live.running(nginx_argv(config)))
        wait_for_port(port, timeout=10)
        yield Cluster(f"http://127.0.0.1:{port}", web)


def _open(cluster: Cluster, conversation: Conversation, cookie: str) -> tuple[ChatSocket, str]:
    """A chat socket through nginx, and the web process nginx gave it to."""
    socket = ChatSocket.open(cluster.url, conversation.id, cookie)
    return socket, socket.connection.response.headers["X-Upstream"]


def test_turns_work_through_either_web_process(
    cluster, simulator, openai_template, make_user, session_cookie
):
    user = make_user()
    cookie = session_cookie(user)
    served_by: set[str] = set()
    for attempt in range(6):
        conversation = Conversation.objects.create(user=user, template=openai_template)
        socket, upstream = _open(cluster, conversation, cookie)
        try:
            socket.send_message(f"hello number {attempt}")
            socket.receive_until("composer-ack")
            reply = conversation.messages.get(role="assistant")
            socket.receive_final(reply.id)
        finally:
            socket.close()
        reply.refresh_from_db()
        assert reply.status == Status.COMPLETE and reply.content
        served_by.add(upstream)
        if served_by == set(cluster.web):
            break
    assert served_by == set(cluster.web), "nginx sent every turn to one process"


def _turn_at(web_address: str, conversation: Conversation, cookie: str, text: str) -> Message:
    """One turn straight at one web process (not through nginx); the saved reply."""
    before = _last_reply_id(conversation)
    socket = ChatSocket.open(f"http://{web_address}", conversation.id, cookie)
    try:
        socket.send_message(text)
        reply = _wait_for_new_reply(conversation, after=before)
        socket.receive_final(reply.id, timeout=30)
    finally:
        socket.close()
    reply.refresh_from_db()
    return reply


def test_a_breaker_opened_by_one_process_is_respected_by_the_other(
    cluster, simulator, openai_template, anthropic_template, make_user, session_cookie
):
    FallbackStep.objects.create(template=openai_template, model=anthropic_template.model)
    user = make_user()
    cookie = session_cookie(user)
    # Titled already: no background title job calls the primary model and eats a scripted 503.
    conversation = Conversation.objects.create(
        user=user, template=openai_template, title="Breaker test"
    )
    primary = openai_template.model.name
    simulator.post("/_sim/script", json={"model": primary, "status": 503, "times": 2})
    first, second = cluster.web

    for text in ("one", "two"):  # two failures on the first process open the breaker
        assert _turn_at(first, conversation, cookie, text).status == Status.COMPLETE

    _turn_at(second, conversation, cookie, "three")
    log = RequestLog.objects.latest("created_at")
    assert [a["outcome"] for a in log.attempts] == ["breaker_open", "ok"]
    calls = [r for r in simulator.get("/_sim/requests").json()["requests"] if r["model"] == primary]
    assert len(calls) == 2  # the second process never called the open model


def test_login_throttling_counts_the_address_nginx_saw_not_a_forged_header(cluster):
    # Spread over both processes and each attempt claiming another address: still one client.
    with httpx.Client(base_url=cluster.url) as client:
        page = client.get("/accounts/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        statuses, upstreams = [], set()
        for attempt in range(11):
            response = client.post(
                "/accounts/login/",
                data={
                    "username": f"user{attempt}",
                    "password": "guess",
                    "csrfmiddlewaretoken": token,
                },
                headers={"X-Forwarded-For": f"203.0.113.{attempt}", "Referer": cluster.url + "/"},
            )
            statuses.append(response.status_code)
            upstreams.add(response.headers["X-Upstream"])
    assert statuses == [200] * 10 + [429]
    assert upstreams == set(cluster.web)


def test_an_api_limit_reached_through_one_process_holds_through_the_other(cluster, make_user):
    secret = apikey_create(user=make_user(), name="k", scopes=["models"]).secret
    statuses, upstreams = [], {200: set(), 429: set()}
    with httpx.Client(base_url=cluster.url, timeout=30) as client:
        # Twice the limit and more: counted per process, each would accept API_LIMIT.
        for _ in range(2 * API_LIMIT + 2):
            response = client.get("/v1/models", headers={"Authorization": f"Bearer {secret}"})
            statuses.append(response.status_code)
            upstreams[response.status_code].add(response.headers["X-Upstream"])
            if response.status_code == 429:
                assert response.json()["error"]["code"] == "rate_limit_exceeded"
                assert 0 < int(response.headers["Retry-After"]) <= 3600
    assert statuses == [200] * API_LIMIT + [429] * (API_LIMIT + 2)
    assert upstreams[200] == upstreams[429] == set(cluster.web)


def _open_elsewhere(cluster: Cluster, conversation, cookie: str, busy: str) -> ChatSocket:
    """A second socket through nginx that lands on the process other than `busy`.

    nginx balances by least connections, so while a socket is open on `busy` the next one goes
    to the other process; a few tries cover a connection nginx has not counted yet."""
    for _ in range(4):
        socket, upstream = _open(cluster, conversation, cookie)
        if upstream != busy:
            return socket
        socket.close()
    raise AssertionError("nginx sent every socket to one process")


def _finish_turn(socket: ChatSocket, conversation: Conversation, text: str) -> None:
    before = _last_reply_id(conversation)
    socket.send_message(text)
    socket.receive_until("composer-ack")
    socket.receive_final(_wait_for_new_reply(conversation, after=before).id, timeout=30)


def test_a_chat_limit_reached_through_one_process_holds_through_the_other(
    cluster, simulator, openai_template, make_user, session_cookie
):
    user = make_user()
    user.groups.add(Group.objects.create(name=CHAT_LIMITED_GROUP))
    cookie = session_cookie(user)
    conversation = Conversation.objects.create(user=user, template=openai_template, title="Limits")
    first, upstream = _open(cluster, conversation, cookie)
    try:
        second = _open_elsewhere(cluster, conversation, cookie, busy=upstream)
        try:
            for text in ("one", "two"):  # the whole limit, spent on the first process
                _finish_turn(first, conversation, text)
            second.send_message("three")
            frame = second.receive_until("chat-error")
            assert "Slow down" in visible_text(frame)
        finally:
            second.close()
    finally:
        first.close()
    users_messages = conversation.messages.filter(role="user")
    assert list(users_messages.values_list("content", flat=True)) == ["one", "two"]


def _start_experiment(template, variant) -> Experiment:
    experiment = Experiment.objects.create(template=template, name="cluster", mode="ab")
    ExperimentArm.objects.create(
        experiment=experiment,
        name="control",
        is_control=True,
        version=template.labels.get(name=PromptLabel.PRODUCTION).version,
    )
    ExperimentArm.objects.create(experiment=experiment, name="variant", version=variant, percent=50)
    return experiment_start(experiment=experiment, actor=None)


def _system_sent(simulator) -> str:
    """The system prompt of the last model call, without the guardrails' per-request canary."""
    upstream = simulator.get("/_sim/requests").json()["requests"][-1]
    return upstream["messages"][0]["content"].split("\n\nConfidential marker: ")[0]


def test_a_user_gets_the_same_experiment_arm_through_either_process(
    cluster, simulator, openai_template, make_user, session_cookie
):
    control = openai_template.versions.get()
    variant = version_create(
        template=openai_template, system_prompt="You are the variant.", change_note="variant"
    )
    experiment = _start_experiment(openai_template, variant)
    arms = sorted(experiment.arms.all(), key=lambda arm: arm.pk)
    users = [make_user(f"arm{index}") for index in range(16)]
    one_per_arm = {arm_for(user.id, experiment.salt, arms).name: user for user in users}
    assert set(one_per_arm) == {"control", "variant"}  # 16 users at 50 %: both arms drawn

    for arm_name, user in one_per_arm.items():
        expected = variant if arm_name == "variant" else control
        cookie = session_cookie(user)
        conversation = Conversation.objects.create(
            user=user, template=openai_template, title="Arms"
        )
        for index, address in enumerate(cluster.web):
            reply = _turn_at(address, conversation, cookie, f"which arm am I in, {index}?")
            assert reply.status == Status.COMPLETE
            assert reply.prompt_version == expected, (arm_name, address)
            assert _system_sent(simulator) == expected.system_prompt
            log = RequestLog.objects.get(message=reply)
            assert log.experiment_arm.name == arm_name


def test_a_rollback_through_one_process_is_used_by_the_next_turn_through_the_other(
    cluster, simulator, openai_template, admin_user, make_user, session_cookie
):
    v2 = version_create(
        template=openai_template, system_prompt="You are version two.", change_note="v2"
    )
    label = label_move(
        template=openai_template, name="production", version=v2, actor=admin_user, reason="ship"
    )
    user = make_user()
    cookie = session_cookie(user)
    conversation = Conversation.objects.create(
        user=user, template=openai_template, title="Rollback"
    )
    editing, serving = cluster.web
    assert _turn_at(serving, conversation, cookie, "before the rollback").prompt_version == v2

    # The editor rolls back in admin, on the other process.
    admin_session = session_cookie(admin_user).split("=", 1)[1]
    url = (
        f"http://{editing}/admin/prompts_admin/prompttemplate/"
        f"{openai_template.pk}/labels/{label.pk}/rollback/"
    )
    with httpx.Client(cookies={"sessionid": admin_session}, timeout=30) as client:
        page = client.get(url)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        response = client.post(
            url,
            data={"reason": "v2 rambles", "csrfmiddlewaretoken": token},
            headers={"Referer": url},
        )
    assert response.status_code == 302, response.text[:2000]

    reply = _turn_at(serving, conversation, cookie, "after the rollback")
    assert reply.status == Status.COMPLETE
    assert reply.prompt_version.number == 1
    assert _system_sent(simulator) == "You are a test assistant."
    move = label.moves.first()
    assert (move.kind, move.actor, move.reason) == ("rollback", admin_user, "v2 rambles")


def test_a_web_process_killed_mid_answer_loses_no_user_message(
    cluster, simulator, openai_template, make_user, session_cookie
):
    user = make_user()
    cookie = session_cookie(user)
    conversation = Conversation.objects.create(user=user, template=openai_template)
    simulator.post(
        "/_sim/script",
        json={"match": "long story", "reply": "word " * 400, "tokens_per_s": 20, "times": 1},
    )
    socket, upstream = _open(cluster, conversation, cookie)
    socket.send_message("Tell me a long story")
    socket.receive_until("composer-ack")
    socket.receive_until("-tail")  # tokens are on the user's screen

    os.kill(cluster.web[upstream].pid, signal.SIGKILL)
    socket.close()

    user_message = conversation.messages.get(role="user")
    assert user_message.content == "Tell me a long story"
    reply = conversation.messages.get(role="assistant")
    # Nobody is left to finish it; the beat task marks it interrupted (run here, not waited for).
    assert services.interrupt_stale_streams(older_than=timedelta(0)) == 1
    reply.refresh_from_db()
    assert reply.status == Status.INTERRUPTED

    # The surviving process serves the conversation, and Retry answers the saved message.
    survivor = next(address for address in cluster.web if address != upstream)
    socket, upstream = _open(cluster, conversation, cookie)
    try:
        assert upstream == survivor
        socket.connection.send('{"action": "retry", "HEADERS": {}}')
        retried = _wait_for_new_reply(conversation, after=reply.id)
        socket.receive_until(lambda frame: is_finished(frame, retried.id), timeout=30)
    finally:
        socket.close()
    retried.refresh_from_db()
    assert retried.status == Status.COMPLETE
    assert list(conversation.messages.filter(role="user").values_list("content", flat=True)) == [
        "Tell me a long story"
    ]


def _wait_for_new_reply(conversation: Conversation, *, after: int, timeout: float = 10) -> Message:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        replies = conversation.messages.filter(role="assistant", id__gt=after)
        if reply := replies.order_by("-id").first():
            return reply
        time.sleep(0.05)
    raise AssertionError("Retry started no new reply")


def _last_reply_id(conversation: Conversation) -> int:
    last = conversation.messages.filter(role="assistant").order_by("-id").first()
    return last.id if last else 0
