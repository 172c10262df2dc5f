"""Stage 1: the user's message is saved before anything else can fail."""

from __future__ import annotations

from chat.services import SavedInput, turn_begin
from gateway.db import in_db_thread


async def save_input(*, user_id: int, conversation_id, text: str | None, **branch) -> SavedInput:
    """`branch`: turn_begin's client_id, regenerate_of and edit_of."""
    return await in_db_thread(turn_begin)(
        user_id=user_id, conversation_id=conversation_id, text=text, **branch
    )
