"""Honour or assign `X-Request-ID` for each HTTP request, bind it to the logs, return it."""

from __future__ import annotations

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from structlog.contextvars import bound_contextvars

from observability.context import HEADER, sane_request_id


class RequestIdMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.is_async:
            return self._acall(request)
        request_id = sane_request_id(request.headers.get(HEADER))
        request.request_id = request_id
        with bound_contextvars(request_id=request_id):
            response = self.get_response(request)
        response[HEADER] = request_id
        return response

    async def _acall(self, request):
        request_id = sane_request_id(request.headers.get(HEADER))
        request.request_id = request_id
        with bound_contextvars(request_id=request_id):
            response = await self.get_response(request)
        response[HEADER] = request_id
        return response
