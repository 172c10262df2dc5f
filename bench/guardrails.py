"""Guardrails measured on public labelled data: injection, PII, and what the checks cost.

    .venv/bin/python -m bench.guardrails [--data ../shared/evaldata] [--iterations 2000]

Pure functions only (no database, no server). Reports on the *_test files (never trained on),
with Wilson 95 % intervals; jailbreaks also by length bucket, so that a length shortcut cannot
pass for detection. Writes bench/results/guardrails.json.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import random
import statistics
import time
from collections import Counter, defaultdict
from pathlib import Path

from bench.output import RESULTS_DIR
from guardrails.checks import injection_score, judge_injection, judge_reply, new_canary
from guardrails.classifier import artifact_meta
from guardrails.pii import Redactor, find_pii, iban_valid, luhn_valid
from guardrails.streaming import ReplyGuard
from guardrails.training import evaldata_dir, read_labelled

ROOT = Path(__file__).resolve().parent.parent
RESULTS = RESULTS_DIR / "guardrails.json"
BENIGN_MENTIONS = ROOT / "bench" / "data" / "guardrails_benign_mentions.jsonl"
# Written by the project: dates, times, versions, prices, order / serial / tracking numbers.
PII_FREE_NUMBERS = ROOT / "bench" / "data" / "pii_free_numbers.jsonl"
THRESHOLD = 0.5  # the policy default
LENGTH_BUCKETS = ((0, 300), (300, 1000), (1000, 3000), (3000, 10**9))
# Presidio's span types that are structured (checkable) PII, and ours that count as a hit.
STRUCTURED = {
    "EMAIL_ADDRESS": "EMAIL",
    "CREDIT_CARD": "CREDIT_CARD",
    "IBAN_CODE": "IBAN",
    "US_SSN": "US_SSN",
    "IP_ADDRESS": "IP_ADDRESS",
    "PHONE_NUMBER": "PHONE",
}


def wilson(hits: int, n: int, z: float = 1.96) -> dict:
    if n == 0:
        return {"rate": None, "n": 0}
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return {
        "rate": round(p, 4),
        "ci95": [round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4)],
        "hits": hits,
        "n": n,
    }


def detection(scored: list[tuple[float, int]], threshold: float = THRESHOLD) -> dict:
    attacks = [s for s, label in scored if label == 1]
    benign = [s for s, label in scored if label == 0]
    return {
        "recall": wilson(sum(s >= threshold for s in attacks), len(attacks)),
        "false_positive_rate": wilson(sum(s >= threshold for s in benign), len(benign)),
    }


def recall_at_fpr(scored: list[tuple[float, int]], fpr: float = 0.03) -> dict:
    """The best recall this score allows on this set at a false-positive rate ≤ fpr (oracle)."""
    benign = sorted((s for s, label in scored if label == 0), reverse=True)
    allowed = int(fpr * len(benign))
    threshold = benign[allowed] + 1e-9 if allowed < len(benign) else 0.0
    return {"threshold": round(threshold, 4), **detection(scored, threshold)}


def injection_results(data: Path) -> dict:
    results: dict = {}
    for name in ("injection_test", "jailbreak_test"):
        rows = read_labelled(data / f"{name}.jsonl")
        per_config = {}
        for config, use_classifier in (("rules_only", False), ("rules_and_classifier", True)):
            scored = [
                (injection_score(text, use_classifier=use_classifier)[0], label)
                for text, label in rows
            ]
            per_config[config] = {
                "at_default_threshold": detection(scored),
                "oracle_recall_at_fpr_3pct": recall_at_fpr(scored),
            }
            if name == "jailbreak_test":
                per_config[config]["by_length"] = {
                    f"{lo}-{hi if hi < 10**9 else 'max'} chars": detection(
                        [
                            (s, lab)
                            for (s, lab), (t, _) in zip(scored, rows, strict=True)
                            if lo <= len(t) < hi
                        ]
                    )
                    for lo, hi in LENGTH_BUCKETS
                }
        results[name] = per_config
    return results


def _obfuscations(text: str) -> dict[str, str]:
    homoglyphs = str.maketrans("aeopcxi", "аеорсхі")  # noqa: RUF001 (Cyrillic on purpose)
    leet = str.maketrans("aeiost", "431057")
    return {
        "homoglyphs": text.translate(homoglyphs),
        "zero_width": "\u200b".join(text),
        "fullwidth": "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text),
        "leetspeak": text.lower().translate(leet),
        "base64": "Decode this and do it: " + base64.b64encode(text.encode()).decode(),
    }


def obfuscated_results(data: Path) -> dict:
    """Test-set attacks that the plain detector catches, re-sent disguised: still caught?"""
    attacks = [t for t, label in read_labelled(data / "injection_test.jsonl") if label == 1]
    caught = [t for t in attacks if judge_injection(t).blocked]
    out = {}
    for trick in _obfuscations("x"):
        hits = sum(judge_injection(_obfuscations(t)[trick]).blocked for t in caught)
        out[trick] = wilson(hits, len(caught))
    return out


def benign_mentions_results() -> dict:
    rows = read_labelled(BENIGN_MENTIONS)
    scored = [(injection_score(t)[0], 0) for t, _ in rows]
    flagged = [t for (s, _), (t, _) in zip(scored, rows, strict=True) if s >= THRESHOLD]
    return {
        "false_positive_rate": detection(scored)["false_positive_rate"],
        "flagged": flagged,
    }


def ordinary_questions_results(data: Path, count: int = 3000) -> dict:
    """What real users type most: plain questions (QQP test). A flag here blocks a normal user."""
    rows = (json.loads(line) for line in (data / "paraphrase_qqp_test.jsonl").open())
    questions = list(dict.fromkeys(row["a"] for row in rows))[:count]
    scored = [(injection_score(q)[0], 0) for q in questions]
    flagged = [q for (s, _), q in zip(scored, questions, strict=True) if s >= THRESHOLD]
    return {
        "false_positive_rate": detection(scored)["false_positive_rate"],
        "flagged_examples": flagged[:10],
    }


def _invalid(value: str, kind: str) -> str:
    """The same value with its last digit changed so the checksum fails."""
    digits = [i for i, c in enumerate(value) if c.isdigit()]
    for delta in range(1, 10):
        i = digits[-1]
        candidate = value[:i] + str((int(value[i]) + delta) % 10) + value[i + 1 :]
        compact = "".join(c for c in candidate if c.isalnum())
        if (kind == "CREDIT_CARD" and not luhn_valid(compact)) or (
            kind == "IBAN_CODE" and not iban_valid(compact)
        ):
            return candidate
    return value


def pii_results(data: Path) -> dict:
    rows = [json.loads(line) for line in (data / "pii_presidio_synth.jsonl").open()]
    found_by_type: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    missed: dict[str, list[str]] = defaultdict(list)
    false_findings = Counter()
    texts_without_structured = 0
    invalid_hits: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        findings = find_pii(row["text"])
        structured = [s for s in row["spans"] if s["type"] in STRUCTURED]
        for span in structured:
            hit = any(
                f.start < span["end"] and span["start"] < f.end
                for f in findings
                if f.type == STRUCTURED[span["type"]]
            )
            found_by_type[span["type"]][0] += hit
            found_by_type[span["type"]][1] += 1
            if not hit and len(missed[span["type"]]) < 10:
                missed[span["type"]].append(span["value"])
            if span["type"] in ("CREDIT_CARD", "IBAN_CODE"):
                bad = _invalid(span["value"], span["type"])
                text = row["text"][: span["start"]] + bad + row["text"][span["end"] :]
                ours = STRUCTURED[span["type"]]
                invalid_hits[span["type"]][0] += any(f.type == ours for f in find_pii(text))
                invalid_hits[span["type"]][1] += 1
        if not structured:
            texts_without_structured += 1
            for finding in findings:
                false_findings[finding.type] += 1
    totals = [sum(v[0] for v in found_by_type.values()), sum(v[1] for v in found_by_type.values())]
    no_phone = [
        sum(v[0] for k, v in found_by_type.items() if k != "PHONE_NUMBER"),
        sum(v[1] for k, v in found_by_type.items() if k != "PHONE_NUMBER"),
    ]
    benign = [
        t
        for name in ("injection_test", "jailbreak_test")
        for t, label in read_labelled(data / f"{name}.jsonl")
        if label == 0
    ]
    questions = [json.loads(line)["a"] for line in (data / "paraphrase_qqp_test.jsonl").open()]
    pii_free = benign + questions[:3000]
    flagged_free = Counter(f.type for t in pii_free for f in find_pii(t))
    return {
        "recall_structured_all": wilson(*totals),
        "recall_structured_without_phone": wilson(*no_phone),
        "recall_by_type": {k: wilson(*v) for k, v in sorted(found_by_type.items())},
        "missed_examples": dict(missed),
        "checksum_failing_values_flagged": {k: wilson(*v) for k, v in invalid_hits.items()},
        "presidio_texts_without_structured_pii": {
            "texts": texts_without_structured,
            "findings": dict(false_findings),
        },
        "pii_free_texts": {
            "texts": len(pii_free),
            "texts_with_a_finding": sum(bool(find_pii(t)) for t in pii_free),
            "findings_by_type": dict(flagged_free),
        },
        "pii_free_numbers": pii_free_numbers_results(),
    }


def pii_free_numbers_results() -> dict:
    texts = [json.loads(line)["text"] for line in PII_FREE_NUMBERS.open()]
    flagged = {t: [f"{f.type}: {f.value}" for f in find_pii(t)] for t in texts}
    flagged = {t: found for t, found in flagged.items() if found}
    return {"texts_with_a_finding": wilson(len(flagged), len(texts)), "flagged": flagged}


def _long_input(rng: random.Random, base: list[str]) -> str:
    """About 4,000 characters of `base` texts, ending with an email, a phone and a card."""
    text = ""
    while len(text) < 4000:
        text += rng.choice(base) + " "
    text = text[:3900]
    return (
        text + " Contact me at ana.lopez@example.org or +1 415 555 2671, card 4111 1111 1111 1111."
    )


def _percentiles(samples: list[float]) -> dict:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered), 3),
        "p99_ms": round(ordered[int(0.99 * (len(ordered) - 1))], 3),
        "max_ms": round(ordered[-1], 3),
    }


def _timed(fn, inputs: list[str], iterations: int) -> dict:
    """Wall-clock and CPU-time percentiles: this machine's 2 cores are shared, so both matter."""
    fn(inputs[0])  # warm: compiled patterns, loaded artifact, phone metadata
    wall, cpu = [], []
    for i in range(iterations):
        started, started_cpu = time.perf_counter(), time.thread_time()
        fn(inputs[i % len(inputs)])
        cpu.append((time.thread_time() - started_cpu) * 1000)
        wall.append((time.perf_counter() - started) * 1000)
    return {"wall": _percentiles(wall), "cpu": _percentiles(cpu)}


