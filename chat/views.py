from uuid import UUID

from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from chat import selectors, services
from chat.generation import request_stop

SEARCH_MAX_CHARS = 200


def _sidebar(request: HttpRequest, *, archived: bool = False) -> dict:
    conversations = selectors.conversations_for(request.user, archived=archived)
    return {"groups": selectors.grouped_by_recency(conversations), "showing_archived": archived}


@require_GET
@login_required
def home(request: HttpRequest) -> HttpResponse:
    archived = request.GET.get("archived") == "1"
    context = _sidebar(request, archived=archived) | {"assistants": selectors.assistants()}
    return render(request, "chat/home.html", context)


@require_POST
@login_required
def conversation_new(request: HttpRequest) -> HttpResponse:
    template_id = request.POST.get("template", "")
    try:
        conversation = services.conversation_create(
            user=request.user, template_id=int(template_id) if template_id.isdigit() else None
        )
    except services.NoTemplate:
        messages.error(request, "No assistant is set up yet. Ask an administrator to add one.")
        return redirect("chat:home")
    return redirect("chat:conversation", conversation_id=conversation.id)


@require_GET
@login_required
def conversation(request: HttpRequest, conversation_id: UUID) -> HttpResponse:
    current = selectors.conversation_for(request.user, conversation_id)
    path = selectors.active_path(current)
    context = _sidebar(request, archived=current.archived) | {
        "conversation": current,
        "chat_messages": path,
        "streaming": any(m.is_streaming for m in path),
        "max_input_chars": settings.CHAT_MAX_INPUT_CHARS,
    }
    return render(request, "chat/conversation.html", context)


@require_GET
@login_required
def conversation_search(request: HttpRequest) -> HttpResponse:
    """The sidebar's list: conversations whose title or messages match `q`, or all of them."""
    query = request.GET.get("q", "").strip()[:SEARCH_MAX_CHARS]
    if not query:
        return render(request, "chat/_conversation_groups.html", _sidebar(request))
    found = selectors.conversations_matching(request.user, query)
    groups = selectors.grouped_by_recency(found)
    return render(request, "chat/_conversation_groups.html", {"groups": groups, "query": query})


@require_POST
@login_required
def conversation_rename(request: HttpRequest, conversation_id: UUID) -> HttpResponse:
    conversation = selectors.conversation_for(request.user, conversation_id)
    services.conversation_rename(conversation=conversation, title=request.POST.get("title", ""))
    return redirect("chat:conversation", conversation_id=conversation.id)


@require_POST
@login_required
def conversation_archive(request: HttpRequest, conversation_id: UUID) -> HttpResponse:
    conversation = selectors.conversation_for(request.user, conversation_id)
    archived = request.POST.get("archived") == "1"
    services.conversation_set_archived(conversation=conversation, archived=archived)
    if archived:
        return redirect("chat:home")
    return redirect("chat:conversation", conversation_id=conversation.id)


@require_POST
@login_required
def conversation_delete(request: HttpRequest, conversation_id: UUID) -> HttpResponse:
    conversation = selectors.conversation_for(request.user, conversation_id)
    services.conversation_delete(conversation=conversation)
    # A reply still being written would spend tokens on a conversation that no longer exists.
    async_to_sync(request_stop)(conversation_id)
    return redirect("chat:home")


@require_POST
@login_required
def branch_select(request: HttpRequest, conversation_id: UUID, message_id: int) -> HttpResponse:
    """Page to another version of a message (htmx): the transcript along its branch."""
    conversation = selectors.conversation_for(request.user, conversation_id)
    get_object_or_404(conversation.messages, id=message_id)
    try:
        services.branch_select(conversation=conversation, message_id=message_id)
    except services.ConversationBusy:
        return HttpResponse(status=409)
    conversation.refresh_from_db(fields=["current_leaf"])
    path = selectors.active_path(conversation)
    return render(request, "chat/_transcript.html", {"chat_messages": path})
