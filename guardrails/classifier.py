"""A small injection / jailbreak classifier: logistic regression over hashed character n-grams.

Features are computed here with numpy alone (the same function for training and scoring), so
scoring needs no scikit-learn and loads a few hundred KB from `artifacts/` once per process.
Train with `manage.py train_injection_classifier`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

ARTIFACT = Path(__file__).parent / "artifacts" / "injection-v1.npz"
N_GRAMS = (3, 4, 5)
BITS = 17
# Long texts are judged on their head and tail: attacks sit at either end, and cost stays flat.
MAX_CHARS = 6000
_PRIME = np.uint64(1_099_511_628_211)
_MIX = np.uint64(0x9E3779B97F4A7C15)


def hashed_ngrams(text: str, bits: int = BITS) -> tuple[np.ndarray, np.ndarray]:
    """Feature indices and their L2-normalised log counts, for canonical text."""
    if len(text) > MAX_CHARS:
        text = text[: MAX_CHARS // 2] + " " + text[-MAX_CHARS // 2 :]
    points = np.frombuffer(f" {text} ".encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    parts = []
    with np.errstate(over="ignore"):
        for n in N_GRAMS:
            if len(points) < n:
                continue
            h = np.full(len(points) - n + 1, np.uint64(n))
            for k in range(n):
                h = h * _PRIME + points[k : len(points) - n + 1 + k]
            parts.append((h * _MIX) >> np.uint64(64 - bits))
    if not parts:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    index, counts = np.unique(np.concatenate(parts), return_counts=True)
    values = np.log1p(counts).astype(np.float32)
    values /= np.linalg.norm(values)
    return index.astype(np.int64), values


@dataclass(frozen=True)
class InjectionClassifier:
    weights: np.ndarray
    bias: float
    threshold: float  # probability at which it calls an attack (calibrated at training time)
    version: str

    def probability(self, text: str) -> float:
        index, values = hashed_ngrams(text)
        z = float(self.weights[index].astype(np.float32) @ values) + self.bias
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
                        "bits": BITS,
                    }
                )
            ),
        )


def load(path: Path = ARTIFACT) -> InjectionClassifier:
    with np.load(path) as data:
        meta = json.loads(str(data["meta"]))
        weights = data["weights"].astype(np.float32)
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
