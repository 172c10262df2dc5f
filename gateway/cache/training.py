"""Training of the cache's pair classifier: reproducible, on paraphrase_qqp_train only.

The train pairs are split once (seeded) into fit and validation parts. The network is fitted on
the fit part; the threshold is the lowest probability whose false-hit rate on the validation
part — counted the way the cache serves: exact match, or cosine ≥ the similarity threshold and
no rule mismatch and probability ≥ threshold — stays at or under TARGET_FALSE_HIT_RATE.
The *_test pairs are never read here; bench/cache_quality reports on them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from gateway.cache import verify as rules
from gateway.cache.classifier import PairClassifier
from gateway.cache.pairs import pair_matrix

ROOT = Path(__file__).resolve().parents[2]
TRAIN_FILE = "paraphrase_qqp_train.jsonl"
# The floor is 1 % on the held-out pairs: aim under it, for the spread between splits.
TARGET_FALSE_HIT_RATE = 0.008
VALIDATION_SHARE = 0.2
HIDDEN_UNITS = 64
# Pairs under this cosine never reach the classifier at any sane similarity threshold.
FIT_FLOOR = 0.6


def evaldata_dir() -> Path:
    """The shared evaldata folder next to the checkout (../shared), or next to its parent."""
    candidates = [ROOT.parent / "shared" / "evaldata", ROOT.parent.parent / "shared" / "evaldata"]
    return next((path for path in candidates if path.is_dir()), candidates[0])


def read_pairs(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as rows:
        return [json.loads(row) for row in rows if row.strip()]


def oriented(pairs: list[dict]) -> list[tuple[str, str]]:
    """(new question, cached question): the bench and the cache ask with "b" against "a"."""
    return [(p["b"], p["a"]) for p in pairs]


def rule_passes(pairs: list[tuple[str, str]]) -> np.ndarray:
    return np.array([not rules.hard_mismatch(rules.parse(q), rules.parse(c)) for q, c in pairs])


def served(
    probabilities: np.ndarray, cosine: np.ndarray, exact: np.ndarray, passes: np.ndarray,
    *, gate: float, threshold: float,
) -> np.ndarray:  # fmt: skip
    return exact | ((cosine >= gate) & passes & (probabilities >= threshold))


def threshold_for(probabilities, cosine, exact, passes, labels, *, gate: float) -> float:
    """The lowest probability threshold whose false-hit rate is ≤ the target."""
    negatives = labels == 0
    candidates = np.where(negatives & (cosine >= gate) & passes & ~exact, probabilities, -1.0)
    ranked = np.sort(candidates[negatives])[::-1]
    allowed = int(np.floor(TARGET_FALSE_HIT_RATE * negatives.sum())) - int(exact[negatives].sum())
    return float(min(0.999, ranked[max(0, allowed)] + 1e-6))


def train(pairs: list[dict], *, gate: float, seed: int = 0) -> tuple[PairClassifier, dict]:
    from sklearn.neural_network import MLPClassifier

    oriented_pairs = oriented(pairs)
    labels = np.array([int(p["label"]) for p in pairs])
    features = pair_matrix(oriented_pairs)
    cosine = features[:, 0]  # rules.features puts the sentence cosine first
    exact = np.array([rules.normalise(q) == rules.normalise(c) for q, c in oriented_pairs])
    passes = rule_passes(oriented_pairs)
    order = np.random.default_rng(seed).permutation(len(pairs))
    cut = int(len(order) * (1 - VALIDATION_SHARE))
    fit_rows, val_rows = order[:cut], order[cut:]
    fit_rows = fit_rows[cosine[fit_rows] >= FIT_FLOOR]

    mean = features[fit_rows].mean(axis=0)
    scale = features[fit_rows].std(axis=0) + 1e-6
    network = MLPClassifier(
        hidden_layer_sizes=(HIDDEN_UNITS,),
        alpha=1e-3,
        max_iter=60,
        early_stopping=True,
        random_state=seed,
    ).fit((features[fit_rows] - mean) / scale, labels[fit_rows])
    digest = hashlib.sha256(
        "\n".join(f"{p['label']}\t{p['a']}\t{p['b']}" for p in pairs).encode()
    ).hexdigest()[:10]
    classifier = PairClassifier(
        mean=mean,
        scale=scale,
        hidden_weights=network.coefs_[0],
        hidden_bias=network.intercepts_[0],
        out_weights=network.coefs_[1][:, 0],
        out_bias=float(network.intercepts_[1][0]),
        threshold=0.5,
        version=f"pair-verifier-v1-{digest}",
    )
    # Scored the way serving scores (float16 weights included), then the threshold is set.
    shipped = _as_shipped(classifier)
    val = (features[val_rows], cosine[val_rows], exact[val_rows], passes[val_rows])
    probabilities = shipped.probabilities(val[0])
    threshold = threshold_for(probabilities, *val[1:], labels[val_rows], gate=gate)
    hits = served(probabilities, *val[1:], gate=gate, threshold=threshold)
    val_labels = labels[val_rows]
    meta = {
        "train_file": TRAIN_FILE,
        "rows": len(pairs),
        "fit_rows": len(fit_rows),
        "validation_rows": len(val_rows),
        "similarity_threshold": gate,
        "target_false_hit_rate": TARGET_FALSE_HIT_RATE,
        "validation_hit_rate": round(float(hits[val_labels == 1].mean()), 4),
        "validation_false_hit_rate": round(float(hits[val_labels == 0].mean()), 4),
        "hidden_units": HIDDEN_UNITS,
        "seed": seed,
    }
    return PairClassifier(**{**shipped.__dict__, "threshold": threshold}), meta


def _as_shipped(classifier: PairClassifier) -> PairClassifier:
    return PairClassifier(
        **{
            **classifier.__dict__,
            "hidden_weights": classifier.hidden_weights.astype(np.float16).astype(np.float32),
            "mean": classifier.mean.astype(np.float32),
            "scale": classifier.scale.astype(np.float32),
        }
    )
