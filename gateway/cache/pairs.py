"""What the pair classifier sees of (new question, cached question): a fixed-length vector.

Three kinds of signal, all from the local wordllama model whatever embeds the sentences:
- the rule checks of `verify` (differing numbers, negation, strict words, direction, names,
  order) as flags, so the classifier learns how much each one matters when no rule fires;
- lexical overlap: content-word alignment by word vectors, word and character-trigram Jaccard,
  lengths, first/last words, question word;
- the two sentence vectors as |a - b| and a · b (element-wise), which say *which* meaning
  directions differ, not only how much (the cosine).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import numpy as np

from gateway.cache import verify as rules
from gateway.cache.wordvec import sentence_vectors, word_vectors

WordVectors = rules.WordVectors

REASONS = ("number", "negation", "strict_word", "direction", "name", "order")
_WORD = re.compile(r"\w+")


@lru_cache(maxsize=4096)
def _words(text: str) -> tuple[str, ...]:
    return tuple(_WORD.findall(unicodedata.normalize("NFKC", text).casefold()))


@lru_cache(maxsize=4096)
def _trigrams(text: str) -> frozenset[str]:
    padded = f" {rules.normalise(text)} "
    return frozenset(padded[i : i + 3] for i in range(len(padded) - 2))


def _jaccard(a: frozenset | set, b: frozenset | set) -> float:
    return len(a & b) / (len(a | b) or 1)


def lexical(
    question: str, cached: str, similarity: float, vectors: WordVectors = word_vectors
) -> list[float]:
    a, b = rules.parse(question), rules.parse(cached)
    reason = rules.hard_mismatch(a, b)
    wa, wb = _words(question), _words(cached)
    sa, sb = set(wa), set(wb)
    return [
        *rules.features(a, b, similarity, vectors),
        *(float(reason == r) for r in REASONS),
        _jaccard(sa, sb),
        _jaccard(_trigrams(question), _trigrams(cached)),
        len(wa),
        len(wb),
        min(len(wa), len(wb)) / (max(len(wa), len(wb)) or 1),
        len(sa ^ sb),
        float(wa[:1] == wb[:1]),
        float(wa[:2] == wb[:2]),
        float(wa[-1:] == wb[-1:]),
        float(bool(a.numbers or b.numbers)),
        len(a.numbers ^ b.numbers),
        len(a.names ^ b.names),
        float(a.negated or b.negated),
    ]


def pair_vector(question: str, cached: str, vectors: WordVectors = word_vectors) -> np.ndarray:
    """The classifier's input for one pair (float32, fixed length)."""
    va, vb = sentence_vectors([question, cached])
    similarity = float(va @ vb)
    scalars = np.array(lexical(question, cached, similarity, vectors), np.float32)
    return np.concatenate([scalars, np.abs(va - vb), va * vb]).astype(np.float32)


def pair_matrix(pairs: list[tuple[str, str]]) -> np.ndarray:
    """`pair_vector` for many pairs, embedding the sentences in two batches (for training)."""
    va = sentence_vectors([q for q, _ in pairs])
    vb = sentence_vectors([c for _, c in pairs])
    similarity = (va * vb).sum(axis=1)
    scalars = np.array(
        [lexical(q, c, float(s)) for (q, c), s in zip(pairs, similarity, strict=True)],
        np.float32,
    )
    return np.hstack([scalars, np.abs(va - vb), va * vb]).astype(np.float32)
