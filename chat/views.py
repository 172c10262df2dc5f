from uuid import UUID

from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from chat import selectors, services
from chat.generation import request_stop
from gateway.cache.selectors import with_cache_flag


@require_GET
@login_required
def home(request: HttpRequest) -> HttpResponse:
    conversations = selectors.conversations_for(request.user)[:50]
    return render(request, "chat/home.html", {"conversations": conversations})


@require_POST
@login_required
def conversation_new(request: HttpRequest) -> HttpResponse:
    try:
        conversation = services.conversation_create(user=request.user)
    except services.NoTemplate:
        messages.error(request, "No assistant is set up yet. Ask an administrator to add one.")
        return redirect("chat:home")
    return redirect("chat:conversation", conversation_id=conversation.id)


@require_GET
@login_required
def conversation(request: HttpRequest, conversation_id: UUID) -> HttpResponse:
    current = selectors.conversation_for(request.user, conversation_id)
    return render(
        request,
        "chat/conversation.html",
        {
            "conversation": current,
            "conversations": selectors.conversations_for(request.user)[:50],
            "chat_messages": with_cache_flag(current.messages.all()),
            "streaming": current.messages.filter(status="streaming").exists(),
            "max_input_chars": settings.CHAT_MAX_INPUT_CHARS,
        },
    )


@require_POST
@login_required
def conversation_delete(request: HttpRequest, conversation_id: UUID) -> HttpResponse:
    conversation = selectors.conversation_for(request.user, conversation_id)
    services.conversation_delete(conversation=conversation)
    # A reply still being written would spend tokens on a conversation that no longer exists.
    async_to_sync(request_stop)(conversation_id)
    return redirect("chat:home")
