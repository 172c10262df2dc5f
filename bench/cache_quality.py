"""How often the semantic cache serves one answer to different questions, and how often it helps.

    .venv/bin/python -m bench.cache_quality            # report → bench/results/cache_quality.json
    .venv/bin/python manage.py train_cache_verifier    # retrain the pair classifier on *_train

Pairs are the labelled paraphrase sets in ../shared/evaldata (QQP: real questions, the traffic a
cache sees; MRPC: news sentences, reported apart) and the project's own hard pairs in
bench/data/hard_pairs.jsonl (same question with another number, entity, negation, unit, time or
direction; and true rewordings). A pair counts as a hit when the cache would serve the first
question's answer for the second: the normalised texts are equal, or the cosine is at least the
threshold and (with verification) `verify` accepts: its rules, then the pair classifier. Hit
rate is over label-1 pairs, false-hit rate over label-0 pairs, each with a 95 % Wilson interval.
Only paraphrase_qqp_train is used for fitting and choosing settings (gateway/cache/training.py);
the report is on *_test and the project's hard pairs. No database: the cache's lookup runs
`verify` on the same inputs.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import numpy as np

from bench.output import RESULTS_DIR
from gateway.cache import verify as v
from gateway.cache.classifier import pair_classifier
from gateway.cache.wordvec import word_vectors
from gateway.embeddings import WordLlamaEmbedder

ROOT = Path(__file__).resolve().parent.parent
EVALDATA = Path(os.environ.get("EVALDATA", ROOT.parent / "shared" / "evaldata"))
if not EVALDATA.exists():
    EVALDATA = Path("/work/shared/evaldata")
HARD_PAIRS = ROOT / "bench" / "data" / "hard_pairs.jsonl"
RESULTS = RESULTS_DIR / "cache_quality.json"
SHIPPED_THRESHOLD = 0.8  # settings.CACHE_SIMILARITY_THRESHOLD's default


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.open() if line.strip()]


def cosines(pairs: list[dict]) -> np.ndarray:
    model = WordLlamaEmbedder()
    a = model.embed([p["a"] for p in pairs])
    b = model.embed([p["b"] for p in pairs])
    return (a * b).sum(axis=1)


def wilson(k: int, n: int) -> list[float]:
    if n == 0:
        return [0.0, 0.0]
    p, z = k / n, 1.96
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4)]


def served(
    pairs: list[dict], sims: np.ndarray, threshold: float, verified: bool, *, rules_only=False
) -> np.ndarray:
    out = np.zeros(len(pairs), dtype=bool)
    for i, (pair, sim) in enumerate(zip(pairs, sims, strict=True)):
        if v.normalise(pair["a"]) == v.normalise(pair["b"]):
            out[i] = True
        elif sim >= threshold and rules_only:
            out[i] = not v.hard_mismatch(v.parse(pair["b"]), v.parse(pair["a"]))
        elif sim >= threshold:
            out[i] = not verified or v.verify(pair["b"], pair["a"], word_vectors, float(sim)).ok
    return out


def rates(pairs: list[dict], hits: np.ndarray) -> dict:
    labels = np.array([p["label"] for p in pairs])
    pos, neg = hits[labels == 1], hits[labels == 0]
    return {
        "hit_rate": round(float(pos.mean()), 4) if len(pos) else None,
        "hit_rate_ci95": wilson(int(pos.sum()), len(pos)),
        "false_hit_rate": round(float(neg.mean()), 4) if len(neg) else None,
        "false_hit_rate_ci95": wilson(int(neg.sum()), len(neg)),
        "pairs": {"paraphrase": len(pos), "different": len(neg)},
    }


def report_set(name: str, pairs: list[dict], threshold: float) -> dict:
    sims = cosines(pairs)
    started = time.perf_counter()
    verified = served(pairs, sims, threshold, verified=True)
    seconds = time.perf_counter() - started
    result = {
        "with_verification": rates(pairs, verified),
        "cosine_only": rates(pairs, served(pairs, sims, threshold, verified=False)),
        # The rules alone, without the pair classifier: what the classifier adds.
        "rules_only": rates(pairs, served(pairs, sims, threshold, verified=True, rules_only=True)),
        # For comparison: the cosine-only threshold needed to get the false-hit rate under 1 %.
        "cosine_only_sweep": {
            f"{t:.2f}": rates(pairs, served(pairs, sims, t, verified=False))
            for t in (0.85, 0.9, 0.95, 0.98)
        },
        "verify_ms_per_pair_above_threshold": round(
            1000 * seconds / max(1, int((sims >= threshold).sum())), 3
        ),
    }
    if name == "hard_pairs":
        kinds = np.array([p["kind"] for p in pairs])
        result["by_kind"] = {
            kind: rates([p for p in pairs if p["kind"] == kind], verified[kinds == kind])
            for kind in sorted(set(kinds))
        }
        result["false_hits"] = [
            {"a": p["a"], "b": p["b"], "kind": p["kind"]}
            for p, hit in zip(pairs, verified, strict=True)
            if hit and p["label"] == 0
        ]
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--threshold",
        type=float,
        default=float(os.environ.get("CACHE_SIMILARITY_THRESHOLD", SHIPPED_THRESHOLD)),
    )
    args = parser.parse_args()
    classifier = pair_classifier()
    results = {
        "embedder": WordLlamaEmbedder.name,
        "similarity_threshold": args.threshold,
        "verifier": {"version": classifier.version, "threshold": round(classifier.threshold, 4)},
        "qqp_test": report_set("qqp", load(EVALDATA / "paraphrase_qqp_test.jsonl"), args.threshold),
        "mrpc_test": report_set(
            "mrpc", load(EVALDATA / "paraphrase_mrpc_test.jsonl"), args.threshold
        ),
        "hard_pairs": report_set("hard_pairs", load(HARD_PAIRS), args.threshold),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    for name in ("qqp_test", "mrpc_test", "hard_pairs"):
        for mode in ("with_verification", "rules_only", "cosine_only"):
            r = results[name][mode]
            print(f"{name:11} {mode:18} hit {r['hit_rate']} false {r['false_hit_rate']}")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
