"""Parsing a /v1/chat/completions body: size, encoding, JSON, types and fields, each a clear 400."""

from __future__ import annotations

from typing import Annotated, Literal

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest
from django.http.request import RawPostDataException
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from api.errors import ApiError
from gateway.input_text import refused_character

Text = Annotated[str, StringConstraints(max_length=1_000_000)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class TextPart(_Strict):
    type: Literal["text"]
    text: Text


class ChatMessage(_Strict):
    role: Literal["system", "developer", "user", "assistant"]
    content: Text | list[TextPart]
    name: Annotated[str, StringConstraints(max_length=64)] | None = None

    @property
    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)


class StreamOptions(_Strict):
    include_usage: bool = False


class CompletionRequest(_Strict):
    model: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    messages: Annotated[list[ChatMessage], Field(min_length=1, max_length=500)]
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    n: Literal[1] | None = None
    user: Annotated[str, StringConstraints(max_length=256)] | None = None


def completion_request(request: HttpRequest) -> CompletionRequest:
    parsed = _validated(_body_text(request))
    _check_messages(parsed.messages)
    return parsed


def _body_text(request: HttpRequest) -> str:
    limit = settings.API_MAX_BODY_BYTES
    too_large = ApiError(413, f"The request body is larger than {limit:,} bytes.", code="too_large")
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise too_large
    try:
        body = request.body
    except (RequestDataTooBig, RawPostDataException) as error:
        raise too_large from error
    if len(body) > limit:
        raise too_large
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ApiError(
            400, "The request body is not valid UTF-8.", code="invalid_encoding"
        ) from error


def _validated(text: str) -> CompletionRequest:
    try:
        return CompletionRequest.model_validate_json(text)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        if first["type"] == "json_invalid":
            raise ApiError(
                400, "The request body is not valid JSON.", code="invalid_json"
            ) from error
        where = ".".join(str(part) for part in first["loc"]) or None
        message = f"{where}: {first['msg']}" if where else first["msg"]
        raise ApiError(400, message, param=where, code="invalid_value") from error


def _check_messages(messages: list[ChatMessage]) -> None:
    limit = settings.CHAT_MAX_INPUT_CHARS
    for index, message in enumerate(messages):
        param = f"messages.{index}.content"
        if message.role in ("system", "developer"):
            raise ApiError(
                400,
                "System prompts are managed per assistant: choose one with `model` "
                "(GET /v1/models) and send only user and assistant messages.",
                param=f"messages.{index}.role",
                code="unsupported_role",
            )
        if code := refused_character(message.text):
            raise ApiError(
                400,
                f"Message text contains a control character ({code}); only tab, newline and "
                "carriage return are allowed.",
                param=param,
                code="invalid_value",
            )
        if len(message.text) > limit:
            raise ApiError(
                400,
                f"A message is {len(message.text):,} characters long; the limit is {limit:,}.",
                param=param,
                code="too_long",
            )
    if messages[-1].role != "user":
        raise ApiError(
            400, "The last message must be from the user.", param="messages", code="invalid_value"
        )
