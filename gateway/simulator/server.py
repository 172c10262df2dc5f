"""aiohttp app: routes and the shared reply/stream driver.

Handlers only validate and parse; what to say comes from ``plan``, how to say it
from ``wire_openai`` / ``wire_anthropic``, and ``_respond`` paces it out, handing
injected failures to ``faults``. What happened is kept in the ``journal``.
"""

import asyncio
import uuid
from typing import Any, Literal

from aiohttp import web

from gateway.simulator import faults, wire_anthropic, wire_openai
from gateway.simulator.journal import RequestJournal, RequestRecord
from gateway.simulator.plan import (
    ReplyPlan,
    ScriptStore,
    SimulatorDefaults,
    StatusFault,
    StreamFault,
    resolve_plan,
)
from gateway.simulator.replies import (
    count_tokens,
    last_tool_result,
    last_user_text,
    system_text,
)
from gateway.simulator.wire import WireReply

MODEL_IDS = ("gpt-4o", "gpt-4o-mini", "gpt-4.1-mini", "claude-sonnet-4-5", "claude-haiku-4-5")
_MODELS_CREATED = 1_700_000_000
_SSE_HEADERS = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}

_RECORDED_APART = {"model", "messages", "system", "stream"}


DEFAULTS = web.AppKey("defaults", SimulatorDefaults)
SCRIPT = web.AppKey("script", ScriptStore)
JOURNAL = web.AppKey("journal", RequestJournal)


def build_app(defaults: SimulatorDefaults) -> web.Application:
    app = web.Application()
    app[DEFAULTS] = defaults
    app[SCRIPT] = ScriptStore()
    app[JOURNAL] = RequestJournal()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/v1/models", list_models)
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_post("/v1/messages", create_message)
    app.router.add_post("/_sim/script", add_script)
    app.router.add_delete("/_sim/script", clear_script)
    app.router.add_get("/_sim/requests", list_requests)
    app.router.add_delete("/_sim/requests", clear_requests)
    return app


async def start_server(defaults: SimulatorDefaults, host: str, port: int) -> web.AppRunner:
    """Serve ``build_app(defaults)``; ``port=0`` picks a free port (see ``runner.addresses``)."""
    # handler_cancellation: a client hanging up cancels its handler at once, even mid-sleep,
    # so disconnects are recorded promptly. A short shutdown_timeout keeps SIGTERM snappy.
    runner = web.AppRunner(
        build_app(defaults), handler_cancellation=True, shutdown_timeout=1.0, access_log=None
    )
    await runner.setup()
    # A deep accept backlog so bursts of hundreds of simultaneous connects aren't dropped.
    await web.TCPSite(runner, host, port, backlog=1024).start()
    return runner


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def list_models(request: web.Request) -> web.Response:
    models = [
        {"id": m, "object": "model", "created": _MODELS_CREATED, "owned_by": "simulator"}
        for m in MODEL_IDS
    ]
    return web.json_response({"object": "list", "data": models})


async def chat_completions(request: web.Request) -> web.StreamResponse:
    if not _bearer_token(request):
        return _openai_error(401, "Incorrect API key provided.", code="invalid_api_key")
    body = await _read_json(request)
    if not _has_messages(body):
        return _openai_error(400, "Body must be a JSON object with 'model' and 'messages'.")
    stream = body.get("stream") is True
    stream_options = body.get("stream_options")
    include_usage = isinstance(stream_options, dict) and stream_options.get("include_usage") is True
    try:
        plan = _resolve(request, body["model"], body["messages"])
    except ValueError as exc:
        return _openai_error(400, str(exc))
    reply = wire_openai.ChatCompletion(
        id=f"chatcmpl-{uuid.uuid4().hex}",
        model=body["model"],
        plan=plan,
        include_usage=include_usage,
    )
    record = _record(request, reply.id, "openai", body, stream, plan)
    return await _respond(request, record, reply, stream, {"x-request-id": reply.id})


async def create_message(request: web.Request) -> web.StreamResponse:
    # anthropic>=2 sends the API key as a Bearer token; older clients and curl use x-api-key.
    if not (request.headers.get("x-api-key", "").strip() or _bearer_token(request)):
        return _anthropic_error(401, "authentication_error", "invalid x-api-key")
    body = await _read_json(request)
    if not _has_messages(body):
        msg = "Body must be a JSON object with 'model' and 'messages'."
        return _anthropic_error(400, "invalid_request_error", msg)
    stream = body.get("stream") is True
    try:
        plan = _resolve(request, body["model"], body["messages"], body.get("system"))
    except ValueError as exc:
        return _anthropic_error(400, "invalid_request_error", str(exc))
    reply = wire_anthropic.Message(
        id=f"msg_{uuid.uuid4().hex[:24]}", model=body["model"], plan=plan
    )
    record = _record(request, reply.id, "anthropic", body, stream, plan)
    return await _respond(request, record, reply, stream, {"request-id": reply.id})


async def add_script(request: web.Request) -> web.Response:
    try:
        entry = request.app[SCRIPT].add(await _read_json(request))
    except ValueError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    return web.json_response({"id": entry.id})


async def clear_script(request: web.Request) -> web.Response:
    return web.json_response({"cleared": request.app[SCRIPT].clear()})


