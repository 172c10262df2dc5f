from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from chat import selectors, services


@require_GET
@login_required
def home(request: HttpRequest) -> HttpResponse:
    conversations = selectors.conversations_for(request.user)[:50]
    return render(request, "chat/home.html", {"conversations": conversations})


@require_POST
@login_required
def conversation_new(request: HttpRequest) -> HttpResponse:
    conversation = services.conversation_create(user=request.user)
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
            "messages": current.messages.all(),
            "streaming": current.messages.filter(status="streaming").exists(),
        },
    )


@require_POST
@login_required
def conversation_delete(request: HttpRequest, conversation_id: UUID) -> HttpResponse:
    services.conversation_delete(
        conversation=selectors.conversation_for(request.user, conversation_id)
    )
    return redirect("chat:home")
