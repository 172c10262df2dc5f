"""Token counts with an offline tokenizer, and history trimmed to a model's context budget.

`bpe-openai` ships OpenAI's BPE tables inside its wheel (tiktoken downloads them at run time,
which fails offline). OpenAI models are counted with their own encoding. Anthropic publishes no
offline tokenizer, so Claude models — and any model the table does not know — are counted with
o200k_base: an estimate, typically within a few percent for English text.
"""

from __future__ import annotations

import functools

import bpe_openai

FALLBACK_ENCODING = "o200k_base"
# The chat format wraps each message in a few tokens, and primes the reply with a few more
# (OpenAI's published accounting: 3 per message, 3 for the reply).
TOKENS_PER_MESSAGE = 3
TOKENS_FOR_REPLY = 3


@functools.cache
def _encoding(model: str) -> bpe_openai.Encoding:
    try:
        name = bpe_openai.encoding_name_for_model(model)
    except (KeyError, bpe_openai.UnsupportedModelError):
        name = FALLBACK_ENCODING
    return bpe_openai.get_encoding(name)


def count_tokens(text: str, model: str = "") -> int:
    """Tokens in `text` for `model` (an estimate for non-OpenAI models, see the module doc)."""
    # encode_ordinary: user text containing "<|endoftext|>" is text, not a special token.
    return len(_encoding(model).encode_ordinary(text)) if text else 0


def count_message_tokens(message: dict[str, str], model: str = "") -> int:
    return TOKENS_PER_MESSAGE + count_tokens(message["content"], model)


def sent_system(system: str, suffix: str = "") -> str:
    """The system text as providers receive it (see ChatRequest.full_system)."""
    return f"{system}\n\n{suffix}" if suffix else system


def prompt_tokens(
    system: str, messages: list[dict[str, str]], model: str = "", *, suffix: str = ""
) -> int:
    """Tokens a chat request's input takes: system prompt and its suffix (retrieved passages,
    the guardrails' canary line), every message and the reply priming."""
    system = sent_system(system, suffix)
    system_tokens = count_message_tokens({"content": system}, model) if system else 0
    return system_tokens + sum(count_message_tokens(m, model) for m in messages) + TOKENS_FOR_REPLY


def trim_history(
    system: str,
    messages: list[dict[str, str]],
    *,
    budget: int,
    model: str = "",
    suffix: str = "",
) -> list[dict[str, str]]:
    """The latest messages that fit in `budget` input tokens beside the system prompt and the
    `suffix` sent after it: the budget counts everything the request sends.

    The system prompt is always kept and the last message (the user's question) always sent;
    older turns are dropped first. The result starts with a user message, as providers require.
    """
    if not messages:
        return []
    remaining = budget - prompt_tokens(system, [], model, suffix=suffix)
    kept: list[dict[str, str]] = []
    for message in reversed(messages):
        cost = count_message_tokens(message, model)
        if kept and cost > remaining:
            break
        kept.append(message)
        remaining -= cost
    kept.reverse()
    while len(kept) > 1 and kept[0]["role"] != "user":
        kept.pop(0)
    return kept
