"""The provider simulator, exercised end to end through the official OpenAI and Anthropic SDKs."""

import asyncio
import functools
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import httpx2
import openai
import pytest

from gateway.simulator.replies import count_tokens, default_reply, split_tokens

REPO_ROOT = Path(__file__).resolve().parent.parent
QUESTION = "How do I bake sourdough bread at home?"
USER = [{"role": "user", "content": QUESTION}]
OWN_MODEL = "background-model"


@functools.cache
def _http() -> httpx.Client:
    # One pooled client for the simulator's control API: each bare httpx.get() builds a
    # client and loads the CA bundle (~30 ms), which adds up over dozens of tests.
    return httpx.Client(timeout=10)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(base_url: str, proc: subprocess.Popen[bytes], timeout_s: float = 15) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"simulator exited early with code {proc.returncode}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).json() == {"status": "ok"}:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError("simulator did not become healthy")


@pytest.fixture(scope="module")
def sim_url() -> Iterator[str]:
    # No default delays, so tests only pay for the timing they ask for per request.
    port = _free_port()
    args = ["--port", str(port), "--ttft-ms", "0", "--tokens-per-s", "0", "--seed", "0"]
    args += ["--own-model", OWN_MODEL]
    proc = subprocess.Popen([sys.executable, "-m", "gateway.simulator", *args], cwd=REPO_ROOT)
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base_url, proc)
        yield base_url
    finally:
        _http().close()
        _http.cache_clear()
        proc.terminate()
        proc.wait(timeout=10)
    assert proc.returncode == 0


@pytest.fixture(autouse=True)
def _clean_sim(sim_url: str) -> None:
    _http().delete(f"{sim_url}/_sim/script").raise_for_status()
    _http().delete(f"{sim_url}/_sim/requests").raise_for_status()


@pytest.fixture
def oai(sim_url: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{sim_url}/v1", api_key="sk-test", max_retries=0) as client:
        yield client


@pytest.fixture
def claude(sim_url: str) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=sim_url, api_key="sk-ant-test", max_retries=0) as client:
        yield client


def _script(sim_url: str, **entry: Any) -> None:
    response = _http().post(f"{sim_url}/_sim/script", json=entry)
    response.raise_for_status()
    assert response.json()["id"]


def _requests(sim_url: str) -> list[dict[str, Any]]:
    return _http().get(f"{sim_url}/_sim/requests").json()["requests"]


def _ask_openai(client: openai.OpenAI, text: str) -> str:
    completion = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": text}]
    )
    return completion.choices[0].message.content or ""


# --- pure helpers ---------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "Hello, world!  How are\tyou?\n", "  **md** `x` 日本語 …"])
def test_split_tokens_round_trips(text: str) -> None:
    assert "".join(split_tokens(text)) == text


def test_default_reply_is_deterministic_markdown() -> None:
    reply = default_reply(0, "gpt-4o", QUESTION)
    assert reply == default_reply(0, "gpt-4o", QUESTION)
    assert "gpt-4o" in reply and "How do I bake" in reply
    assert "\n- " in reply and reply.count("`") == 2
    assert 40 <= len(split_tokens(reply)) <= 90


# --- OpenAI ---------------------------------------------------------------------------------


