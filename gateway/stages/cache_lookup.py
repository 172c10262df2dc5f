"""Stage 4: the semantic cache. Exact question first, then nearest neighbour + verification.

A failing cache (database, embedder) never fails the turn: it is bypassed, logged and counted.
The lookup's findings travel with the turn to the record stage, which stores a fresh answer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from django.conf import settings

from chat.selectors import history_before
from gateway.cache.counters import count_cache_event
from gateway.cache.policy import is_time_sensitive, policy_for
from gateway.cache.scope import cache_scope, knowledge_revision
from gateway.cache.store import CachedAnswer, find_exact, find_similar
from gateway.db import in_db_thread
from gateway.embeddings import embed, embedder
from prompts_admin.models import PromptTemplate

log = logging.getLogger(__name__)

OFF, MISS, HIT, BYPASS = "off", "miss", "hit", "bypass"
CHUNK_CHARS = 80  # a hit streams in a few chunks, through the same path as model tokens


@dataclass(frozen=True)
class CacheLookup:
    status: str
    scope: str = ""
    template_id: int = 0
    revision: int = 0
    question: str = ""
    embedding: list[float] | None = None
    embedder: str = ""
    ttl_seconds: int = 0
    hit: CachedAnswer | None = None
    # Why this turn's answer must not be stored, even if it completes ("" = it may be).
    no_store: str = ""


NOT_LOOKED_UP = CacheLookup(OFF)


def template_version(template: PromptTemplate) -> str:
    """When no prompt version was chosen (selection fell back): the template's last change."""
    return template.updated_at.isoformat()


def _prepare(
    template: PromptTemplate,
    user_id: int,
    conversation_id,
    reply_id: int,
    version: str | None,
    system_prompt: str | None,
) -> CacheLookup | None:
    *history, asked = history_before(conversation_id, reply_id, settings.CHAT_HISTORY_MESSAGES)
    return _new_lookup(template, user_id, version, system_prompt, history, asked["content"])


def _new_lookup(
    template: PromptTemplate,
    user_id: int,
    version: str | None,
    system_prompt: str | None,
    history: list[dict[str, str]],
    question: str,
) -> CacheLookup | None:
    """The lookup's scope, and the exact match if there is one; None if the template opted out."""
    policy = policy_for(template.id)
    if not policy.enabled:
        return None
    revision = knowledge_revision()
    scope = cache_scope(
        template_id=template.id,
        version=version or template_version(template),
        model=template.model.name,
        system_prompt=template.system_prompt if system_prompt is None else system_prompt,
        knowledge_revision=revision,
        tools=template.tools,  # the allowlist: other tools, other answers
        user_id=user_id if policy.personal else None,
        history=history,
    )
    return CacheLookup(
        status=MISS,
        scope=scope,
        template_id=template.id,
        revision=revision,
        question=question,
        ttl_seconds=policy.ttl_seconds,
        no_store="time_sensitive" if is_time_sensitive(question) else "",
        hit=find_exact(scope=scope, question=question),
    )


def _find(prepare, *args) -> CacheLookup | None:
    """The whole lookup in one worker thread: scope, exact match, then embedding and vector
    search. Each hop between the event loop and a thread costs more than these queries do."""
    lookup = prepare(*args)
    if lookup is None:
        return None
    if lookup.hit:
        count_cache_event("hit_exact")
        return replace(lookup, status=HIT)
    return _search_similar(lookup)


async def cache_lookup(
    *,
    template: PromptTemplate,
    user_id: int,
    conversation_id,
    reply_id: int,
    version: str | None = None,
    system_prompt: str | None = None,
) -> CacheLookup:
    """`version` and `system_prompt`: what stage 3 chose (the served prompt version, rendered);
    both are in the scope, so a promotion or rollback never serves another version's answers."""
    return await _look_up(
        _prepare, template, user_id, conversation_id, reply_id, version, system_prompt
    )


async def opening_question_lookup(
    *,
    template: PromptTemplate,
    user_id: int,
    question: str,
    version: str | None,
    system_prompt: str | None,
) -> CacheLookup:
    """The same lookup for a question with no conversation before it, before it is saved
    (emergency mode's cache-only answers: see gateway/stages/emergency_answer.py)."""
    return await _look_up(_new_lookup, template, user_id, version, system_prompt, [], question)


async def _look_up(prepare, *args) -> CacheLookup:
    """Exact match, else nearest neighbour + verification; a failing cache is bypassed."""
    if not settings.CACHE_ENABLED:
        return CacheLookup(OFF)
    try:
        lookup = await in_db_thread(_find)(prepare, *args)
        return lookup or CacheLookup(OFF)
    except Exception:
        log.warning("semantic cache unavailable; answering without it", exc_info=True)
        count_cache_event("bypass")
        return CacheLookup(BYPASS)


def _search_similar(lookup: CacheLookup) -> CacheLookup:
    name = embedder().name
    vector = embed([lookup.question])[0].tolist()
    lookup = replace(lookup, embedding=vector, embedder=name)
    hit = find_similar(
        scope=lookup.scope, question=lookup.question, embedding=vector, embedder=name
    )
    count_cache_event("hit_similar" if hit else "miss")
    return replace(lookup, status=HIT, hit=hit) if hit else lookup


def answer_chunks(answer: str) -> list[str]:
    """The cached answer cut at spaces into pieces of about CHUNK_CHARS."""
    chunks, start = [], 0
    while start < len(answer):
        end = answer.find(" ", start + CHUNK_CHARS)
        end = len(answer) if end == -1 else end + 1
        chunks.append(answer[start:end])
        start = end
    return chunks
