"""Stage 1: the user's message is saved before anything else can fail."""

from __future__ import annotations

from channels.db import database_sync_to_async

from chat.services import SavedInput, turn_begin


async def save_input(*, user_id: int, conversation_id, text: str | None) -> SavedInput:
    return await database_sync_to_async(turn_begin)(
        user_id=user_id, conversation_id=conversation_id, text=text
    )
