"""Model providers behind one streaming interface, each through its official async SDK."""

from gateway.providers.base import ChatRequest, ProviderError, ReplyChunk, ToolCall
from gateway.providers.endpoints import Endpoint, endpoint_for
from gateway.providers.streaming import http_timeout, stream_reply

__all__ = [
    "ChatRequest",
    "Endpoint",
    "ProviderError",
    "ReplyChunk",
    "ToolCall",
    "endpoint_for",
    "http_timeout",
    "stream_reply",
]
