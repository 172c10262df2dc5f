"""The provider simulator, exercised end to end through the official OpenAI and Anthropic SDKs."""

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from gateway.simulator.replies import count_tokens, default_reply, split_tokens

REPO_ROOT = Path(__file__).resolve().parent.parent
QUESTION = "How do I bake sourdough bread at home?"
USER = [{"role": "user", "content": QUESTION}]


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
    proc = subprocess.Popen([sys.executable, "-m", "gateway.simulator", *args], cwd=REPO_ROOT)
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base_url, proc)
        yield base_url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert proc.returncode == 0


@pytest.fixture(autouse=True)
def _clean_sim(sim_url: str) -> None:
    httpx.delete(f"{sim_url}/_sim/script").raise_for_status()
    httpx.delete(f"{sim_url}/_sim/requests").raise_for_status()


@pytest.fixture
def oai(sim_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{sim_url}/v1", api_key="sk-test", max_retries=0)


@pytest.fixture
def claude(sim_url: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=sim_url, api_key="sk-ant-test", max_retries=0)


def _script(sim_url: str, **entry: Any) -> None:
    response = httpx.post(f"{sim_url}/_sim/script", json=entry)
    response.raise_for_status()
    assert response.json()["id"]


def _requests(sim_url: str) -> list[dict[str, Any]]:
    return httpx.get(f"{sim_url}/_sim/requests").json()["requests"]


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
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="gpt-4o", messages=USER)


def test_openai_bad_body_is_400_in_openai_format(sim_url: str) -> None:
    response = httpx.post(
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
    with pytest.raises(anthropic.AuthenticationError):
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
        response = httpx.post(f"{sim_url}/_sim/script", content=body)
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
