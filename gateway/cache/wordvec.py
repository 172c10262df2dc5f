"""Word and sentence vectors for `verify`: always the local wordllama model, whatever embeds the
sentences for search.

One word at a time through an API would add a network call to every lookup; the local model
answers in microseconds, and its similarities are what `verify.WORD_MATCH` and the pair
classifier (gateway/cache/artifacts) were fitted on.
"""

from __future__ import annotations

import threading
from functools import cache

import numpy as np

from gateway.embeddings import WordLlamaEmbedder

_MAX_WORDS = 50_000  # a bound on the memo, not a tuning knob
_lock = threading.Lock()
_memo: dict[str, np.ndarray] = {}


@cache
def _model() -> WordLlamaEmbedder:
    return WordLlamaEmbedder()


def sentence_vectors(texts: list[str]) -> np.ndarray:
    """Unit wordllama vectors of whole questions, one row each."""
    return _model().embed(texts)


def word_vectors(words: list[str]) -> np.ndarray:
    """Unit vectors of `words`, one row each, memoised (questions reuse a small vocabulary)."""
    with _lock:
        missing = [w for w in dict.fromkeys(words) if w not in _memo]
    if missing:
        fresh = _model().embed(missing)
        with _lock:
            if len(_memo) > _MAX_WORDS:
                _memo.clear()
            _memo.update(zip(missing, fresh, strict=True))
    with _lock:
        return np.stack([_memo[w] for w in words])
