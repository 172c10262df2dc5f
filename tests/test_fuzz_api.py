"""Hostile input to the API and the chat websocket: never a 5xx, never a trace, nothing half-saved.

Property-based (hypothesis) bodies and frames, plus schemathesis against the served OpenAPI
document, all against a live Daphne with its own small body cap and limits out of the way.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from websockets.exceptions import ConnectionClosed

from api.keys import apikey_create
from chat.models import Conversation, Message, Source, Status
from tests import live
from tests.wsclient import ChatSocket

pytestmark = pytest.mark.django_db(transaction=True)

BODY_CAP = 4096
FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def fuzz_server(live_env) -> Iterator[str]:
    unlimited = "default=100000/h,anonymous=100000/h"
    env = {
        **live_env,
        "API_MAX_BODY_BYTES": str(BODY_CAP),
        "RATE_LIMITS_API": unlimited,
        "RATE_LIMITS_CHAT": unlimited,
        "RATE_LIMITS_HTTP": unlimited,
    }
    with live.daphne(env) as url:
        yield url


@pytest.fixture
def alice(make_user):
    return make_user("alice")


@pytest.fixture
def auth(alice) -> dict[str, str]:
    key = apikey_create(user=alice, name="fuzz", scopes=["chat", "models"])
    return {"Authorization": f"Bearer {key.secret}"}


@pytest.fixture
def saved_conversation(alice, openai_template) -> Conversation:
    """Data saved before the fuzzing, which must come out of it untouched."""
    conversation = Conversation.objects.create(user=alice, template=openai_template, title="kept")
    Message.objects.create(conversation=conversation, role="user", content="keep this question")
    Message.objects.create(conversation=conversation, role="assistant", content="and this answer")
    return conversation


def _snapshot(conversation: Conversation) -> list[tuple]:
    return list(conversation.messages.order_by("id").values_list("role", "content", "status"))


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
messages = st.lists(
    st.fixed_dictionaries(
        {
            "role": st.sampled_from(["user", "assistant", "system", "tool"]) | json_values,
            "content": st.text(max_size=80) | json_values,
        },
        optional={"name": json_values, "surprise": json_values},
    ),
    max_size=4,
)
bodies = st.fixed_dictionaries(
    {
        "model": st.sampled_from(["openai-assistant", "gpt-4o-mini"]) | st.text(max_size=12),
        "messages": messages | json_values,
    },
    optional={
        "stream": st.booleans() | json_values,
        "stream_options": st.fixed_dictionaries({"include_usage": st.booleans()}) | json_values,
        "n": st.integers(-2, 3),
        "temperature": json_values,
    },
)
raw_bodies = st.one_of(
    bodies.map(lambda body: json.dumps(body).encode()),
    st.text(max_size=200).map(str.encode),
    st.binary(max_size=200),
)
VALID = json.dumps({"model": "openai-assistant", "messages": [{"role": "user", "content": "hi"}]})


def _assert_api_answer(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    assert "Traceback" not in response.text
    if response.status_code >= 400:
        error = response.json()["error"]
        assert error["message"] and error["type"]
    elif response.headers["content-type"].startswith("text/event-stream"):
        assert response.text.rstrip().endswith("data: [DONE]")
    else:
        assert response.json()["object"] == "chat.completion"


def _assert_nothing_half_saved(user) -> None:
    """Each API conversation holds a whole turn: the user's message and a finished reply."""
    for conversation in Conversation.objects.filter(user=user, source=Source.API):
        last = conversation.messages.order_by("id").last()
        assert last is not None and last.role == "assistant" and last.status == Status.COMPLETE


