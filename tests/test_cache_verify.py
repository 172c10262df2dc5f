"""Verification of cache candidates, with plain values: no database, the real local embedder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.cache.verify import normalise, verify
from gateway.cache.wordvec import word_vectors
from gateway.embeddings import WordLlamaEmbedder

HARD_PAIRS = [
    json.loads(line)
    for line in (Path(__file__).parent.parent / "bench" / "data" / "hard_pairs.jsonl").open()
]


def _verdict(asked: str, cached: str):
    a, b = WordLlamaEmbedder().embed([asked, cached])
    return verify(asked, cached, word_vectors, float(a @ b))


@pytest.mark.parametrize(
    ("asked", "cached", "reason"),
    [
        ("What is 2+3?", "What is 2+2?", "number"),
        ("What is 2-2?", "What is 2+2?", "number"),
        ("Is it safe to take ibuprofen with coffee?", "Is it safe to take ibuprofen with alcohol?",
         "pair_score"),
        ("What is the capital of Germany?", "What is the capital of France?", "name"),
        ("Why don't cats like water?", "Why do cats like water?", "negation"),
        ("Convert 5 km to miles", "Convert 5 miles to km", "direction"),
        ("How many kilometers is a marathon?", "How many miles is a marathon?", "strict_word"),
    ],
)  # fmt: skip
def test_a_changed_number_name_negation_unit_or_direction_is_rejected(asked, cached, reason):
    verdict = _verdict(asked, cached)

    assert not verdict and verdict.reason == reason


@pytest.mark.parametrize(
    "pair", [p for p in HARD_PAIRS if p["label"] == 0], ids=lambda p: f"{p['kind']}:{p['b']}"
)
def test_no_hard_negative_pair_is_served(pair):
    assert not _verdict(pair["b"], pair["a"])


@pytest.mark.parametrize(
    ("asked", "cached"),
    [
        ("How can I reset my password?", "How do I reset my password?"),
        ("How many calories does an apple have?", "How many calories are in an apple?"),
        ("What's machine learning?", "What is machine learning?"),
        ("What's the capital of France?", "What is the capital of France?"),
        ("how do i reset my password", "How do I reset my password?"),
    ],
)
def test_a_rewording_is_accepted(asked, cached):
    assert _verdict(asked, cached)


def test_a_bare_word_difference_still_goes_through_the_rules():
    # Fillers are ignored only after the hard checks: an article never hides a changed number.
    same = _verdict("What's the capital of France?", "What is the capital of France?")
    assert same.reason == "same_words"
    assert not _verdict("What is the 2nd planet?", "What is the 3rd planet?")


def test_normalising_ignores_case_spacing_and_end_punctuation():
    assert normalise("  How do I  RESET my password?? ") == "how do i reset my password"
