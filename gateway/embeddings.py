"""Text embeddings for the semantic cache and the knowledge base: pluggable, offline by default.

Every embedder returns unit-length vectors of `DIMENSIONS` floats, so cosine similarity is a dot
product and pgvector's cosine distance is `1 - similarity`. Embedding is CPU work (local) or a
network call (OpenAI): async callers use `aembed`, which runs it off the event loop.
"""

from __future__ import annotations

import asyncio
import threading
from functools import cache
from pathlib import Path
from typing import Protocol

import numpy as np
from django.conf import settings

DIMENSIONS = 256


class Embedder(Protocol):
    name: str  # recorded with each vector, so a change of embedder is detectable (`reembed`)

    def embed(self, texts: list[str]) -> np.ndarray: ...


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32).reshape(-1, DIMENSIONS)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1, norms)


class WordLlamaEmbedder:
    """`wordllama`'s bundled 256-dim model: offline, ~20 µs a sentence, no GPU."""

    name = "wordllama-l2_supercat-256"

    def __init__(self) -> None:
        self._model = None
        self._lock = threading.Lock()

    def _loaded(self):
        with self._lock:
            if self._model is None:
                import wordllama
                from wordllama import WordLlama

                # Its loader looks for the bundled tokenizer in the wrong folder unless told.
                package = Path(wordllama.__file__).parent
                self._model = WordLlama.load(
                    cache_dir=package, disable_download=True, dim=DIMENSIONS
                )
            return self._model

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        return _unit_rows(self._loaded().embed(list(texts), norm=True))


class OpenAIEmbedder:
    """OpenAI `text-embedding-3-small` shortened to 256 dims (the API's `dimensions` parameter)."""

    name = "openai-text-embedding-3-small-256"
    model = "text-embedding-3-small"

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        from openai import OpenAI

        from gateway.providers import endpoint_for

        endpoint = endpoint_for("openai")
        client = OpenAI(
            api_key=endpoint.api_key,
            base_url=endpoint.base_url,
            timeout=settings.EMBEDDING_TIMEOUT_SECONDS,
            max_retries=1,
        )
        reply = client.embeddings.create(model=self.model, input=texts, dimensions=DIMENSIONS)
        ordered = sorted(reply.data, key=lambda item: item.index)
        return _unit_rows(np.array([item.embedding for item in ordered]))


_EMBEDDERS = {"wordllama": WordLlamaEmbedder, "openai": OpenAIEmbedder}


@cache
def embedder() -> Embedder:
    """The configured embedder (`EMBEDDER`), one per process."""
    try:
        return _EMBEDDERS[settings.EMBEDDER]()
    except KeyError:
        raise ValueError(
            f"EMBEDDER={settings.EMBEDDER!r}; choose one of {sorted(_EMBEDDERS)}"
        ) from None


def embed(texts: list[str]) -> np.ndarray:
    return embedder().embed(texts)


def embed_one(text: str) -> list[float]:
    return embed([text])[0].tolist()


async def aembed(texts: list[str]) -> np.ndarray:
    return await asyncio.to_thread(embed, texts)
