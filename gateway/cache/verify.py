"""Is a cached question close enough to the new one to serve its answer? Cosine alone is not.

Sentence embeddings score "What is 2+2?" vs "What is 2+3?" at 0.87 and "ibuprofen with alcohol"
vs "…with coffee" at 0.82: one changed word that changes the answer barely moves the vector.
So a candidate above the similarity threshold must also pass `verify`, which compares the two
questions word by word and rejects the pair if any of these differ:

- numbers and quantities (digits, number words, math operators next to digits);
- negation ("not", "never", "n't", "without", …);
- strict words whose any change flips the answer: units, months, weekdays, comparatives and
  antonym-prone words (more/less, before/after, buy/sell, …), and capitalised names;
- direction: the word after "to", "from", "than", "vs", … ("USD to EUR" vs "EUR to USD");
- key content words: every content word of each question needs a counterpart in the other,
  the same stem or a close word vector (synonyms and inflections pass, "France"/"Germany" not).

Tuned on the *_train paraphrase pairs only (bench/cache_quality.py reports the held-out numbers).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

# A content word of one question matches a word of the other at or above this word-vector
# cosine (wordllama: big/large 0.74, car/automobile 0.67, buy/sell 0.44, France/Germany 0.26).
WORD_MATCH = 0.6

_TOKEN = re.compile(r"\d+(?:[.,:/]\d+)*(?:st|nd|rd|th)?|[^\W\d_]+(?:'[^\W\d_]+)?|[+\-*/×÷^%=<>$€£]")
_SENTENCE_START = re.compile(r"(?:^|[.!?]\s+)([A-Z][\w'-]*)")

NEGATIONS = frozenset(
    [
        "not",
        "no",
        "never",
        "none",
        "nobody",
        "nothing",
        "nowhere",
        "neither",
        "nor",
        "without",
        "cannot",
        "cant",
        "dont",
        "doesnt",
        "didnt",
        "isnt",
        "arent",
        "wasnt",
        "werent",
        "wont",
        "wouldnt",
        "shouldnt",
        "couldnt",
        "hasnt",
        "havent",
        "hadnt",
        "non",
        "anti",
    ]
)
NUMBER_WORDS = {
    word: str(value)
    for value, word in enumerate(
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty"]
    )
} | {
    "thirty": "30", "forty": "40", "fifty": "50", "sixty": "60", "seventy": "70", "eighty": "80",
    "ninety": "90", "hundred": "100", "thousand": "1000", "million": "1000000",
    "billion": "1000000000", "first": "1st", "second": "2nd", "third": "3rd", "half": "0.5",
    "twice": "2x", "double": "2x", "triple": "3x", "once": "1x", "dozen": "12",
}  # fmt: skip
# Words whose replacement by any other word (even a near neighbour) changes the answer.
STRICT = frozenset(
    [
        "more",
        "less",
        "most",
        "least",
        "fewer",
        "greater",
        "smaller",
        "bigger",
        "larger",
        "higher",
        "lower",
        "longer",
        "shorter",
        "older",
        "younger",
        "faster",
        "slower",
        "better",
        "worse",
        "best",
        "worst",
        "before",
        "after",
        "above",
        "below",
        "over",
        "under",
        "inside",
        "outside",
        "early",
        "earlier",
        "late",
        "later",
        "first",
        "last",
        "next",
        "previous",
        "past",
        "future",
        "yesterday",
        "today",
        "tomorrow",
        "tonight",
        "now",
        "current",
        "latest",
        "recent",
        "buy",
        "sell",
        "bought",
        "sold",
        "borrow",
        "lend",
        "import",
        "export",
        "increase",
        "decrease",
        "rise",
        "fall",
        "gain",
        "lose",
        "win",
        "loss",
        "profit",
        "up",
        "down",
        "left",
        "right",
        "north",
        "south",
        "east",
        "west",
        "hot",
        "cold",
        "warm",
        "cool",
        "min",
        "max",
        "minimum",
        "maximum",
        "male",
        "female",
        "men",
        "women",
        "boy",
        "girl",
        "husband",
        "wife",
        "legal",
        "illegal",
        "safe",
        "unsafe",
        "healthy",
        "unhealthy",
        "positive",
        "negative",
        "true",
        "false",
        "start",
        "stop",
        "open",
        "close",
        "enter",
        "exit",
        "add",
        "remove",
        "subtract",
        "multiply",
        "divide",
        "plus",
        "minus",
        "times",
        "sum",
        "difference",
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
        "morning",
        "evening",
        "night",
        "noon",
        "midnight",
        "spring",
        "summer",
        "autumn",
        "winter",
        "fall",
        "century",
        "decade",
        "year",
        "years",
        "month",
        "months",
        "week",
        "weeks",
        "day",
        "days",
        "hour",
        "hours",
        "minute",
        "minutes",
        "second",
        "seconds",
        "mile",
        "miles",
        "km",
        "kilometer",
        "kilometers",
        "kilometre",
        "kilometres",
        "meter",
        "meters",
        "metre",
        "metres",
        "cm",
        "mm",
        "inch",
        "inches",
        "foot",
        "feet",
        "yard",
        "yards",
        "kg",
        "kilogram",
        "kilograms",
        "gram",
        "grams",
        "g",
        "lb",
        "lbs",
        "pound",
        "pounds",
        "ounce",
        "ounces",
        "oz",
        "ton",
        "tons",
        "tonne",
        "liter",
        "liters",
        "litre",
        "litres",
        "ml",
        "gallon",
        "gallons",
        "cup",
        "cups",
        "celsius",
        "fahrenheit",
        "kelvin",
        "degrees",
        "percent",
        "watt",
        "watts",
        "volt",
        "volts",
        "amp",
        "amps",
        "mph",
        "kph",
        "gb",
        "mb",
        "tb",
        "kb",
        "ghz",
        "mhz",
        "usd",
        "eur",
        "gbp",
        "inr",
        "jpy",
        "cny",
        "dollar",
        "dollars",
        "euro",
        "euros",
        "rupee",
        "rupees",
        "yen",
        "yuan",
        "bitcoin",
    ]
)
# A word after one of these says which way the question points; it must be the same word.
DIRECTION = frozenset(
    [
        "to",
        "from",
        "into",
        "than",
        "vs",
        "versus",
        "per",
        "between",
        "over",
        "against",
        "onto",
        "toward",
        "towards",
    ]
)
STOPWORDS = (
    frozenset(
        [
            "a",
            "an",
            "the",
            "and",
            "or",
            "but",
            "if",
            "then",
            "so",
            "of",
            "in",
            "on",
            "at",
            "by",
            "for",
            "with",
            "about",
            "as",
            "is",
            "are",
            "was",
            "were",
            "be",
            "been",
            "being",
            "am",
            "do",
            "does",
            "did",
            "doing",
            "done",
            "have",
            "has",
            "had",
            "having",
            "i",
            "me",
            "my",
            "mine",
            "we",
            "us",
            "our",
            "you",
            "your",
            "yours",
            "he",
            "him",
            "his",
            "she",
            "her",
            "hers",
            "it",
            "its",
            "they",
            "them",
            "their",
            "theirs",
            "this",
            "that",
            "these",
            "those",
            "there",
            "here",
            "what",
            "which",
            "who",
            "whom",
            "whose",
            "when",
            "where",
            "why",
            "how",
            "can",
            "could",
            "would",
            "should",
            "will",
            "shall",
            "may",
            "might",
            "must",
            "one",
            "ones",
            "someone",
            "something",
            "anyone",
            "anything",
            "some",
            "any",
            "all",
            "each",
            "every",
            "both",
            "either",
            "such",
            "very",
            "really",
            "actually",
            "just",
            "also",
            "too",
            "only",
            "even",
            "ever",
            "still",
            "much",
            "many",
            "lot",
            "lots",
            "get",
            "gets",
            "got",
            "getting",
            "make",
            "makes",
            "made",
            "way",
            "ways",
            "thing",
            "things",
            "kind",
            "kinds",
            "type",
            "types",
            "good",
            "possible",
            "please",
            "tell",
            "know",
            "like",
            "go",
            "going",
            "want",
            "wants",
            "need",
            "needs",
            "use",
            "used",
            "using",
            "s",
            "t",
            "don",
            "doesn",
            "didn",
            "isn",
            "aren",
            "wasn",
            "weren",
            "won",
            "quora",
            "someone",
            "people",
            "person",
            "anybody",
            "somebody",
            "exactly",
            "currently",
        ]
    )
    - NEGATIONS
    - STRICT
    - DIRECTION
)


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str = ""  # which check rejected the pair, for logs and the bench

    def __bool__(self) -> bool:
        return self.ok


def normalise(text: str) -> str:
    """The exact-match form of a question: NFKC, case-folded, spaces collapsed, end punctuation off."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = re.sub(r"\s+", " ", text).strip()
    return text.strip(" ?!.。？！")