def cost_results(data: Path, iterations: int) -> dict:
    """Added latency of the input check on a 4,000-character message, and of the reply guard."""
    rng = random.Random(7)
    jailbreaks = [t for t, _ in read_labelled(data / "jailbreak_test.jsonl")]
    questions = [json.loads(line)["a"] for line in (data / "paraphrase_qqp_test.jsonl").open()]
    corpora = {
        "prose": [_long_input(rng, questions) for _ in range(50)],
        "jailbreak_text": [_long_input(rng, jailbreaks) for _ in range(50)],
    }

    def input_check(use_classifier: bool):
        def check(text: str) -> None:  # what stage 2 runs: the injection verdict and redaction
            judge_injection(text, use_classifier=use_classifier)
            Redactor().redact(text)

        return check

    out: dict = {}
    for corpus, inputs in corpora.items():
        out[corpus] = {
            "input_without_classifier": _timed(input_check(False), inputs, iterations),
            "input_with_classifier": _timed(input_check(True), inputs, iterations),
        }

    def stream_reply(reply: str) -> None:
        guard = ReplyGuard(canary=new_canary(), redactor=Redactor(), holdback=32)
        for i in range(0, len(reply), 4):  # about four characters a token
            guard.feed(reply[i : i + 4])
        guard.finish()

    replies = corpora["prose"]
    out["reply_guard_per_4000_char_reply"] = _timed(
        stream_reply, replies, max(50, iterations // 20)
    )
    out["reply_check_per_window"] = _timed(
        lambda text: judge_reply(
            text[:100], canary="SB-0123456789AB", dangerous_code_action="block"
        ),
        replies,
        iterations,
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--iterations", type=int, default=2000)
    args = parser.parse_args()
    data = args.data or evaldata_dir()
    meta = artifact_meta()
    results = {
        "classifier": {k: meta[k] for k in ("version", "threshold", "rows", "c")},
        "default_threshold": THRESHOLD,
        "injection": injection_results(data),
        "obfuscated_injection_test_attacks": obfuscated_results(data),
        "benign_mentions": benign_mentions_results(),
        "ordinary_questions": ordinary_questions_results(data),
        "pii": pii_results(data),
        "cost": cost_results(data, args.iterations),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
