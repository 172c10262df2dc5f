"""Reply text and token accounting shared by both wire formats.

Everything here is pure and deterministic so tests and benchmarks can predict
what the simulator will say and how it will bill it.
"""

import json
import random
import re
from collections.abc import Iterable, Mapping
from typing import Any

# A word (or a run of punctuation) plus the whitespace that follows it. The
# trailing `\s+` alternative only matters for leading whitespace. Every character
# falls into exactly one chunk, so "".join(split_tokens(t)) == t.
_TOKEN_RE = re.compile(r"\w+\s*|[^\w\s]+\s*|\s+")

_SNIPPET_TOKENS = 8

_OPENERS = (
    "This is a simulated reply from **{model}** to {quoted}.",
    "Hi! **{model}** (simulated) here, answering {quoted}.",
    "Simulated answer from **{model}** for {quoted}.",
)
_BULLETS = (
    "No real model was called, so this costs nothing.",
    "Tokens arrive one at a time to exercise streaming.",
    "Same seed, model and question give the same text.",
    "Markdown like **bold** and lists should render.",
    "Tests can script their own replies.",
)
_CLOSINGS = (
    "Tip: script a different reply with `POST /_sim/script`.",
    "Send an `X-Sim-Reply` header to override this text per request.",
    "Tune the pace with `--tokens-per-s` when starting the simulator.",
)


def split_tokens(text: str) -> list[str]:
    """Split text into stream chunks that join back to exactly ``text``."""
    return _TOKEN_RE.findall(text)


def content_text(content: Any) -> str:
    """Text of a message ``content``: a plain string or a list of content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text", "")
            for part in content
            if isinstance(part, Mapping) and part.get("type") == "text"
        )
    return ""


def last_user_text(messages: Iterable[Mapping[str, Any]]) -> str:
    """Text of the most recent user message, or "" when there is none. Anthropic's tool results
    come in user messages of their own: those are not what the user asked."""
    user_texts = [
        content_text(m.get("content"))
        for m in messages
        if m.get("role") == "user" and not _only_tool_results(m.get("content"))
    ]
    return user_texts[-1] if user_texts else ""


def _only_tool_results(content: Any) -> bool:
    return (
        isinstance(content, list)
        and bool(content)
        and all(isinstance(p, Mapping) and p.get("type") == "tool_result" for p in content)
    )


def last_tool_result(messages: Iterable[Mapping[str, Any]]) -> str:
    """The content of the latest tool result sent (OpenAI `tool` message or Anthropic
    `tool_result` block), or ""."""
    found = ""
    for message in messages:
        content = message.get("content")
        if message.get("role") == "tool":
            found = content_text(content)
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, Mapping) and part.get("type") == "tool_result":
                    found = content_text(part.get("content"))
    return found


_PLACEHOLDER_RE = re.compile(r"\{\{tool_result(?:\.(\w+))?\}\}")


def fill_reply(reply: str, *, system: str, tool_result: str) -> str:
    """``{{system}}`` → the system prompt (a leaking model); ``{{tool_result}}`` → the last tool
    result as sent, ``{{tool_result.key}}`` → one field of the JSON object inside it (a model
    that uses what its tool returned)."""
    reply = reply.replace("{{system}}", system)
    return _PLACEHOLDER_RE.sub(lambda m: _result_field(tool_result, m.group(1)), reply)


def _result_field(result: str, key: str | None) -> str:
    if key is None:
        return result
    # The gateway may fence the result as data: read the JSON object inside the fence.
    start, end = result.find("{"), result.rfind("}")
    try:
        value = json.loads(result[start : end + 1]).get(key, "")
    except (ValueError, AttributeError):
        return ""
    return value if isinstance(value, str) else json.dumps(value)


def system_text(messages: Iterable[Mapping[str, Any]], system: Any = None) -> str:
    """The system prompt as sent: Anthropic's top-level `system`, or OpenAI's system messages."""
    if system is not None:
        return content_text(system)
    roles = ("system", "developer")
    return "\n".join(content_text(m.get("content")) for m in messages if m.get("role") in roles)


def count_tokens(messages: Iterable[Mapping[str, Any]]) -> int:
    """Prompt size in simulator tokens: the token chunks of every message's text."""
    return sum(len(split_tokens(content_text(m.get("content")))) for m in messages)


def default_reply(seed: int, model: str, user_text: str) -> str:
    """A short markdown answer, deterministic for (seed, model, user_text)."""
    rng = random.Random(f"{seed}:{model}:{user_text}")
    opener = rng.choice(_OPENERS).format(model=model, quoted=_quoted_snippet(user_text))
    bullets = rng.sample(_BULLETS, rng.choice((2, 3)))
    closing = rng.choice(_CLOSINGS)
    bullet_lines = "\n".join(f"- {b}" for b in bullets)
    return f"{opener}\n\n{bullet_lines}\n\n{closing}"


def _quoted_snippet(user_text: str) -> str:
    # Cap by tokens rather than characters so odd input (say, a run of
    # punctuation) cannot push the reply past its intended length.
    tokens = split_tokens(" ".join(user_text.split()))
    if not tokens:
        return "your message"
    snippet = "".join(tokens[:_SNIPPET_TOKENS]).strip()
    ellipsis = "…" if len(tokens) > _SNIPPET_TOKENS else ""
    return f"“{snippet}{ellipsis}”"


def argument_pieces(arguments: str, size: int = 12) -> list[str]:
    """Tool-call arguments cut into stream pieces, as the APIs send them."""
    return [arguments[i : i + size] for i in range(0, len(arguments), size)] or [""]
