"""Undo the tricks that hide an instruction from a plain text match, before anything judges it.

`variants(text)` returns every reading worth judging: the canonical text, its de-leeted and
letters-only forms, a rot13 reading, and any base64 / hex payloads decoded from it.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from dataclasses import dataclass, field

# Zero-width, soft hyphen, word joiners, BOM, bidi embeddings/overrides/isolates and the
# Unicode tag block (used to smuggle invisible ASCII): none of them change what a reader sees.
_INVISIBLE = dict.fromkeys(
    [
        0x00AD,
        0x034F,
        0x061C,
        0x180E,
        *range(0x200B, 0x2010),
        *range(0x202A, 0x202F),
        *range(0x2060, 0x2070),
        0xFEFF,
    ]
)
_TAG_CHARS = re.compile("[\U000e0000-\U000e007f]")
# The same characters as one class: a search tells in one C pass whether there is work to do.
_ANY_INVISIBLE = re.compile("[" + "".join(map(chr, _INVISIBLE)) + "\U000e0000-\U000e007f]")

# Cyrillic and Greek letters that look like Latin ones; NFKC leaves them alone.
_HOMOGLYPHS = str.maketrans(
    "аеорсухіјѕԁɡһӏոԛԝаАВЕКМНОРСТХУІЈЅԌαβεικνορτυχΑΒΕΖΗΙΚΜΝΟΡΤΥΧ",
    "aeopcyxijsdghlnqwaabekmhopctxyijsgabeiknoptuxabezhikmnoptyx",
)
_ANY_HOMOGLYPH = re.compile("[" + "".join(sorted({chr(c) for c in _HOMOGLYPHS})) + "]")
_LEET = str.maketrans("0134578@$|!", "oieastbasil")
_NOT_LETTERS = re.compile(r"[\W\d_]+")
# Standard and URL-safe alphabets in one pass; URL-safe runs are mapped back before decoding.
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")
_URLSAFE = str.maketrans("-_", "+/")
_HEX = re.compile(
    r"(?<![0-9A-Za-z])(?:(?:\\x|0x)?[0-9a-fA-F]{2}){8,}(?![0-9A-Za-z])"
    r"|(?<![0-9A-Za-z])(?:[0-9a-fA-F]{2}[\s:,]){7,}[0-9a-fA-F]{2}(?![0-9A-Za-z])"
)
_SPACED_HEX = re.compile(r"[0-9a-fA-F]{2}(?:[\s:,]+[0-9a-fA-F]{2}){3}[\s:,]")
_MAX_PAYLOADS = 8
_ROT13 = str.maketrans(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "nopqrstuvwxyzabcdefghijklmNOPQRSTUVWXYZABCDEFGHIJKLM",
)
# A digit or symbol between letters ("1gn0re", "pr3v10us"): worth reading as leetspeak.
_LEETISH = re.compile(r"[a-z][0134578@$|!]+[a-z]")
# rot13 spellings of words that injections cannot do without: the rot13 reading is made only
# when the text contains one of them (translating every message would cost more than it finds).
_ROT13_HINTS = tuple(
    word.translate(_ROT13)
    for word in ("ignor", "disregard", "forget", "instruct", "prompt", "system", "reveal", "rules")
)


def strip_invisible(text: str) -> str:
    """Remove characters that render as nothing: safe to apply to what goes to the provider."""
    if text.isascii() or not _ANY_INVISIBLE.search(text):  # all of them are outside ASCII
        return text
    return _TAG_CHARS.sub("", text.translate(_INVISIBLE))


def canonical(text: str) -> str:
    """NFKC, invisible characters removed, homoglyphs mapped to Latin, case folded."""
    if text.isascii():  # nothing to fold but case
        return text.lower()
    text = strip_invisible(text)
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    text = text.casefold()
    return text.translate(_HOMOGLYPHS) if _ANY_HOMOGLYPH.search(text) else text


def deleet(text: str) -> str:
    return text.translate(_LEET)


# Every ASCII byte that is not a letter: bytes.translate deletes them in one C pass (UTF-8 keeps
# non-ASCII characters in bytes ≥ 0x80, so it is safe on any text).
_ASCII_NON_LETTERS = bytes(i for i in range(128) if not chr(i).isalpha())


def letters_only(text: str) -> str:
    """'I-g n.o r e' → 'ignore': defeats spacing and punctuation inserted between letters."""
    squeezed = text.encode().translate(None, _ASCII_NON_LETTERS).decode()
    return squeezed if squeezed.isascii() else _NOT_LETTERS.sub("", squeezed)


def _printable(raw: bytes) -> str | None:
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    visible = sum(ch.isprintable() or ch.isspace() for ch in decoded)
    letters = sum(ch.isalpha() for ch in decoded)
    if len(decoded) >= 6 and visible / len(decoded) > 0.95 and letters / len(decoded) > 0.5:
        return decoded
    return None


def _decoded(raw_token: str) -> str | None:
    token = raw_token.translate(_URLSAFE)
    if token.isalpha() or token.isdigit():
        return None  # a long word or number, not an encoding
    try:
        return _printable(base64.b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError):
        return None


def decoded_payloads(text: str) -> list[str]:
    """Readable text hidden in base64 (standard or URL-safe) or hex runs of `text`."""
    found: list[str] = []
    # Only whitespace-separated tokens of 16+ characters can hold a payload: checking those
    # few beats running a pattern over every position of a long message.
    tokens = text.split()
    lengths = list(map(len, tokens))
    long_tokens = [t.strip("\"'()[]{}<>.,;:!?") for t in tokens if len(t) >= 16]
    for token in long_tokens:
        for match in _BASE64.finditer(token):
            if (plain := _decoded(match.group())) and plain not in found:
                found.append(plain)
    # Spaced-out hex ("69 67 6e ...") is a run of hex pairs; otherwise long tokens only. The
    # full pattern over a whole message costs several times the quick test for such a run.
    spaced = lengths.count(2) >= 8 and _SPACED_HEX.search(text) is not None
    hex_text = text if spaced else " ".join(long_tokens)
    for match in _HEX.finditer(hex_text):
        digits = re.sub(r"\\x|0x|[\s:,]", "", match.group())
        try:
            raw = bytes.fromhex(digits[: len(digits) // 2 * 2])
        except ValueError:
            continue
        if (plain := _printable(raw)) and plain not in found:
            found.append(plain)
    return found[:_MAX_PAYLOADS]


@dataclass(frozen=True)
class Readings:
    """The text as a careful reader would see it, in every form an attacker might have used."""

    canonical: str
    deleeted: str
    squeezed: str  # letters only, of the de-leeted text
    rot13: str  # "" unless rot13-encoded injection words appear in the text
    payloads: list[str] = field(default_factory=list)

    @property
    def leetish(self) -> bool:
        """The text has enough leetspeak to be read (and classified) de-leeted as well."""
        return self.deleeted != self.canonical

    def for_patterns(self) -> list[tuple[str, str]]:
        """(name, text) pairs that the phrase heuristics run over: only readings that differ."""
        readings = [("text", self.canonical)]
        if self.rot13:
            readings.append(("rot13", self.rot13))
        if self.leetish:
            readings.append(("leet", self.deleeted))
        readings += [("encoded", canonical(p)) for p in self.payloads]
        return readings


def read(text: str) -> Readings:
    text_c = canonical(text)
    # De-leeted only where leetspeak is plausible: digits in words are common ("3rd", "mp3").
    deleeted = deleet(text_c) if len(_LEETISH.findall(text_c)) >= 2 else text_c
    return Readings(
        canonical=text_c,
        deleeted=deleeted,
        squeezed=letters_only(deleeted),
        rot13=text_c.translate(_ROT13) if any(h in text_c for h in _ROT13_HINTS) else "",
        payloads=decoded_payloads(text if text.isascii() else strip_invisible(text)),
    )
