"""A small injection / jailbreak classifier: logistic regression over hashed n-gram features.

Features (v3): character 2- to 5-grams of the canonical text plus word unigrams and bigrams, the
words first glossed into English (`guardrails.gloss`: injection words in several languages and
everyday German, so that German requests share features with their English twins); each block
L2-normalised, all hashed into 2**BITS buckets. v3 differs from v2 only in the gloss, which
changes the features: a v2 artifact is not read. They are
computed here with numpy alone (the same function for training and scoring), so scoring needs
no scikit-learn. Train with `manage.py train_injection_classifier`.
"""

from __future__ import annotations

import json
import math
import re
import zlib
from dataclasses import dataclass
from functools import cache
from itertools import pairwise
from pathlib import Path

import numpy as np

from guardrails.gloss import GLOSS

FORMAT = 3
ARTIFACT = Path(__file__).parent / "artifacts" / f"injection-v{FORMAT}.npz"
CHAR_NGRAMS = (2, 3, 4, 5)
BITS = 18
# Long texts are judged on their head and tail: attacks sit at either end, and cost stays flat.
MAX_CHARS = 6000
_PRIME = np.uint64(1_099_511_628_211)
_MIX = np.uint64(0x9E3779B97F4A7C15)
_WORD_SEED = np.uint64(0x1234567)
_BIGRAM_SALT = 0x5BD1E995
_WORD = re.compile(r"\w+")


def _bucket(hashes: np.ndarray, bits: int) -> np.ndarray:
    with np.errstate(over="ignore"):
        return (hashes * _MIX) >> np.uint64(64 - bits)


def _char_buckets(text: str, bits: int) -> np.ndarray:
    points = np.frombuffer(f" {text} ".encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    parts = []
    with np.errstate(over="ignore"):
        for n in CHAR_NGRAMS:
            if len(points) < n:
                continue
            h = np.full(len(points) - n + 1, np.uint64(n))
            for k in range(n):
                h = h * _PRIME + points[k : len(points) - n + 1 + k]
            parts.append(_bucket(h, bits))
    return np.concatenate(parts) if parts else np.zeros(0, np.uint64)


def _word_buckets(text: str, bits: int) -> np.ndarray:
    """Unigrams and bigrams of the glossed words (crc32: stable across processes, unlike hash())."""
    words = [GLOSS.get(w, w) for w in _WORD.findall(text)]
    hashes = [zlib.crc32(w.encode()) for w in words]
    hashes += [zlib.crc32(f"{a} {b}".encode()) ^ _BIGRAM_SALT for a, b in pairwise(words)]
    if not hashes:
        return np.zeros(0, np.uint64)
    with np.errstate(over="ignore"):
        return _bucket(np.array(hashes, dtype=np.uint64) + _WORD_SEED, bits)


def _normalised_counts(buckets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    index, counts = np.unique(buckets, return_counts=True)
    values = np.log1p(counts)
    return index, values / np.linalg.norm(values)


def features(text: str, bits: int = BITS) -> tuple[np.ndarray, np.ndarray]:
    """Feature indices and their values (unit length), for canonical text."""
    if len(text) > MAX_CHARS:
        text = text[: MAX_CHARS // 2] + " " + text[-MAX_CHARS // 2 :]
    blocks = [b for b in (_char_buckets(text, bits), _word_buckets(text, bits)) if len(b)]
    if not blocks:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    parts = [_normalised_counts(b) for b in blocks]
    index, inverse = np.unique(np.concatenate([i for i, _ in parts]), return_inverse=True)
    values = np.zeros(len(index))
    np.add.at(values, inverse, np.concatenate([v for _, v in parts]))
    values /= np.linalg.norm(values)
    return index.astype(np.int64), values.astype(np.float32)


@dataclass(frozen=True)
class InjectionClassifier:
    weights: np.ndarray
    bias: float
    threshold: float  # probability at which it calls an attack (calibrated at training time)
    version: str

    def probability(self, text: str) -> float:
        index, values = features(text)
        z = float(self.weights[index] @ values) + self.bias
        return 1.0 / (1.0 + math.exp(-z))

    def save(self, path: Path = ARTIFACT, *, meta: dict) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            path,
            weights=self.weights.astype(np.float16),
            meta=np.array(
                json.dumps(
                    {
                        **meta,
                        "bias": self.bias,
                        "threshold": self.threshold,
                        "version": self.version,
                        "format": FORMAT,
                        "bits": BITS,
                        "char_ngrams": list(CHAR_NGRAMS),
                    }
                )
            ),
        )


def load(path: Path = ARTIFACT) -> InjectionClassifier:
    with np.load(path) as data:
        meta = json.loads(str(data["meta"]))
        weights = data["weights"].astype(np.float32)
    if meta.get("format") != FORMAT or len(weights) != 2**BITS:
        raise ValueError(f"{path.name}: format {meta.get('format')}, this code reads {FORMAT}")
    return InjectionClassifier(weights, meta["bias"], meta["threshold"], meta["version"])


@cache
def default_classifier() -> InjectionClassifier | None:
    """The shipped artifact, or None if it is missing (then heuristics judge alone)."""
    try:
        return load()
    except (OSError, KeyError, ValueError):
        return None


def artifact_meta(path: Path = ARTIFACT) -> dict:
    with np.load(path) as data:
        return json.loads(str(data["meta"]))
