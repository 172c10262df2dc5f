"""Errors in OpenAI's format (`{"error": {message, type, param, code}}`), so SDKs raise the
right exception class (AuthenticationError for 401, RateLimitError for 429, ...)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status, self.message, self.type = status, message, type
        self.code, self.param, self.headers = code, param, headers or {}

    def body(self) -> dict:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }

    def response(self) -> JsonResponse:
        response = JsonResponse(self.body(), status=self.status)
        for name, value in self.headers.items():
            response[name] = value
        return response


def rate_limited(wait: int) -> ApiError:
    return ApiError(
        429,
        f"Rate limit reached for your account. Retry in {wait} s.",
        type="requests",
        code="rate_limit_exceeded",
        headers={"Retry-After": str(wait)},
    )


# How a pipeline Error kind reaches an API client: (HTTP status, type, code).
# Budgets, emergency mode and token limits refuse at admission like OpenAI's quota errors.
_TURN_ERRORS: dict[str, tuple[int, str, str]] = {
    "invalid_input": (400, "invalid_request_error", "invalid_input"),
    "blocked": (400, "invalid_request_error", "content_filter"),
    "busy": (409, "invalid_request_error", "conversation_busy"),
    "rate_limited": (429, "requests", "rate_limit_exceeded"),
    "over_budget": (429, "insufficient_quota", "insufficient_quota"),
    "input_too_long": (400, "invalid_request_error", "context_length_exceeded"),
    "unavailable": (503, "server_error", "model_unavailable"),
    "interrupted": (502, "server_error", "stream_interrupted"),
    "auth": (502, "server_error", "upstream_misconfigured"),
    "bad_request": (502, "server_error", "upstream_misconfigured"),
    "not_found": (502, "server_error", "upstream_misconfigured"),
    "internal": (500, "server_error", "internal_error"),
}


def turn_error(kind: str, message: str) -> ApiError:
    """A pipeline Error as an API error; an unlisted kind is a refusal of this request (400)."""
    status, error_type, code = _TURN_ERRORS.get(kind, (400, "invalid_request_error", kind))
    return ApiError(status, message, type=error_type, code=code)


def openai_errors(view: Callable[..., Awaitable[HttpResponse]]):
    """Turn ApiError into its response, and anything unexpected into a plain 500 (no trace)."""

    @functools.wraps(view)
    async def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            return await view(request, *args, **kwargs)
        except ApiError as error:
            return error.response()
        except Exception:
            log.exception("API request %s %s failed", request.method, request.path)
            return ApiError(
                500, "The server had an error while processing your request.", type="server_error"
            ).response()

    return wrapped
