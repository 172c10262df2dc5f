"""HTML fragments sent over the websocket; htmx swaps each top-level element by its id."""

from __future__ import annotations

from django.template.loader import render_to_string
from django.utils.html import escape
from django.utils.safestring import SafeString

from chat.models import Message
from chat.streaming import StreamingReply


def message_html(message: Message, *, oob: bool = False) -> str:
    return render_to_string("chat/_message.html", {"message": message, "oob": oob})


def appended_messages_html(*messages: Message) -> str:
    inner = "".join(message_html(m) for m in messages)
    return f'<div id="messages" hx-swap-oob="beforeend">{inner}</div>'


def reply_delta_html(reply_id: int, new_blocks: list[SafeString], tail: SafeString) -> str:
    blocks = "".join(f'<div class="md-block">{block}</div>' for block in new_blocks)
    appended = (
        f'<div id="m{reply_id}-blocks" hx-swap-oob="beforeend">{blocks}</div>' if blocks else ""
    )
    return f'{appended}<div id="m{reply_id}-tail" hx-swap-oob="innerHTML">{tail}</div>'


def reply_snapshot_html(message: Message, reply: StreamingReply) -> str:
    """The whole streaming reply as the generator knows it: idempotent, for (re)connecting pages."""
    return render_to_string(
        "chat/_message.html",
        {"message": message, "oob": True, "blocks": reply.blocks, "tail": reply.tail_html()},
    )


def conversation_title_html(conversation_id, title: str) -> str:
    """The title set by the first message, in the header and the sidebar."""
    text = escape(title or "New conversation")
    return (
        f'<span id="conversation-title" hx-swap-oob="innerHTML">{text}</span>'
        f'<span id="conv-{conversation_id.hex}" hx-swap-oob="innerHTML">{text}</span>'
    )


def turn_state_html(state: str) -> str:
    return f'<div id="turn-state" data-state="{state}" hx-swap-oob="true"></div>'


def composer_ack_html(user_message_id: int) -> str:
    """Tells the page its draft was saved, so it may clear the composer (chat.js)."""
    return f'<div id="composer-ack" data-ack="{user_message_id}" hx-swap-oob="true"></div>'


def error_html(text: str) -> str:
    return render_to_string("chat/_error.html", {"text": text})


def notice_html(text: str) -> str:
    return render_to_string("chat/_notice.html", {"text": text})
