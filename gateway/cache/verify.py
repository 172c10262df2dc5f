"""Is a cached question close enough to the new one to serve its answer? Cosine alone is not.

Sentence embeddings score "What is 2+2?" vs "What is 2+3?" at 0.87 and "ibuprofen with alcohol"
vs "…with coffee" at 0.82: one changed word that changes the answer barely moves the vector.
So a candidate above the similarity threshold must also pass `verify`, which compares the two
questions word by word. It rejects outright a pair whose

- numbers or quantities differ (digits, number words, math operators next to digits),
- negation differs ("not", "never", "n't", "without", …),
- strict words differ: units, months, weekdays, comparatives and antonym-prone words
  (more/less, before/after, buy/sell, …), whose any replacement changes the answer,
- direction differs: the word after "to", "from", "than", "vs", … ("USD to EUR" / "EUR to USD"),
- names differ: a capitalised word of one question found nowhere in the other,
- the same content words come in another order ("dogs chase cats" / "cats chase dogs");

and otherwise asks the pair classifier (gateway/cache/classifier.py): a small network over how
well the content words line up — each content word of one question needs the same stem or a
close word vector in the other ("France"/"Germany" do not match, "quickly"/"fast" do) — lexical
overlap, and which directions of the two sentence vectors differ; trained on the *_train
paraphrase pairs by `manage.py train_cache_verifier`. bench/cache_quality.py reports the
held-out numbers.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# A content word of one question matches a word of the other at or above this word-vector
# cosine (wordllama: big/large 0.74, car/automobile 0.67, buy/sell 0.44, France/Germany 0.26).
WORD_MATCH = 0.6

_OPERATORS = "+\\-*/\u00d7\u00f7^%=<>$\u20ac\u00a3"  # + - * / times divide ^ % = < > $ euro pound
_TOKEN = re.compile(
    rf"\d+(?:[.,:/]\d+)*(?:st|nd|rd|th)?|[^\W\d_]+(?:['\u2019][^\W\d_]+)?|[{_OPERATORS}]"
)
_SENTENCE_START = re.compile(r"(?:^|[.!?]\s+)([A-Z][\w'-]*)")
_END_PUNCTUATION = " ?!.\u3002\uff1f\uff01"  # also the ideographic full stop and full-width ?/!

NEGATIONS = _words(
    "not no never none nobody nothing nowhere neither nor without cannot cant dont doesnt didnt "
    "isnt arent wasnt werent wont wouldnt shouldnt couldnt hasnt havent hadnt"
)
_SMALL_NUMBERS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty"
)
NUMBER_WORDS = {
    word: str(value)
    for value, word in enumerate(
        _SMALL_NUMBERS.split()
    )
} | {
    "thirty": "30", "forty": "40", "fifty": "50", "sixty": "60", "seventy": "70", "eighty": "80",
    "ninety": "90", "hundred": "100", "thousand": "1000", "million": "1000000",
    "billion": "1000000000", "first": "1st", "second": "2nd", "third": "3rd", "half": "0.5",
    "twice": "2x", "double": "2x", "triple": "3x", "dozen": "12",
}  # fmt: skip
STRICT = _words(
    """
    more less most least fewer greater smaller bigger larger higher lower longer shorter older
    younger faster slower before after above below inside outside earlier later previous past
    future yesterday today tomorrow tonight buy sell bought sold borrow lend import export
    increase decrease gain lose win loss profit north south east west hot cold warm min max
    minimum maximum male female men women boy girl husband wife legal illegal safe unsafe
    healthy unhealthy positive negative true false add remove subtract multiply divide plus minus
    january february march april june july august september october november december
    monday tuesday wednesday thursday friday saturday sunday morning evening night noon
    midnight spring summer autumn winter century decade
    mile miles km kilometer kilometers kilometre kilometres meter meters metre metres cm mm
    inch inches foot feet yard yards kg kilogram kilograms gram grams lb lbs pound pounds ounce
    ounces oz ton tons tonne liter liters litre litres ml gallon gallons celsius fahrenheit kelvin
    percent watt watts volt volts mph kph gb mb tb ghz mhz usd eur gbp inr jpy cny dollar
    dollars euro euros rupee rupees yen yuan bitcoin
    """
)
# A word after one of these says which way the question points; it must be the same word.
DIRECTION = _words("to from into than vs versus between against onto toward towards")
STOPWORDS = (
    _words(
        """
        a an the and or but if then so of in on at by for with about as is are was were be been
        being am do does did doing done have has had having i me my mine we us our you your yours
        he him his she her hers it its they them their theirs this that these those there here
        what which who whom whose when where why how can could would should will shall may might
        must one ones someone something anyone anything some any all each every both either such
        very really actually just also too only even ever still much many lot lots get gets got
        getting make makes made way ways thing things kind kinds type types good possible please
        tell know like go going want wants need needs use used using s t don doesn didn isn aren
        wasn weren won quora people person anybody somebody exactly currently best better
        """
    )
    - NEGATIONS
    - STRICT
    - DIRECTION
)
_QUESTION_WORDS = ("what", "which", "who", "whom", "whose", "when", "where", "why", "how")


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str = ""  # which check rejected the pair, for logs and the bench
    score: float = 1.0

    def __bool__(self) -> bool:
        return self.ok


def normalise(text: str) -> str:
    """The exact-match form of a question: NFKC, case-folded, one space, no end punctuation."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return re.sub(r"\s+", " ", text).strip().strip(_END_PUNCTUATION)


@dataclass(frozen=True)
class Parsed:
    numbers: frozenset[str]
    operators: tuple[str, ...]
    negated: bool
    names: frozenset[str]  # capitalised words not at a sentence start
    strict: frozenset[str]
    directed: tuple[str, ...]  # the word after each direction word, in order
    content: frozenset[str]
    order: tuple[str, ...]  # content and strict words as they come
    question_word: str


