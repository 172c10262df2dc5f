"""The pair classifier behind `verify`: may the cached question's answer serve the new one?

A one-hidden-layer network over `pairs.pair_vector`, scored with numpy alone (training needs
scikit-learn, serving does not). The weights, the feature scaling and the decision threshold
live in one small versioned file under artifacts/, written by
`manage.py train_cache_verifier` (gateway/cache/training.py) from the *_train pairs only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

ARTIFACT = Path(__file__).parent / "artifacts" / "pair-verifier-v1.npz"


@dataclass(frozen=True)
class PairClassifier:
    mean: np.ndarray
    scale: np.ndarray
    hidden_weights: np.ndarray
    hidden_bias: np.ndarray
    out_weights: np.ndarray
    out_bias: float
    threshold: float  # the lowest probability served, set on held-out train pairs
    version: str

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        x = (np.atleast_2d(features) - self.mean) / self.scale
        hidden = np.maximum(x @ self.hidden_weights + self.hidden_bias, 0.0)
        z = np.clip(hidden @ self.out_weights + self.out_bias, -30, 30)
        return 1.0 / (1.0 + np.exp(-z))

    def probability(self, features: np.ndarray) -> float:
        return float(self.probabilities(features)[0])

    def save(self, path: Path = ARTIFACT, *, meta: dict) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            path,
            mean=self.mean.astype(np.float32),
            scale=self.scale.astype(np.float32),
            hidden_weights=self.hidden_weights.astype(np.float16),
            hidden_bias=self.hidden_bias.astype(np.float32),
            out_weights=self.out_weights.astype(np.float32),
            meta=np.array(
                json.dumps(
                    {
                        **meta,
                        "out_bias": self.out_bias,
                        "threshold": self.threshold,
                        "version": self.version,
                    }
                )
            ),
        )


def load(path: Path = ARTIFACT) -> PairClassifier:
    with np.load(path) as data:
        meta = json.loads(str(data["meta"]))
        return PairClassifier(
            mean=data["mean"].astype(np.float32),
            scale=data["scale"].astype(np.float32),
            hidden_weights=data["hidden_weights"].astype(np.float32),
            hidden_bias=data["hidden_bias"].astype(np.float32),
            out_weights=data["out_weights"].astype(np.float32),
            out_bias=float(meta["out_bias"]),
            threshold=float(meta["threshold"]),
            version=meta["version"],
        )


@cache
def pair_classifier() -> PairClassifier:
    """The shipped classifier, loaded once per process."""
    return load()
