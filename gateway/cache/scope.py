"""The cache scope: a hash of everything, other than the question, that changes the answer."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence


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
    """The knowledge base's revision (bumped by every change to what retrieval can find): part
    of every scope, so a change stops old answers matching at once; beat evicts them later."""
    from knowledge.selectors import knowledge_revision as current

    return current()
