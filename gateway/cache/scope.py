"""The cache scope: a hash of everything, other than the question, that changes the answer."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from django.db.models import F

from gateway.cache.models import KnowledgeRevision


def cache_scope(
    *,
    template_id: int,
    version: str,
    model: str,
    system_prompt: str,
    knowledge_revision: int,
    tools: Sequence[str] = (),
    user_id: int | None = None,
    history: Sequence[dict[str, str]] = (),
) -> str:
    """Two turns share cached answers only if every input here is equal.

    `version` is the prompt version served (today the template's `updated_at`; a PromptVersion
    id later), so promoting a version moves every turn to a new, empty scope at once.
    `user_id` is given only for personal templates. `history` is what the model sees before the
    question: a follow-up ("and in winter?") means something else in each conversation.
    """
    parts = {
        "template": template_id,
        "version": str(version),
        "model": model,
        "system": _digest(system_prompt),
        "knowledge": knowledge_revision,
        "tools": sorted(tools),
        "user": user_id,
        "history": _digest(json.dumps(list(history), sort_keys=True)),
    }
    return _digest(json.dumps(parts, sort_keys=True))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def knowledge_revision() -> int:
    """The knowledge base's revision; 0 until it first changes."""
    row = KnowledgeRevision.objects.filter(pk=1).values_list("revision", flat=True).first()
    return row or 0


def bump_knowledge_revision() -> int:
    """Called by the knowledge base after any change that can alter answers (in its transaction).

    Every cached answer stops matching at once (the revision is in every scope); beat's eviction
    deletes the stale rows later.
    """
    KnowledgeRevision.objects.get_or_create(pk=1)
    KnowledgeRevision.objects.filter(pk=1).update(revision=F("revision") + 1)
    return knowledge_revision()
