"""Training of the injection classifier: reproducible, on the *_train evaldata files only."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from guardrails.classifier import BITS, InjectionClassifier, hashed_ngrams
from guardrails.normalize import canonical

ROOT = Path(__file__).resolve().parents[1]
TRAIN_FILES = ("injection_train.jsonl", "jailbreak_train.jsonl")
# Written by the project: benign prompts that say "ignore", "system", "instructions" (the public
# sets have almost none, so a classifier learns those words as attack signals).
HARD_NEGATIVES = Path(__file__).parent / "data" / "benign_mentions_train.jsonl"
# Out-of-fold false-positive rate the default threshold is set for (the floor is 3 %).
TARGET_FPR = 0.02


def evaldata_dir() -> Path:
    """The shared evaldata folder next to the checkout (../shared), or next to its parent."""
    candidates = [ROOT.parent / "shared" / "evaldata", ROOT.parent.parent / "shared" / "evaldata"]
    return next((path for path in candidates if path.is_dir()), candidates[0])


def read_labelled(path: Path) -> list[tuple[str, int]]:
    with path.open(encoding="utf-8") as rows:
        return [(row["text"], int(row["label"])) for row in map(json.loads, rows)]


def feature_matrix(texts: Iterable[str]):
    from scipy.sparse import csr_matrix

    indptr, indices, data = [0], [], []
    for text in texts:
        index, values = hashed_ngrams(canonical(text))
        indices.append(index)
        data.append(values)
        indptr.append(indptr[-1] + len(index))
    matrix = (np.concatenate(data), np.concatenate(indices), np.array(indptr))
    return csr_matrix(matrix, shape=(len(indptr) - 1, 2**BITS))


def threshold_for_fpr(probabilities: np.ndarray, labels: np.ndarray, fpr: float) -> float:
    """The lowest probability threshold whose false-positive rate on benign rows is ≤ fpr."""
    benign = np.sort(probabilities[labels == 0])[::-1]
    allowed = int(np.floor(fpr * len(benign)))
    return float(min(0.99, benign[allowed] + 1e-6)) if len(benign) > allowed else 0.5


def train(
    examples: list[tuple[str, int]], *, c_grid: tuple[float, ...] = (4.0, 16.0, 64.0), seed: int = 0
) -> tuple[InjectionClassifier, dict]:
    """Pick C by out-of-fold recall at the target FPR, then fit on every row."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    labels = np.array([label for _, label in examples])
    features = feature_matrix(text for text, _ in examples)
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    best = None
    for c in c_grid:
        model = LogisticRegression(C=c, max_iter=2000, class_weight="balanced")
        oof = cross_val_predict(model, features, labels, cv=folds, method="predict_proba")[:, 1]
        threshold = threshold_for_fpr(oof, labels, TARGET_FPR)
        recall = float((oof[labels == 1] >= threshold).mean())
        if best is None or recall > best[0]:
            best = (recall, c, threshold, model)
    recall, c, threshold, model = best
    model.fit(features, labels)
    digest = hashlib.sha256("\n".join(f"{label}\t{text}" for text, label in examples).encode())
    version = f"injection-v1-{digest.hexdigest()[:10]}"
    classifier = InjectionClassifier(
        model.coef_[0].astype(np.float32), float(model.intercept_[0]), threshold, version
    )
    meta = {
        "rows": len(examples),
        "attacks": int(labels.sum()),
        "c": c,
        "target_fpr": TARGET_FPR,
        "out_of_fold_recall_at_threshold": recall,
    }
    return classifier, meta
