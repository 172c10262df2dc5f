"""HTML fragments sent over the websocket; htmx swaps each top-level element by its id."""

from __future__ import annotations

from django.template.loader import render_to_string
from django.utils.html import escape
from django.utils.safestring import SafeString

from chat import selectors
from chat.models import Conversation, Message
from chat.streaming import StreamingReply

NEW_TITLE = "New chat"


def message_html(message: Message, *, oob: bool = False) -> str:
    return render_to_string("chat/_message.html", {"message": message, "oob": oob})


def transcript_html(path: list[Message]) -> str:
    """Every message of the branch shown, replacing the page's: after a branch change."""
    inner = "".join(message_html(m) for m in path)
    return f'<div id="messages" hx-swap-oob="innerHTML">{inner}</div>'


def conversation_sync_html(conversation_id) -> str:
    """The conversation as saved, for a page that reconnects: it may have missed anything."""
    conversation = Conversation.objects.get(id=conversation_id)
    path = selectors.active_path(conversation)
    streaming = any(m.is_streaming for m in path)
    return (
        transcript_html(path)
        + conversation_title_html(conversation.id, conversation.title)
        + turn_state_html("streaming" if streaming else "idle")
        + composer_ack_html(selectors.last_sent_client_id(conversation))
    )


def appended_messages_html(*messages: Message) -> str:
    inner = "".join(message_html(m) for m in messages)
    return f'<div id="messages" hx-swap-oob="beforeend">{inner}</div>'


def reply_delta_html(reply_id: int, new_blocks: list[SafeString], tail: SafeString) -> str:
    blocks = "".join(f'<div class="md-block">{block}</div>' for block in new_blocks)
    appended = (
        f'<div id="m{reply_id}-blocks" hx-swap-oob="beforeend">{blocks}</div>' if blocks else ""
    )
    return f'{appended}<div id="m{reply_id}-tail" hx-swap-oob="innerHTML">{tail}</div>'


def tool_use_html(reply_id: int, use: dict) -> str:
    """A tool the reply ran, added to the reply's tool block as it happens (autoescaped)."""
    block = render_to_string("chat/_tool_use.html", {"use": use})
    return f'<div id="m{reply_id}-tools" hx-swap-oob="beforeend">{block}</div>'


def reply_replaced_html(reply_id: int, text: str) -> str:
    """The streamed reply, retracted: all of it is swapped for `text` (a guardrail's notice)."""
    body = render_to_string("chat/_replaced.html", {"reply_id": reply_id, "text": text})
    return f'<div id="m{reply_id}-body" class="message-body" hx-swap-oob="true">{body}</div>'


def reply_snapshot_html(message: Message, reply: StreamingReply) -> str:
    """The whole streaming reply as the generator knows it: idempotent, for (re)connecting pages."""
    return render_to_string(
        "chat/_message.html",
        {"message": message, "oob": True, "blocks": reply.blocks, "tail": reply.tail_html()},
    )


def conversation_title_html(conversation_id, title: str) -> str:
    """The conversation's title, in the header and the sidebar."""
    text = escape(title or NEW_TITLE)
    return (
        f'<span id="conversation-title" hx-swap-oob="innerHTML">{text}</span>'
        f'<span id="conv-{conversation_id.hex}" hx-swap-oob="innerHTML">{text}</span>'
    )


def turn_state_html(state: str) -> str:
    return f'<div id="turn-state" data-state="{state}" hx-swap-oob="true"></div>'


def composer_ack_html(client_id: str) -> str:
    """Tells the page its draft `client_id` was saved, so it may clear the composer (chat.js)."""
    return f'<div id="composer-ack" data-ack="{escape(client_id)}" hx-swap-oob="true"></div>'


def composer_restore_html(text: str) -> str:
    """Gives the page back a draft that was saved but not sent (a guardrail stopped it), so the
    user can rephrase it instead of typing it again (chat.js)."""
    return f'<div id="composer-restore" data-text="{escape(text)}" hx-swap-oob="true"></div>'


def error_html(text: str, kind: str = "") -> str:
    """An inline error under the transcript; `kind` (the pipeline's Error.kind) for styling."""
    return render_to_string("chat/_error.html", {"text": text, "kind": kind})


def notice_html(text: str) -> str:
    return render_to_string("chat/_notice.html", {"text": text})
