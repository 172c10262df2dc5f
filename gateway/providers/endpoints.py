"""Where each provider's SDK points: the real API, an OpenAI-compatible server, or the simulator."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from gateway.models import Provider


@dataclass(frozen=True)
class Endpoint:
    provider: str
    base_url: str | None
    api_key: str
    simulated: bool

    def __repr__(self) -> str:  # never print the key
        return f"Endpoint({self.provider!r}, {self.base_url!r}, simulated={self.simulated})"


def endpoint_for(provider: str) -> Endpoint:
    """The endpoint for `provider`, from the environment; the simulator when nothing is set."""
    simulator = settings.SIMULATOR_URL.rstrip("/")
    if provider == Provider.OPENAI:
        key, base = settings.OPENAI_API_KEY, settings.OPENAI_BASE_URL
        if key or base:
            # OpenAI-compatible servers (vLLM, Ollama, llama.cpp) often need no key at all.
            return Endpoint(provider, base or None, key or "unused", simulated=False)
        return Endpoint(provider, f"{simulator}/v1", "simulated", simulated=True)
    if provider == Provider.ANTHROPIC:
        key, base = settings.ANTHROPIC_API_KEY, settings.ANTHROPIC_BASE_URL
        if key or base:
            return Endpoint(provider, base or None, key or "unused", simulated=False)
        return Endpoint(provider, simulator, "simulated", simulated=True)
    raise ValueError(f"unknown provider {provider!r}")
