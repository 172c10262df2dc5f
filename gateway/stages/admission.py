"""Stage 0: refuse input the rest of the pipeline must never see, and what budgets forbid."""

from __future__ import annotations

from django.conf import settings

from budgets.admission import Admission, admit
from gateway.db import in_db_thread
from gateway.input_text import control_character_problem
from gateway.stages.emergency_answer import with_cached_answer


def input_problem(text: str) -> str | None:
    """A sentence telling the user what is wrong with `text`, or None when it is acceptable."""
    if not text.strip():
        return "Type a message first."
    limit = settings.CHAT_MAX_INPUT_CHARS
    if len(text) > limit:
        return f"That message is {len(text):,} characters long; the limit is {limit:,}."
    return control_character_problem(text)


async def admit_turn(*, user_id: int, conversation_id, text: str | None) -> Admission:
    """Budgets, the global cap and token limits for one turn (see budgets/admission.py); in
    emergency mode, an earlier answer from the semantic cache (see emergency_answer.py)."""
    admission = await in_db_thread(admit)(
        user_id=user_id, conversation_id=conversation_id, text=text
    )
    return await with_cached_answer(
        admission, user_id=user_id, conversation_id=conversation_id, text=text
    )