async def list_requests(request: web.Request) -> web.Response:
    records = request.app[JOURNAL].as_json(model=request.query.get("model"))
    return web.json_response({"requests": records})


async def clear_requests(request: web.Request) -> web.Response:
    return web.json_response({"cleared": request.app[JOURNAL].clear()})


def _resolve(
    request: web.Request, model: str, messages: list[Any], system: Any = None
) -> ReplyPlan:
    # Anthropic's top-level system prompt is part of the billed input too.
    prompt = [{"content": system}, *messages] if system is not None else messages
    return resolve_plan(
        request.app[DEFAULTS],
        request.app[SCRIPT],
        request.headers,
        model=model,
        user_text=last_user_text(messages),
        prompt_tokens=count_tokens(prompt),
        system=system_text(messages, system),
        tool_result=last_tool_result(messages),
    )


def _record(
    request: web.Request,
    reply_id: str,
    api: Literal["openai", "anthropic"],
    body: dict[str, Any],
    stream: bool,
    plan: ReplyPlan,
) -> RequestRecord:
    record = RequestRecord(
        id=reply_id,
        api=api,
        model=body["model"],
        stream=stream,
        messages=body["messages"],
        system=body.get("system") if api == "anthropic" else None,
        usage=plan.usage.as_dict(),
        params={k: v for k, v in body.items() if k not in _RECORDED_APART},
        auth="x-api-key" if request.headers.get("x-api-key") else "bearer",
        fault=plan.fault_name,
    )
    return request.app[JOURNAL].add(record)


async def _respond(
    request: web.Request,
    record: RequestRecord,
    reply: WireReply,
    stream: bool,
    headers: dict[str, str],
) -> web.StreamResponse:
    fault = reply.plan.fault
    try:
        if isinstance(fault, StatusFault):
            # Injected errors are answered at once, like a real API's rejections.
            record.finish("failed")
            return faults.status_response(reply, fault, headers)
        if stream:
            return await _stream(request, record, reply, headers)
        if fault is not None:
            return await faults.cut_short(request, record, reply, fault, headers)
        # A non-streaming reply still takes as long as generating it would.
        await asyncio.sleep(reply.plan.duration_s())
        record.tokens_sent = len(reply.plan.tokens)
        record.finish("completed")
        return web.json_response(reply.body(), headers=headers)
    except asyncio.CancelledError:
        # handler_cancellation: aiohttp cancels us when the client goes away.
        record.finish("client_disconnected")
        raise


async def _stream(
    request: web.Request, record: RequestRecord, reply: WireReply, headers: dict[str, str]
) -> web.StreamResponse:
    response = web.StreamResponse(headers={**_SSE_HEADERS, **headers})
    try:
        await response.prepare(request)
        for event in reply.head():
            await response.write(event)
        fault = await _write_tokens(response, record, reply)
        if fault is not None:
            await faults.end_stream(request, response, record, reply, fault)
            return response
        for event in reply.tail():
            await response.write(event)
        await response.write_eof()
    except ConnectionResetError:
        # Writing to a closed transport: the client hung up (between two tokens, say).
        record.finish("client_disconnected")
        return response
    record.finish("completed")
    return response


async def _write_tokens(
    response: web.StreamResponse, record: RequestRecord, reply: WireReply
) -> StreamFault | None:
    """Send the content tokens, paced; stop early at the plan's stream fault and return it."""
    # Sleep to absolute deadlines so pacing doesn't drift with write/scheduling overhead.
    # sleep(0) when there is no delay still yields, keeping hundreds of streams fair.
    plan = reply.plan
    fault = plan.fault if isinstance(plan.fault, StreamFault) else None
    loop = asyncio.get_running_loop()
    next_at = loop.time() + plan.ttft_s
    delay = plan.token_delay_s()
    # One more round than there are tokens: faults may fire after the last one.
    for sent in range(len(plan.tokens) + 1):
        if plan.stall is not None and sent == plan.stall.after:
            await asyncio.sleep(plan.stall.seconds)
            next_at += plan.stall.seconds  # the tokens after a stall keep their pace
        if fault is not None and sent == fault.after:
            return fault
        if sent == len(plan.tokens):
            return None
        await asyncio.sleep(max(0.0, next_at - loop.time()))
        await response.write(reply.token(plan.tokens[sent]))
        record.tokens_sent += 1
        next_at += delay
    return None


def _bearer_token(request: web.Request) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


async def _read_json(request: web.Request) -> Any:
    """The parsed body, or None when it isn't valid JSON."""
    try:
        return await request.json()
    except ValueError:
        return None


def _has_messages(body: Any) -> bool:
    return (
        isinstance(body, dict)
        and isinstance(body.get("model"), str)
        and isinstance(body.get("messages"), list)
        and all(isinstance(m, dict) for m in body["messages"])
    )


def _openai_error(status: int, message: str, *, code: str | None = None) -> web.Response:
    return web.json_response(wire_openai.error_body(message, code=code), status=status)


def _anthropic_error(status: int, error_type: str, message: str) -> web.Response:
    return web.json_response(wire_anthropic.error_body(error_type, message), status=status)