def _stem(word: str) -> str:
    for suffix in ("ing", "edly", "ed", "ies", "es", "s", "ly"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def _word(token: str) -> str:
    """Lower case; "don't" → "dont" (a negation), "what's" → "what", "Paris's" → "paris"."""
    word = token.casefold().replace("\u2019", "'")
    if word.endswith("n't"):
        return word.replace("'", "")
    return word.split("'", 1)[0]


@lru_cache(maxsize=4096)
def parse(text: str) -> Parsed:
    raw = unicodedata.normalize("NFKC", text)
    tokens = _TOKEN.findall(raw)
    words = [_word(t) for t in tokens]
    starts = {m.group(1) for m in _SENTENCE_START.finditer(raw)}
    names = {
        _stem(w)
        for t, w in zip(tokens[1:], words[1:], strict=True)
        if t[:1].isupper() and t not in starts and t != "I" and w not in STOPWORDS
        and w not in NEGATIONS and w not in STRICT
    }  # fmt: skip
    numbers = {NUMBER_WORDS.get(w, w.replace(",", "")) for w in words if w[:1].isdigit()}
    numbers |= {NUMBER_WORDS[w] for w in words if w in NUMBER_WORDS}
    operators = tuple(
        w
        for i, w in enumerate(words)
        if not w[:1].isalnum() and any(n[:1].isdigit() for n in words[max(0, i - 1) : i + 2])
    )
    content = [
        w
        for w in words
        if w[:1].isalpha()
        and w not in STOPWORDS
        and w not in NEGATIONS
        and w not in NUMBER_WORDS
        and w not in DIRECTION
    ]
    directed = tuple(
        _stem(next((x for x in words[i + 1 :] if x not in STOPWORDS), ""))
        for i, w in enumerate(words[:-1])
        if w in DIRECTION
    )
    return Parsed(
        numbers=frozenset(numbers),
        operators=operators,
        negated=any(w in NEGATIONS for w in words),
        names=frozenset(names),
        strict=frozenset(_stem(w) for w in content if w in STRICT),
        directed=directed,
        content=frozenset(_stem(w) for w in content if w not in STRICT),
        order=tuple(_stem(w) for w in content),
        question_word=next((w for w in words if w in _QUESTION_WORDS), ""),
    )


WordVectors = Callable[[list[str]], np.ndarray]


def _best_matches(mine: frozenset[str], theirs: frozenset[str], vectors: WordVectors) -> list:
    """For each content word of `mine` missing from `theirs`, its closest word-vector cosine."""
    missing = sorted(mine - theirs)
    if not missing:
        return []
    if not theirs:
        return [0.0] * len(missing)
    similarity = vectors(missing) @ vectors(sorted(theirs)).T
    return [float(best) for best in similarity.max(axis=1)]


def hard_mismatch(a: Parsed, b: Parsed) -> str:
    """The first hard difference between two questions, or ""."""
    if a.numbers != b.numbers or a.operators != b.operators:
        return "number"
    if a.negated != b.negated:
        return "negation"
    if a.strict != b.strict:
        return "strict_word"
    if a.directed and b.directed and a.directed != b.directed:
        return "direction"
    if a.names - b.content - b.names or b.names - a.content - a.names:
        return "name"
    if sorted(a.order) == sorted(b.order) and a.order != b.order:
        return "order"  # the same words swapped: "% of terrorists are Muslim" / "of Muslims …"
    return ""


def features(a: Parsed, b: Parsed, similarity: float, vectors: WordVectors) -> list[float]:
    """What the scorer sees of a pair (same order as `WEIGHTS`)."""
    near = _best_matches(a.content, b.content | b.names, vectors) + _best_matches(
        b.content, a.content | a.names, vectors
    )
    unmatched = sum(1 for s in near if s < WORD_MATCH)
    total = len(a.content) + len(b.content) or 1
    shared = len(a.content & b.content)
    return [
        similarity,
        unmatched,
        unmatched / total,
        min(near, default=1.0),
        shared / (len(a.content | b.content) or 1),
        float(a.question_word != b.question_word),
        abs(len(a.content) - len(b.content)),
    ]


# Words whose presence never changes what a question asks ("What's" is "What is").
_FILLER = frozenset({"a", "an", "the", "is", "are", "please"})


def _plain_words(text: str) -> tuple[str, ...]:
    """Every word in order but fillers: the same for questions that differ only in case,
    punctuation, contractions or articles, which the pair classifier needn't judge."""
    words = (_word(token) for token in _TOKEN.findall(unicodedata.normalize("NFKC", text)))
    return tuple(w for w in words if w[:1].isalnum() and w not in _FILLER)


def verify(question: str, cached: str, vectors: WordVectors, similarity: float) -> Verdict:
    """Whether `cached`'s answer may be served for `question` (their sentence cosine given).

    The rules reject first; a pair they pass is scored by the pair classifier (trained by
    `manage.py train_cache_verifier`), whose threshold was set for a false-hit rate under 1 %.
    `vectors` embeds single words (gateway.cache.wordvec.word_vectors).
    """
    # Imported here: the classifier's features are built from this module's rules.
    from gateway.cache.classifier import pair_classifier
    from gateway.cache.pairs import pair_vector

    mine, theirs = parse(question), parse(cached)
    if reason := hard_mismatch(mine, theirs):
        return Verdict(False, reason, 0.0)
    if _plain_words(question) == _plain_words(cached):
        return Verdict(True, "same_words", 1.0)
    classifier = pair_classifier()
    value = classifier.probability(pair_vector(question, cached, vectors))
    ok = value >= classifier.threshold
    return Verdict(ok, "" if ok else "pair_score", value)
