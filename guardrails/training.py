"""Training of the injection classifier: reproducible, on the *_train evaldata files only."""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from guardrails.classifier import BITS, CHAR_NGRAMS, FORMAT, InjectionClassifier, features
from guardrails.gloss import GLOSS
from guardrails.normalize import canonical

ROOT = Path(__file__).resolve().parents[1]
TRAIN_FILES = ("injection_train.jsonl", "jailbreak_train.jsonl")
# Written by the project: benign prompts that say "ignore", "system", "instructions" (the public
# sets have almost none, so a classifier learns those words as attack signals).
HARD_NEGATIVES = Path(__file__).parent / "data" / "benign_mentions_train.jsonl"
# Plain user questions (QQP train split), benign: without them the classifier learned "you"-
# questions as attacks and blocked 0.9 % of ordinary questions ("Do you believe in free will?").
ORDINARY_QUESTIONS = "paraphrase_qqp_train.jsonl"
ORDINARY_SOURCE = "ordinary_questions"
ORDINARY_COUNT = 1500
# Out-of-fold false-positive rate the default threshold is set for, measured on the hard benign
# rows only (the floor is 3 %); the ordinary questions are easy and would pull it down.
TARGET_FPR = 0.03
FOLDS = 5
# Short rows of one source sharing a run of this many words are near-duplicates (deepset's set
# has the same attack alone, after a question, after two questions): they go to the same fold,
# so a row's held-out score comes from a model that saw none of its variants, as a new message's
# does. Long rows share boilerplate runs ("you are going to") without being variants.
SHARED_WORDS = 4
SHORT_ROW_CHARS = 500


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
        index, values = features(canonical(text))
        indices.append(index)
        data.append(values)
        indptr.append(indptr[-1] + len(index))
    matrix = (np.concatenate(data), np.concatenate(indices), np.array(indptr))
    return csr_matrix(matrix, shape=(len(indptr) - 1, 2**BITS))


def read_sources(data: Path) -> tuple[list[tuple[str, int]], list[str]]:
    """Every training row and the file it came from (a per-source recall picks C)."""
    examples, sources = [], []
    for path in [*(data / name for name in TRAIN_FILES), HARD_NEGATIVES]:
        rows = read_labelled(path)
        examples += rows
        sources += [path.stem] * len(rows)
    questions = ordinary_questions(data)
    examples += [(question, 0) for question in questions]
    sources += [ORDINARY_SOURCE] * len(questions)
    return examples, sources


def ordinary_questions(data: Path, count: int = ORDINARY_COUNT) -> list[str]:
    """A fixed, seeded sample of distinct questions from the paraphrase train split."""
    with (data / ORDINARY_QUESTIONS).open(encoding="utf-8") as rows:
        questions = list(dict.fromkeys(json.loads(row)["a"] for row in rows))
    random.Random(0).shuffle(questions)
    return questions[:count]


def threshold_for_fpr(probabilities: np.ndarray, labels: np.ndarray, fpr: float) -> float:
    """The lowest probability threshold whose false-positive rate on benign rows is ≤ fpr."""
    benign = np.sort(probabilities[labels == 0])[::-1]
    allowed = int(np.floor(fpr * len(benign)))
    return float(min(0.99, benign[allowed] + 1e-6)) if len(benign) > allowed else 0.5


def strictest_threshold(probabilities: np.ndarray, labels: np.ndarray, sources: list[str]) -> float:
    """The lowest threshold at which every hard source's benign rows stay within TARGET_FPR:
    pooled, the many easy project-written negatives would let one public set's rate drift up."""
    names = sorted(set(sources) - {ORDINARY_SOURCE})
    thresholds = []
    for name in names:
        rows = np.array([source == name for source in sources])
        if (labels[rows] == 0).sum() >= 1 / TARGET_FPR:  # enough benign rows for a rate
            thresholds.append(threshold_for_fpr(probabilities[rows], labels[rows], TARGET_FPR))
    return max(thresholds, default=0.5)


