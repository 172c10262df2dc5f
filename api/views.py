"""The OpenAI-compatible API (/v1): thin adapters from HTTP to a pipeline turn and back."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator
from pathlib import Path

from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from api import completions, keys
from api.errors import ApiError, openai_errors, rate_limited, turn_error
from api.models import ApiKey, Scope
from api.openai_format import DONE, Completion, sse
from api.ratelimits import user_wait_seconds_async
from api.requests import completion_request
from chat.models import Conversation
from gateway.db import in_db_thread
from gateway.events import Accepted, Blocked, Delta, Done, Error, Event, Replace
from gateway.pipeline import Turn
from gateway.usage import Usage

OPENAPI_DOCUMENT = (Path(__file__).parent / "openapi.json").read_text()


def api_view(method: str):
    """An API endpoint: bearer-key auth instead of cookies (so no CSRF), errors as OpenAI's."""

    def decorate(view):
        @csrf_exempt
        @functools.wraps(view)
        @openai_errors
        async def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.method != method:
                raise ApiError(
                    405, f"{request.method} is not allowed here; use {method}.", code="bad_method"
                )
            return await view(request, *args, **kwargs)

        return wrapped

    return decorate


async def authenticated_key(request: HttpRequest, scope: str) -> ApiKey:
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise ApiError(
            401,
            "You didn't provide an API key. Send it as `Authorization: Bearer sb-...`; "
            "create one under Settings → API keys.",
            code="missing_api_key",
        )
    key = await in_db_thread(keys.key_authenticate)(secret.strip())
    if key is None:
        raise ApiError(401, "Incorrect API key provided.", code="invalid_api_key")
    if scope not in key.scopes:
        raise ApiError(
            403,
            f"This API key lacks the `{scope}` scope.",
            type="permission_error",
            code="insufficient_scope",
        )
    if wait := await user_wait_seconds_async(scope="api", user_id=key.user_id):
        raise rate_limited(wait)
    return key


@api_view("POST")
async def chat_completions(request: HttpRequest) -> HttpResponse:
    key = await authenticated_key(request, Scope.CHAT)
    body = completion_request(request)
    template = await in_db_thread(completions.template_for_model)(body.model)
    conversation = await in_db_thread(completions.conversation_from_messages)(
        user=key.user, template=template, earlier=body.messages[:-1]
    )
    turn = Turn(user_id=key.user_id, conversation_id=conversation.id, text=body.messages[-1].text)
    events = completions.turn_events(turn)
    first = await _first_answer(events, conversation)
    completion = Completion(model=body.model)
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        response = StreamingHttpResponse(
            _stream(first, events, completion, include_usage), content_type="text/event-stream"
        )
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"  # proxies must pass each chunk on at once
        return response
    return JsonResponse(await _collect(first, events, completion))


async def _first_answer(events: AsyncIterator[Event], conversation: Conversation) -> Event:
    """The first text (or the end) of the reply; a refusal or failure before it is an HTTP error."""
    accepted = False
    async for event in events:
        if isinstance(event, Accepted):
            accepted = True
        elif isinstance(event, Error):
            await events.aclose()
            if not accepted:  # refused before the turn began: keep nothing of this request
                await in_db_thread(Conversation.objects.filter(id=conversation.id).delete)()
            raise turn_error(event.kind, event.message)
        elif isinstance(event, Blocked):  # the input guard refused it (saved, marked blocked)
            await events.aclose()
            raise ApiError(400, event.message, code="content_filter")
        elif isinstance(event, Delta | Done | Replace):
            return event
    raise ApiError(500, "The reply ended without an answer.", type="server_error")


async def _collect(first: Event, events: AsyncIterator[Event], completion: Completion) -> dict:
    parts: list[str] = []
    event: Event | None = first
    async with contextlib.aclosing(events):
        while event is not None:
            if isinstance(event, Delta):
                parts.append(event.text)
            elif isinstance(event, Replace):  # the output guard retracted the reply
                parts = [event.text]
            elif isinstance(event, Blocked):
                return completion.completion("".join(parts), Usage(), "content_filter")
            elif isinstance(event, Error):
                raise turn_error(event.kind, event.message)
            elif isinstance(event, Done):
                return completion.completion("".join(parts), event.usage)
            event = await anext(events, None)
    return completion.completion("".join(parts), Usage())


async def _stream(
    first: Event, events: AsyncIterator[Event], completion: Completion, include_usage: bool
) -> AsyncIterator[bytes]:
    usage_field = {"usage": None} if include_usage else {}
    event: Event | None = first
    async with contextlib.aclosing(events):
        yield sse(completion.chunk({"role": "assistant", "content": ""}, **usage_field))
        while event is not None:
            if isinstance(event, Delta):
                yield sse(completion.chunk({"content": event.text}, **usage_field))
            elif isinstance(event, Error):  # mid-stream: the SDKs raise on an `error` event
                yield sse(turn_error(event.kind, event.message).body())
                return
            elif isinstance(event, Blocked):  # held-back text never went out; say why and stop
                yield sse(completion.chunk({"content": event.message}, "content_filter"))
                yield DONE
                return
            elif isinstance(event, Done):
                yield sse(completion.chunk({}, "stop", **usage_field))
                if include_usage:
                    yield sse(completion.usage_chunk(event.usage))
                yield DONE
                return
            event = await anext(events, None)


@api_view("GET")
async def models(request: HttpRequest) -> HttpResponse:
    await authenticated_key(request, Scope.MODELS)
    return JsonResponse(
        {"object": "list", "data": await in_db_thread(completions.available_models)()}
    )


@api_view("GET")
async def openapi(request: HttpRequest) -> HttpResponse:
    return HttpResponse(OPENAPI_DOCUMENT, content_type="application/json")