def test_openai_stream_yields_tokens_in_order_then_usage(sim_url: str, oai: openai.OpenAI) -> None:
    reply = "Hello there, streaming world! Here is `code` and more."
    _script(sim_url, reply=reply)
    chunks = list(
        oai.chat.completions.create(
            model="gpt-4o",
            messages=USER,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    first, *middle, stop, usage_chunk = chunks
    assert first.choices[0].delta.role == "assistant"
    assert [c.choices[0].delta.content for c in middle] == split_tokens(reply)
    assert stop.choices[0].finish_reason == "stop"
    assert usage_chunk.choices == []
    assert usage_chunk.usage is not None
    assert usage_chunk.usage.completion_tokens == len(split_tokens(reply))
    assert usage_chunk.usage.prompt_tokens == count_tokens(USER)
    assert usage_chunk.usage.total_tokens == count_tokens(USER) + len(split_tokens(reply))


def test_openai_stream_has_no_usage_unless_requested(oai: openai.OpenAI) -> None:
    chunks = list(oai.chat.completions.create(model="gpt-4o", messages=USER, stream=True))
    assert all(c.usage is None for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == default_reply(0, "gpt-4o", QUESTION)


def test_openai_non_stream(sim_url: str, oai: openai.OpenAI) -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": QUESTION}]},
    ]
    completion = oai.chat.completions.create(model="gpt-4o-mini", messages=messages)
    expected = default_reply(0, "gpt-4o-mini", QUESTION)
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.content == expected
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == count_tokens(messages)
    assert completion.usage.completion_tokens == len(split_tokens(expected))
    assert completion.usage.prompt_tokens_details.cached_tokens == 0
    [record] = _requests(sim_url)
    assert record["api"] == "openai" and record["stream"] is False
    assert record["status"] == "completed" and record["messages"] == messages
    assert record["id"] == completion.id


def test_openai_models_list(oai: openai.OpenAI) -> None:
    ids = {model.id for model in oai.models.list()}
    assert {"gpt-4o", "claude-sonnet-4-5"} <= ids


def test_openai_missing_key_is_authentication_error(sim_url: str) -> None:
    client = openai.OpenAI(
        base_url=f"{sim_url}/v1", api_key="unused", default_headers={"Authorization": ""}
    )
    with client, pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="gpt-4o", messages=USER)


def test_openai_bad_body_is_400_in_openai_format(sim_url: str) -> None:
    response = _http().post(
        f"{sim_url}/v1/chat/completions",
        content=b"{not json",
        headers={"Authorization": "Bearer sk-test"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


# --- Anthropic ------------------------------------------------------------------------------


def test_anthropic_stream_helper(sim_url: str, claude: anthropic.Anthropic) -> None:
    system = [{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}}]
    with claude.messages.stream(
        model="claude-haiku-4-5", max_tokens=256, system=system, messages=USER
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    expected = default_reply(0, "claude-haiku-4-5", QUESTION)
    assert text == expected
    assert final.stop_reason == "end_turn"
    assert final.usage.input_tokens == count_tokens([{"content": system}, *USER])
    assert final.usage.output_tokens == len(split_tokens(expected))
    assert final.usage.cache_read_input_tokens == 0
    [record] = _requests(sim_url)
    assert record["api"] == "anthropic" and record["system"] == system
    assert record["status"] == "completed"
    assert record["tokens_sent"] == len(split_tokens(expected))


def test_anthropic_create_stream_event_order(sim_url: str, claude: anthropic.Anthropic) -> None:
    reply = "One two three."
    _script(sim_url, reply=reply)
    events = list(
        claude.messages.create(model="claude-haiku-4-5", max_tokens=64, messages=USER, stream=True)
    )
    types = [e.type for e in events]
    deltas = ["content_block_delta"] * len(split_tokens(reply))
    assert types == [
        "message_start",
        "content_block_start",
        *deltas,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]  # the SDK consumes "ping" itself
    assert "".join(e.delta.text for e in events if e.type == "content_block_delta") == reply
    assert events[0].message.usage.input_tokens == count_tokens(USER)
    assert events[-2].usage.output_tokens == len(split_tokens(reply))


def test_anthropic_non_stream(claude: anthropic.Anthropic) -> None:
    message = claude.messages.create(
        model="claude-haiku-4-5",
        max_tokens=256,
        system="Be kind.",
        messages=[{"role": "user", "content": [{"type": "text", "text": QUESTION}]}],
    )
    expected = default_reply(0, "claude-haiku-4-5", QUESTION)
    assert message.id.startswith("msg_") and message.role == "assistant"
    assert message.content[0].type == "text" and message.content[0].text == expected
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens == count_tokens(
        [{"content": "Be kind."}, {"content": QUESTION}]
    )
    assert message.usage.output_tokens == len(split_tokens(expected))


def test_anthropic_missing_key_is_authentication_error(sim_url: str) -> None:
    # anthropic>=2 sends the key as "Authorization: Bearer"; omitting it leaves no credential.
    client = anthropic.Anthropic(
        base_url=sim_url, api_key="unused", default_headers={"Authorization": anthropic.omit}
    )
    with client, pytest.raises(anthropic.AuthenticationError):
        client.messages.create(model="claude-haiku-4-5", max_tokens=16, messages=USER)


# --- plan resolution: script, usage overrides, headers --------------------------------------


def test_cached_usage_override_in_both_formats(
    sim_url: str, oai: openai.OpenAI, claude: anthropic.Anthropic
) -> None:
    usage = {
        "input_tokens": 10,
        "cached_input_tokens": 90,
        "cache_write_tokens": 5,
        "output_tokens": 7,
    }
    _script(sim_url, reply="Cached.", usage=usage, times=2)

    completion = oai.chat.completions.create(model="gpt-4o", messages=USER)
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == 100  # uncached + cached
    assert completion.usage.prompt_tokens_details.cached_tokens == 90
    assert completion.usage.completion_tokens == 7
    assert completion.usage.total_tokens == 107

    with claude.messages.stream(model="claude-haiku-4-5", max_tokens=64, messages=USER) as s:
        final = s.get_final_message()
    assert final.usage.input_tokens == 10  # uncached only
    assert final.usage.cache_read_input_tokens == 90
    assert final.usage.cache_creation_input_tokens == 5
    assert final.usage.output_tokens == 7


def test_script_match_and_times(sim_url: str, oai: openai.OpenAI) -> None:
    _script(sim_url, match="weather", reply="Sunny.", times=2)
    _script(sim_url, match="weather", reply="Rainy.", times=0)

    assert _ask_openai(oai, "what's the weather?") == "Sunny."
    assert _ask_openai(oai, "hello") == default_reply(0, "gpt-4o", "hello")
    assert _ask_openai(oai, "weather again") == "Sunny."
    # The first entry is used up; the second one matches forever.
    assert _ask_openai(oai, "weather, third time") == "Rainy."
    assert _ask_openai(oai, "weather, fourth time") == "Rainy."


def test_script_rejects_malformed_entries(sim_url: str) -> None:
    bad_bodies = (
        '{"times": -1}',
        '{"ttft_ms": "slow"}',
        '{"tokens_per_s": NaN}',  # Python's json parser accepts NaN
        '{"usage": {"bogus": 1}}',
        '["x"]',
        "not json",
    )
    for body in bad_bodies:
        response = _http().post(f"{sim_url}/_sim/script", content=body)
        assert response.status_code == 400, body


def test_header_reply_override_in_both_formats(
    oai: openai.OpenAI, claude: anthropic.Anthropic
) -> None:
    headers = {"X-Sim-Reply": "From the header."}
    completion = oai.chat.completions.create(model="gpt-4o", messages=USER, extra_headers=headers)
    assert completion.choices[0].message.content == "From the header."
    message = claude.messages.create(
        model="claude-haiku-4-5", max_tokens=32, messages=USER, extra_headers=headers
    )
    assert message.content[0].text == "From the header."


def test_malformed_sim_header_is_400(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError):
        oai.chat.completions.create(
            model="gpt-4o", messages=USER, extra_headers={"X-Sim-Ttft-Ms": "soon"}
        )


def test_ttft_delays_first_token(oai: openai.OpenAI) -> None:
    started = time.monotonic()
    stream = oai.chat.completions.create(
        model="gpt-4o", messages=USER, stream=True, extra_headers={"X-Sim-Ttft-Ms": "250"}
    )
    with stream:
        first_content_at = next(
            time.monotonic() for chunk in stream if chunk.choices and chunk.choices[0].delta.content
        )
    assert first_content_at - started >= 0.2


def test_client_disconnect_is_recorded(sim_url: str, oai: openai.OpenAI) -> None:
    reply = " ".join(f"word{i}" for i in range(40))
    _script(sim_url, reply=reply, tokens_per_s=20)  # 50 ms per token, ~2 s in total
    stream = oai.chat.completions.create(model="gpt-4o", messages=USER, stream=True)
    received = 0
    for chunk in stream:
        received += bool(chunk.choices[0].delta.content)
        if received == 3:
            break
    stream.close()

    deadline = time.monotonic() + 1.0
    while (record := _requests(sim_url)[-1])["status"] == "streaming":
        assert time.monotonic() < deadline, "disconnect not detected"
        time.sleep(0.02)
    assert record["status"] == "client_disconnected"
    assert 3 <= record["tokens_sent"] < len(split_tokens(reply))
    assert record["ended_at"] is not None


def test_concurrent_async_streams(sim_url: str) -> None:
    async def one_openai(client: openai.AsyncOpenAI, i: int) -> str:
        stream = await client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": f"q{i}"}], stream=True
        )
        return "".join([c.choices[0].delta.content or "" async for c in stream])

    async def one_anthropic(client: anthropic.AsyncAnthropic, i: int) -> str:
        async with client.messages.stream(
            model="claude-haiku-4-5", max_tokens=64, messages=[{"role": "user", "content": f"q{i}"}]
        ) as stream:
            return "".join([t async for t in stream.text_stream])

    async def run() -> tuple[list[str], list[str]]:
        oai = openai.AsyncOpenAI(base_url=f"{sim_url}/v1", api_key="sk-test", max_retries=0)
        claude = anthropic.AsyncAnthropic(base_url=sim_url, api_key="sk-ant", max_retries=0)
        async with oai, claude:
            openai_texts = asyncio.gather(*(one_openai(oai, i) for i in range(20)))
            claude_texts = asyncio.gather(*(one_anthropic(claude, i) for i in range(20)))
            return await openai_texts, await claude_texts

    openai_texts, claude_texts = asyncio.run(run())
    assert openai_texts == [default_reply(0, "gpt-4o", f"q{i}") for i in range(20)]
    assert claude_texts == [default_reply(0, "claude-haiku-4-5", f"q{i}") for i in range(20)]
    assert len(_requests(sim_url)) == 40


# --- fault injection ------------------------------------------------------------------------
#
# What each SDK raises, as observed here (openai 3.54, anthropic 2.12, both on httpx2):
#
# status N (the class goes by N; both SDKs alike unless noted)
#   400 BadRequestError, 401 AuthenticationError, 403 PermissionDeniedError, 404 NotFoundError,
#   429 RateLimitError; openai: every N >= 500 is InternalServerError; anthropic: 500
#   InternalServerError, 503 ServiceUnavailableError, 529 OverloadedError (both subclasses of
#   InternalServerError).
# disconnect, streaming
#   openai: APIConnectionError, __cause__ httpx2.RemoteProtocolError (incomplete chunked read)
#   anthropic: httpx2.RemoteProtocolError itself: it does not wrap errors raised mid-stream
# disconnect, non-streaming: APIConnectionError in both
# stall past the read timeout, streaming
#   openai: APITimeoutError, __cause__ httpx2.ReadTimeout; anthropic: httpx2.ReadTimeout itself
# malformed, either mode: json.JSONDecodeError in both, unwrapped
# error event, streaming
#   openai: APIError itself (no status_code; .type "server_error" from the event)
#   anthropic: APIStatusError itself with status_code 200, NOT OverloadedError (the class goes
#   by the HTTP status, already 200); .type "overloaded_error" from the event
# error event, non-streaming: openai InternalServerError (500), anthropic OverloadedError (529)
#
# With max_retries > 0 both SDKs retry 408/409/429/>=500 and connection errors, honouring
# retry-after-ms, then Retry-After; errors raised while iterating a stream are never retried.

FAULT_REPLY = "one two three four five six"  # six tokens


def _journal_status(sim_url: str, timeout_s: float = 2.0) -> dict[str, Any]:
    """The latest journal record, once it has stopped streaming."""
    deadline = time.monotonic() + timeout_s
    while (record := _requests(sim_url)[-1])["status"] == "streaming":
        assert time.monotonic() < deadline, "request never finished"
        time.sleep(0.02)
    return record


def _stream_openai(client: openai.OpenAI, received: list[str], **kwargs: Any) -> None:
    """Stream a reply, collecting its content tokens as they arrive."""
    stream = client.chat.completions.create(model="gpt-4o", messages=USER, stream=True, **kwargs)
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            received.append(chunk.choices[0].delta.content)


def _stream_anthropic(client: anthropic.Anthropic, received: list[str], **kwargs: Any) -> None:
    stream = client.messages.create(
        model="claude-haiku-4-5", max_tokens=64, messages=USER, stream=True, **kwargs
    )
    for event in stream:
        if event.type == "content_block_delta" and event.delta.type == "text_delta":
            received.append(event.delta.text)


def test_429_with_retry_after_in_both_formats(
    sim_url: str, oai: openai.OpenAI, claude: anthropic.Anthropic
) -> None:
    headers = {"X-Sim-Status": "429", "X-Sim-Retry-After": "2"}
    with pytest.raises(openai.RateLimitError) as oai_err:
        oai.chat.completions.create(model="gpt-4o", messages=USER, extra_headers=headers)
    assert oai_err.value.response.headers["retry-after"] == "2"
    assert "x-should-retry" not in oai_err.value.response.headers
    assert oai_err.value.type == "requests" and oai_err.value.code == "rate_limit_exceeded"

    _script(sim_url, status=429, retry_after=1.5)
    received: list[str] = []
    with pytest.raises(anthropic.RateLimitError) as claude_err:
        _stream_anthropic(claude, received)
    assert claude_err.value.response.headers["retry-after"] == "1.5"
    assert claude_err.value.type == "rate_limit_error"
    assert claude_err.value.body == {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": claude_err.value.api_message},
    }
    assert received == []

    records = _requests(sim_url)
    assert [(r["status"], r["fault"], r["tokens_sent"]) for r in records] == [
        ("failed", "status:429", 0),
        ("failed", "status:429", 0),
    ]


def test_retry_after_ms_is_sent_and_honoured_by_sdk_retries(sim_url: str) -> None:
    with openai.OpenAI(base_url=f"{sim_url}/v1", api_key="sk-test", max_retries=1) as client:
        with pytest.raises(openai.RateLimitError) as err:
            client.with_options(max_retries=0).chat.completions.create(
                model="gpt-4o",
                messages=USER,
                extra_headers={"X-Sim-Status": "429", "X-Sim-Retry-After-Ms": "20"},
            )
        assert err.value.response.headers["retry-after-ms"] == "20"
        assert "retry-after" not in err.value.response.headers

        # The SDK retries by itself, waiting as told: its own first backoff is 0.375-0.5 s,
        # so taking >= 0.7 s shows it honoured retry-after-ms (a lower bound: never flaky).
        _script(sim_url, status=429, retry_after_ms=700)
        _script(sim_url, reply="Made it.")
        started = time.monotonic()
        completion = client.chat.completions.create(model="gpt-4o", messages=USER, timeout=5)
        assert time.monotonic() - started >= 0.7
        assert completion.choices[0].message.content == "Made it."
        statuses = [r["status"] for r in _requests(sim_url)]
        assert statuses == ["failed", "failed", "completed"]


@pytest.mark.parametrize(
    ("status", "openai_error", "openai_type", "anthropic_error", "anthropic_type"),
    [
        (400, openai.BadRequestError, "invalid_request_error", anthropic.BadRequestError,
         "invalid_request_error"),
        (401, openai.AuthenticationError, "invalid_request_error", anthropic.AuthenticationError,
         "authentication_error"),
        (403, openai.PermissionDeniedError, "invalid_request_error",
         anthropic.PermissionDeniedError, "permission_error"),
        (404, openai.NotFoundError, "invalid_request_error", anthropic.NotFoundError,
         "not_found_error"),
        (500, openai.InternalServerError, "server_error", anthropic.InternalServerError,
         "api_error"),
        (503, openai.InternalServerError, "server_error", anthropic.ServiceUnavailableError,
         "api_error"),
        (529, openai.InternalServerError, "server_error", anthropic.OverloadedError,
         "overloaded_error"),
    ],
)  # fmt: skip
def test_status_faults_raise_the_sdk_error_for_the_status(
    oai: openai.OpenAI,
    claude: anthropic.Anthropic,
    status: int,
    openai_error: type[openai.APIStatusError],
    openai_type: str,
    anthropic_error: type[anthropic.APIStatusError],
    anthropic_type: str,
) -> None:
    headers = {"X-Sim-Status": str(status)}
    with pytest.raises(openai.APIStatusError) as oai_err:
        oai.chat.completions.create(model="gpt-4o", messages=USER, extra_headers=headers)
    # Exact classes: the router maps them to error kinds.
    assert type(oai_err.value) is openai_error
    assert oai_err.value.status_code == status and oai_err.value.type == openai_type
    assert set(oai_err.value.response.json()["error"]) == {"message", "type", "param", "code"}

    with pytest.raises(anthropic.APIStatusError) as claude_err:
        claude.messages.create(
            model="claude-haiku-4-5", max_tokens=16, messages=USER, extra_headers=headers
        )
    assert type(claude_err.value) is anthropic_error
    assert claude_err.value.status_code == status and claude_err.value.type == anthropic_type


def test_scripted_sequence_500_500_then_success(sim_url: str, claude: anthropic.Anthropic) -> None:
    _script(sim_url, status=500)  # times defaults to 1
    _script(sim_url, status=500)
    _script(sim_url, reply="Third time lucky.")

    def ask() -> str:
        message = claude.messages.create(model="claude-haiku-4-5", max_tokens=16, messages=USER)
        return message.content[0].text

    for _ in range(2):
        with pytest.raises(anthropic.InternalServerError):
            ask()
    assert ask() == "Third time lucky."
    assert ask() == default_reply(0, "claude-haiku-4-5", QUESTION)  # the script is used up
    records = _requests(sim_url)
    assert [(r["status"], r["fault"]) for r in records] == [
        ("failed", "status:500"),
        ("failed", "status:500"),
        ("completed", None),
        ("completed", None),
    ]


def test_script_model_filter_and_journal_filter(sim_url: str, oai: openai.OpenAI) -> None:
    _script(sim_url, model="gpt-4o", status=503, times=0)  # model A fails, forever
    with pytest.raises(openai.InternalServerError):
        oai.chat.completions.create(model="gpt-4o", messages=USER)
    completion = oai.chat.completions.create(model="gpt-4o-mini", messages=USER)
    assert completion.choices[0].message.content == default_reply(0, "gpt-4o-mini", QUESTION)
    with pytest.raises(openai.InternalServerError):
        oai.chat.completions.create(model="gpt-4o", messages=USER)

    # A header fault replaces the scripted one rather than stacking on it.
    with pytest.raises(openai.RateLimitError):
        oai.chat.completions.create(
            model="gpt-4o", messages=USER, extra_headers={"X-Sim-Status": "429"}
        )

    failed = _http().get(f"{sim_url}/_sim/requests", params={"model": "gpt-4o"}).json()
    assert [r["fault"] for r in failed["requests"]] == ["status:503", "status:503", "status:429"]
    [ok] = (
        _http().get(f"{sim_url}/_sim/requests", params={"model": "gpt-4o-mini"}).json()["requests"]
    )
    assert ok["status"] == "completed" and ok["fault"] is None


def test_an_own_model_takes_only_script_entries_that_name_it(
    sim_url: str, oai: openai.OpenAI
) -> None:
    _script(sim_url, reply="Scripted for the chat.", times=0)
    _script(sim_url, model=OWN_MODEL, reply="Scripted for the background job.")

    def answer(model: str) -> str:
        return oai.chat.completions.create(model=model, messages=USER).choices[0].message.content

    assert answer(OWN_MODEL) == "Scripted for the background job."
    assert answer(OWN_MODEL) == default_reply(0, OWN_MODEL, QUESTION)  # not the chat's entry
    assert answer("gpt-4o-mini") == "Scripted for the chat."


def test_stall_delays_the_tokens_after_n(sim_url: str, oai: openai.OpenAI) -> None:
    _script(sim_url, reply=FAULT_REPLY, stall_after=2, stall_ms=300)
    arrivals: list[float] = []
    started = time.monotonic()
    stream = oai.chat.completions.create(model="gpt-4o", messages=USER, stream=True)
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.monotonic())
    assert len(arrivals) == 6
    # Lower bound only, and from the start: a client that lags on token 2 shrinks the gap
    # between tokens 2 and 3. Where the stall sits is pinned by the stall-forever test.
    assert arrivals[2] - started >= 0.3
    record = _journal_status(sim_url)
    assert record["status"] == "completed" and record["fault"] == "stall"
    assert record["tokens_sent"] == 6


def test_stall_forever_trips_the_sdk_read_timeout(sim_url: str) -> None:
    headers = {"X-Sim-Reply": FAULT_REPLY, "X-Sim-Stall-After": "2"}  # no stall_ms: forever

    oai = openai.OpenAI(base_url=f"{sim_url}/v1", api_key="sk", max_retries=0, timeout=0.3)
    received: list[str] = []
    with oai, pytest.raises(openai.APITimeoutError) as oai_err:
        _stream_openai(oai, received, extra_headers=headers)
    assert isinstance(oai_err.value.__cause__, httpx2.ReadTimeout)
    assert received == ["one ", "two "]
    record = _journal_status(sim_url)  # the SDK hangs up once it times out
    assert record["status"] == "client_disconnected" and record["fault"] == "stall"

    claude = anthropic.Anthropic(base_url=sim_url, api_key="sk", max_retries=0, timeout=0.3)
    received = []
    # anthropic does not wrap transport errors raised while iterating a stream.
    with claude, pytest.raises(httpx2.ReadTimeout):
        _stream_anthropic(claude, received, extra_headers=headers)
    assert received == ["one ", "two "]
    assert _journal_status(sim_url)["status"] == "client_disconnected"


def test_disconnect_after_n_tokens(
    sim_url: str, oai: openai.OpenAI, claude: anthropic.Anthropic
) -> None:
    headers = {"X-Sim-Reply": FAULT_REPLY, "X-Sim-Disconnect-After": "3"}
    received: list[str] = []
    with pytest.raises(openai.APIConnectionError) as oai_err:
        _stream_openai(oai, received, extra_headers=headers)
    assert type(oai_err.value) is openai.APIConnectionError
    assert isinstance(
        oai_err.value.__cause__, httpx2.RemoteProtocolError
    )  # incomplete chunked read
    assert received == ["one ", "two ", "three "]
    record = _journal_status(sim_url)
    assert record["status"] == "disconnected_by_server" and record["fault"] == "disconnect"
    assert record["tokens_sent"] == 3

    received = []
    with pytest.raises(httpx2.RemoteProtocolError):  # unwrapped, unlike openai
        _stream_anthropic(claude, received, extra_headers=headers)
    assert received == ["one ", "two ", "three "]

    # Non-streaming: the connection closes with no response at all.
    with pytest.raises(openai.APIConnectionError):
        oai.chat.completions.create(model="gpt-4o", messages=USER, extra_headers=headers)
    with pytest.raises(anthropic.APIConnectionError):
        claude.messages.create(
            model="claude-haiku-4-5", max_tokens=16, messages=USER, extra_headers=headers
        )
    records = _requests(sim_url)
    assert {r["status"] for r in records} == {"disconnected_by_server"}


def test_malformed_after_n_tokens(
    sim_url: str, oai: openai.OpenAI, claude: anthropic.Anthropic
) -> None:
    _script(sim_url, reply=FAULT_REPLY, malformed_after=3, times=3)
    received: list[str] = []
    with pytest.raises(json.JSONDecodeError):  # neither SDK wraps it
        _stream_openai(oai, received)
    assert received == ["one ", "two ", "three "]
    record = _journal_status(sim_url)
    assert record["status"] == "completed" and record["fault"] == "malformed"

    received = []
    with pytest.raises(json.JSONDecodeError):
        _stream_anthropic(claude, received)
    assert received == ["one ", "two ", "three "]

    with pytest.raises(json.JSONDecodeError):  # a truncated non-streaming body
        oai.chat.completions.create(model="gpt-4o", messages=USER)


def test_error_event_mid_stream(
    sim_url: str, oai: openai.OpenAI, claude: anthropic.Anthropic
) -> None:
    headers = {"X-Sim-Reply": FAULT_REPLY, "X-Sim-Error-Event-After": "3"}
    received: list[str] = []
    with pytest.raises(anthropic.APIStatusError) as claude_err:
        _stream_anthropic(claude, received, extra_headers=headers)
    # The HTTP status was 200 by then, so the SDK picks its class by that: not OverloadedError.
    assert type(claude_err.value) is anthropic.APIStatusError
    assert claude_err.value.status_code == 200
    assert claude_err.value.type == "overloaded_error"
    assert received == ["one ", "two ", "three "]
    record = _journal_status(sim_url)
    assert record["status"] == "failed" and record["fault"] == "error_event"
    assert record["tokens_sent"] == 3

    received = []
    with pytest.raises(openai.APIError) as oai_err:
        _stream_openai(oai, received, extra_headers=headers)
    assert type(oai_err.value) is openai.APIError  # no status code at all
    assert oai_err.value.type == "server_error"
    assert received == ["one ", "two ", "three "]

    # Non-streaming requests get the equivalent HTTP error instead.
    with pytest.raises(anthropic.OverloadedError):
        claude.messages.create(
            model="claude-haiku-4-5", max_tokens=16, messages=USER, extra_headers=headers
        )
    with pytest.raises(openai.InternalServerError):
        oai.chat.completions.create(model="gpt-4o", messages=USER, extra_headers=headers)


def test_refusal_in_both_formats(
    sim_url: str, oai: openai.OpenAI, claude: anthropic.Anthropic
) -> None:
    refusal = "I can't help with that."
    _script(sim_url, reply=refusal, refusal=True, times=4)

    chunks = list(
        oai.chat.completions.create(
            model="gpt-4o", messages=USER, stream=True, stream_options={"include_usage": True}
        )
    )
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert "".join(d.refusal or "" for d in deltas) == refusal
    assert all(not d.content for d in deltas)
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == len(split_tokens(refusal))

    completion = oai.chat.completions.create(model="gpt-4o", messages=USER)
    assert completion.choices[0].message.refusal == refusal
    assert completion.choices[0].message.content is None
    assert completion.choices[0].finish_reason == "stop"

    with claude.messages.stream(model="claude-haiku-4-5", max_tokens=64, messages=USER) as s:
        assert "".join(s.text_stream) == refusal
        final = s.get_final_message()
    assert final.stop_reason == "refusal"
    assert final.usage.output_tokens == len(split_tokens(refusal))
    message = claude.messages.create(model="claude-haiku-4-5", max_tokens=64, messages=USER)
    assert message.stop_reason == "refusal" and message.content[0].text == refusal

    records = _requests(sim_url)
    assert {(r["status"], r["fault"]) for r in records} == {("completed", "refusal")}


def test_fault_knobs_are_validated(
    sim_url: str, oai: openai.OpenAI, claude: anthropic.Anthropic
) -> None:
    bad_entries = {
        '{"status": 200}': "status must be an HTTP error status",
        '{"status": 600}': "status must be an HTTP error status",
        '{"status": "429"}': "status has the wrong type",
        '{"retry_after": 1}': "retry_after needs status",
        '{"retry_after_ms": 10}': "retry_after_ms needs status",
        '{"stall_ms": 100}': "stall_ms needs stall_after",
        '{"status": 500, "disconnect_after": 2}': "pick one of disconnect_after, status",
        '{"status": 500, "stall_after": 2}': "cannot be combined",
        '{"disconnect_after": -1}': "must be a finite number >= 0",
        '{"refusal": "yes"}': "refusal has the wrong type",
        '{"disconect_after": 3}': "unknown script keys",
        '{"model": 4}': "model has the wrong type",
    }
    for body, message in bad_entries.items():
        response = _http().post(f"{sim_url}/_sim/script", content=body)
        assert response.status_code == 400, body
        assert message in response.json()["error"], body

    _script(sim_url, reply="Still scripted.")
    bad_headers = {
        "X-Sim-Status": ("teapot", "X-Sim-Status must be a number"),
        "X-Sim-Refusal": ("maybe", "X-Sim-Refusal must be true or false"),
        "X-Sim-Retry-After": ("5", "X-Sim-Retry-After needs X-Sim-Status"),
    }
    for header, (value, message) in bad_headers.items():
        with pytest.raises(openai.BadRequestError) as oai_err:
            oai.chat.completions.create(
                model="gpt-4o", messages=USER, extra_headers={header: value}
            )
        assert message in oai_err.value.message
        with pytest.raises(anthropic.BadRequestError) as claude_err:
            claude.messages.create(
                model="claude-haiku-4-5",
                max_tokens=16,
                messages=USER,
                extra_headers={header: value},
            )
        assert claude_err.value.api_message is not None and message in claude_err.value.api_message
    # Rejected requests are not journalled and do not use up the script.
    assert _requests(sim_url) == []
    assert _ask_openai(oai, QUESTION) == "Still scripted."