@dataclass(frozen=True)
class Parsed:
    words: tuple[str, ...]  # all tokens, lower case, apostrophes dropped
    numbers: frozenset[str]
    operators: tuple[str, ...]
    negated: bool
    names: frozenset[str]  # capitalised words not at a sentence start
    strict: frozenset[str]
    directed: tuple[str, ...]  # the token after each direction word, in order
    content: frozenset[str]


def _stem(word: str) -> str:
    for suffix in ("ing", "edly", "ed", "ies", "es", "s", "ly"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


@lru_cache(maxsize=4096)
def parse(text: str) -> Parsed:
    raw = unicodedata.normalize("NFKC", text)
    tokens = _TOKEN.findall(raw)
    words = tuple(t.casefold().replace("'", "") for t in tokens)
    starts = {m.group(1) for m in _SENTENCE_START.finditer(raw)}
    names = frozenset(
        t.casefold()
        for i, t in enumerate(tokens)
        if t[:1].isupper()
        and t not in starts
        and i > 0
        and t.casefold() not in STOPWORDS
        and t != "I"
        and t.casefold() not in NEGATIONS
    )
    numbers = frozenset(
        NUMBER_WORDS.get(w, w.replace(",", ""))
        for w in words
        if w[:1].isdigit() or w in NUMBER_WORDS
    )
    operators = tuple(
        w for i, w in enumerate(words)
        if not w[:1].isalnum() and any(n[:1].isdigit() for n in words[max(0, i - 1) : i + 2])
    )  # fmt: skip
    negated = any(w in NEGATIONS or (w.endswith("nt") and w[:-2] + "n't" in raw.casefold())
                  for w in words)  # fmt: skip
    content_words = [
        w for w in words
        if w[:1].isalpha() and w not in STOPWORDS and w not in NEGATIONS and w not in NUMBER_WORDS
        and w not in DIRECTION
    ]  # fmt: skip
    directed = tuple(
        _stem(nxt)
        for i, w in enumerate(words[:-1])
        if w in DIRECTION
        for nxt in [next((x for x in words[i + 1 :] if x not in STOPWORDS), "")]
    )
    return Parsed(
        words=words,
        numbers=numbers,
        operators=operators,
        negated=negated,
        names=frozenset(_stem(n) for n in names),
        strict=frozenset(_stem(w) for w in content_words if w in STRICT),
        directed=directed,
        content=frozenset(_stem(w) for w in content_words if w not in STRICT),
    )


WordVectors = Callable[[list[str]], np.ndarray]


def _unmatched(mine: frozenset[str], theirs: frozenset[str], vectors: WordVectors) -> list[str]:
    """Content words of `mine` with neither the same stem nor a close word in `theirs`."""
    missing = sorted(mine - theirs)
    if not missing:
        return []
    if not theirs:
        return missing
    other = sorted(theirs)
    similarity = vectors(missing) @ vectors(other).T
    return [w for w, best in zip(missing, similarity.max(axis=1), strict=True) if best < WORD_MATCH]


def verify(question: str, cached: str, vectors: WordVectors) -> Verdict:
    """Whether `cached`'s answer may be served for `question`. `vectors` embeds single words."""
    a, b = parse(question), parse(cached)
    if a.numbers != b.numbers or a.operators != b.operators:
        return Verdict(False, "number")
    if a.negated != b.negated:
        return Verdict(False, "negation")
    if a.strict != b.strict:
        return Verdict(False, "strict_word")
    if a.names - b.content - b.names or b.names - a.content - a.names:
        return Verdict(False, "name")
    if a.directed and b.directed and a.directed != b.directed:
        return Verdict(False, "direction")
    if _unmatched(a.content, b.content | b.names, vectors) or _unmatched(
        b.content, a.content | a.names, vectors
    ):
        return Verdict(False, "content_word")
    return Verdict(True)