def near_duplicate_groups(texts: list[str], sources: list[str]) -> np.ndarray:
    """A group number per row: short rows of one source that share SHARED_WORDS words in a row
    are joined (transitively); every other row is a group of its own."""
    parent = list(range(len(texts)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_seen: dict[tuple[str, str], int] = {}
    for i, (text, source) in enumerate(zip(texts, sources, strict=True)):
        if len(text) >= SHORT_ROW_CHARS:
            continue
        words = re.findall(r"\w+", canonical(text))
        runs = {" ".join(words[k : k + SHARED_WORDS]) for k in range(len(words) - SHARED_WORDS + 1)}
        for run in sorted(runs):
            key = (source, run)
            if key in first_seen:
                parent[root(i)] = root(first_seen[key])
            else:
                first_seen[key] = i
    return np.array([root(i) for i in range(len(texts))])


def _fold_models(features, labels, strata, groups, c: float, seed: int):
    """One model per fold, and each row's score from the model that did not see it (nor any
    near-duplicate of it)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedGroupKFold

    folds = StratifiedGroupKFold(n_splits=FOLDS, shuffle=True, random_state=seed)
    held_out = np.zeros(len(labels))
    models = []
    # A source with fewer rows of a label than folds (a few reviewed blocks) is stratified by
    # label alone.
    sizes = np.bincount(strata)
    split_by = np.where(sizes[strata] < FOLDS, labels, strata + 2)
    # Too few groups of a label to spread over the folds (tiny data): rows are their own groups.
    if min(len(set(groups[labels == label])) for label in (0, 1)) < 2 * FOLDS:
        groups = np.arange(len(labels))
    for fit_rows, validation_rows in folds.split(features, split_by, groups):
        model = LogisticRegression(C=c, max_iter=5000, class_weight="balanced")
        model.fit(features[fit_rows], labels[fit_rows])
        held_out[validation_rows] = model.decision_function(features[validation_rows])
        models.append(model)
    return models, 1.0 / (1.0 + np.exp(-held_out))


def train(
    examples: list[tuple[str, int]],
    *,
    sources: list[str] | None = None,
    c_grid: tuple[float, ...] = (16.0, 64.0),
    seed: int = 0,
) -> tuple[InjectionClassifier, dict]:
    """Fit one model per fold and ship their average; the threshold comes from validation only.

    Every training row is validation data for exactly one fold model, so the threshold is set
    on scores from models that never saw the row; the shipped model (the fold models' mean
    weights) is judged on a similar scale. C is the one whose worst per-source recall at the
    target FPR is best, so the small deepset set is not outvoted by the jailbreak set.
    """
    labels = np.array([label for _, label in examples])
    sources = sources or ["all"] * len(examples)
    names = sorted(set(sources))
    strata = np.array(
        [names.index(s) * 2 + label for s, (_, label) in zip(sources, examples, strict=True)]
    )
    features = feature_matrix(text for text, _ in examples)
    groups = near_duplicate_groups([text for text, _ in examples], sources)
    best = None
    for c in c_grid:
        models, held_out = _fold_models(features, labels, strata, groups, c, seed)
        threshold = strictest_threshold(held_out, labels, sources)
        recalls = {
            name: float((held_out[(strata == names.index(name) * 2 + 1)] >= threshold).mean())
            for name in names
            if (strata == names.index(name) * 2 + 1).any()
        }
        worst = min(recalls.values())
        if best is None or worst > best[0]:
            best = (worst, c, threshold, models, recalls)
    _, c, threshold, models, recalls = best
    weights = np.mean([m.coef_[0] for m in models], axis=0).astype(np.float32)
    bias = float(np.mean([m.intercept_[0] for m in models]))
    # The version names the data and the features: a changed gloss is a different model.
    recipe = json.dumps([BITS, CHAR_NGRAMS, sorted(GLOSS.items()), c_grid, seed, FOLDS])
    rows = "\n".join(f"{label}\t{text}" for text, label in examples)
    digest = hashlib.sha256(f"{recipe}\n{rows}".encode())
    version = f"injection-v{FORMAT}-{digest.hexdigest()[:10]}"
    meta = {
        "rows": len(examples),
        "attacks": int(labels.sum()),
        "c": c,
        "folds": FOLDS,
        "fold_groups": "near-duplicates together",
        "target_fpr": TARGET_FPR,
        "validation_recall_at_threshold": recalls,
    }
    return InjectionClassifier(weights, bias, threshold, version), meta