def test_fuzzed_api_bodies_get_clear_errors_and_save_nothing_half_way(
    fuzz_server, auth, alice, saved_conversation, simulator
):
    before = _snapshot(saved_conversation)
    answered = 0

    @FUZZ
    @given(body=raw_bodies)
    @example(body=VALID.encode())
    @example(body=VALID.replace("hi", "bell\\u0007").encode())  # a control character
    @example(body=VALID.replace("hi", "\\ud800").encode())  # a lone surrogate
    @example(
        body=b'{"model": "openai-assistant", "messages": [{"role": "user", "content": "\xff"}]}'
    )
    @example(body=VALID.replace("hi", "x" * BODY_CAP).encode())  # over the size cap
    @example(body=VALID.replace("}]", '}], "stream": true').encode())
    def check(body: bytes) -> None:
        nonlocal answered
        headers = {**auth, "Content-Type": "application/json"}
        response = httpx.post(
            f"{fuzz_server}/v1/chat/completions", content=body, headers=headers, timeout=30
        )
        _assert_api_answer(response)
        answered += response.status_code == 200
        assert Conversation.objects.filter(source=Source.API).count() == answered

    check()
    assert answered >= 2  # the valid examples really ran turns
    _assert_nothing_half_saved(alice)
    assert _snapshot(saved_conversation) == before


def rejected_clearly(ctx, response, case) -> None:
    """Data the document forbids gets a 4xx (413 for an oversized body too) in OpenAI's format."""
    assert 400 <= response.status_code < 500, f"accepted with {response.status_code}"
    assert response.json()["error"]["message"]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_api_conforms_to_its_openapi_document(
    mode, fuzz_server, auth, alice, openai_template, saved_conversation, simulator
):
    """schemathesis drives both operations with data valid (and invalid) by the served document."""
    before = _snapshot(saved_conversation)
    schema = schemathesis.openapi.from_url(f"{fuzz_server}/v1/openapi.json")
    if mode is GenerationMode.NEGATIVE:
        schema = schema.include(method="POST")  # GET /v1/models takes no input to get wrong
    checks = [not_a_server_error, status_code_conformance, content_type_conformance]
    checks.append(
        response_schema_conformance if mode is GenerationMode.POSITIVE else rejected_clearly
    )

    @FUZZ
    @given(case=schema.as_strategy(mode))
    def check(case) -> None:
        case.call_and_validate(base_url=fuzz_server, headers=auth, checks=checks, timeout=30)

    check()
    _assert_nothing_half_saved(alice)
    assert _snapshot(saved_conversation) == before


frames = st.one_of(
    st.text(max_size=200),
    json_values.map(json.dumps),
    st.fixed_dictionaries(
        {"action": st.sampled_from(["send", "stop", "retry"]) | json_values},
        optional={"message": st.text(max_size=100) | json_values, "HEADERS": json_values},
    ).map(json.dumps),
    st.binary(max_size=100),
    st.just("x" * 40_000),  # over the frame cap
)


def _answers(socket: ChatSocket) -> tuple[list[str], int | None]:
    """Frames the server sends within a short while, and the close code if it closed."""
    received = []
    try:
        while True:
            received.append(socket.receive(timeout=0.5))
    except TimeoutError:
        return received, None
    except ConnectionClosed as closed:
        return received, closed.rcvd.code if closed.rcvd else None


def test_fuzzed_websocket_frames_never_break_the_server_or_saved_messages(
    fuzz_server, alice, session_cookie, saved_conversation, simulator
):
    before = _snapshot(saved_conversation)
    cookie = session_cookie(alice)

    @FUZZ
    @given(frame=frames)
    @example(frame=json.dumps({"action": "send", "message": "\x00"}))
    @example(frame=json.dumps({"action": "send", "message": 42}))
    @example(frame=json.dumps({"action": "send", "message": "hello there"}))
    @example(frame=b"\x00\xff binary")
    def check(frame: str | bytes) -> None:
        socket = ChatSocket.open(fuzz_server, saved_conversation.id, cookie)
        try:
            socket.connection.send(frame)
            received, code = _answers(socket)
        finally:
            socket.close()
        assert code in (None, 1000, 4009), f"closed with {code}"
        assert not any("Traceback" in r for r in received)
        if isinstance(frame, bytes):
            assert any("unreadable" in r for r in received)

    check()
    after = _snapshot(saved_conversation)
    assert after[: len(before)] == before  # what was saved before is untouched
    assert ("user", "hello there", Status.COMPLETE) in after  # a well-formed message still works
    # Anything the fuzzing sent that was accepted is a whole user message, answered or settling.
    for role, content, _status in after[len(before) :]:
        assert (role == "user" and content) or role == "assistant"
