"""Injected faults: error answers, and replies that break off or go bad part-way.

*Whether* to inject comes from the plan (``plan.fault``; stalls are just a pause in
the server's token loop), *what the bytes look like* from the wire format. This
module decides how the response ends and what the journal records.
"""

import asyncio
import json

from aiohttp import web

from gateway.simulator.journal import RequestRecord, Status
from gateway.simulator.plan import StatusFault, StreamFault
from gateway.simulator.wire import WireReply


def status_response(reply: WireReply, fault: StatusFault, headers: dict[str, str]) -> web.Response:
    """An HTTP error in the API's own format, with any retry hints asked for."""
    retry_headers = {}
    if fault.retry_after is not None:
        retry_headers["Retry-After"] = _number_text(fault.retry_after)
    if fault.retry_after_ms is not None:
        retry_headers["retry-after-ms"] = _number_text(fault.retry_after_ms)
    # Never x-should-retry: both SDKs obey it, and tests measure their default policy.
    return web.json_response(
        reply.status_body(fault.status), status=fault.status, headers={**headers, **retry_headers}
    )


async def end_stream(
    request: web.Request,
    response: web.StreamResponse,
    record: RequestRecord,
    reply: WireReply,
    fault: StreamFault,
) -> None:
    """End a stream the way ``fault`` says, instead of with the reply's closing events."""
    if fault.kind == "disconnect":
        record.finish("disconnected_by_server")
        drop_connection(request)
        return
    if fault.kind == "error_event":
        await response.write(reply.error_event())
        status: Status = "failed"
    else:
        await response.write(reply.malformed())
        status = "completed"
    # The response itself ends cleanly: only its content is wrong.
    await response.write_eof()
    record.finish(status)


async def cut_short(
    request: web.Request,
    record: RequestRecord,
    reply: WireReply,
    fault: StreamFault,
    headers: dict[str, str],
) -> web.StreamResponse:
    """A non-streaming reply that fails once ``fault.after`` tokens would have been generated."""
    await asyncio.sleep(reply.plan.duration_s(fault.after))
    if fault.kind == "disconnect":
        record.finish("disconnected_by_server")
        drop_connection(request)
        # Never sent: aiohttp finds the transport closing and gives up quietly.
        return web.Response()
    if fault.kind == "error_event":
        # A whole-body request cannot fail part-way: it gets the equivalent error status.
        record.finish("failed")
        return status_response(reply, StatusFault(reply.error_event_status), headers)
    record.finish("completed")
    text = json.dumps(reply.body())
    return web.Response(
        text=text[: len(text) // 2], content_type="application/json", headers=headers
    )


def drop_connection(request: web.Request) -> None:
    """Close the TCP connection mid-response, with no terminating chunk.

    ``close()`` rather than ``abort()``: what was already written is still delivered,
    so the client sees exactly the tokens sent so far and then an incomplete body.
    """
    if request.transport is not None:
        request.transport.close()


def _number_text(value: float) -> str:
    # Integers as "2", not "2.0"; fractions to the millisecond, as "1.5".
    if value == int(value):
        return str(int(value))
    return f"{value:.3f}".rstrip("0").rstrip(".")
