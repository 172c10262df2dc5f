"""Undo the tricks that hide an instruction from a plain text match, before anything judges it.

`variants(text)` returns every reading worth judging: the canonical text, its de-leeted and
letters-only forms, a rot13 reading, and any base64 / hex payloads decoded from it.
"""

from __future__ import annotations

import base64
import binascii
import codecs
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

# Cyrillic and Greek letters that look like Latin ones; NFKC leaves them alone.
_HOMOGLYPHS = str.maketrans(
    "аеорсухіјѕԁɡһӏոԛԝаАВЕКМНОРСТХУІЈЅԌαβεικνορτυχΑΒΕΖΗΙΚΜΝΟΡΤΥΧ",
    "aeopcyxijsdghlnqwaabekmhopctxyijsgabeiknoptuxabezhikmnoptyx",
)
_LEET = str.maketrans("0134578@$|!", "oieastbasil")
_NOT_LETTERS = re.compile(r"[\W\d_]+")
_BASE64 = re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{16,}={0,2}(?![A-Za-z0-9+/=])")
_BASE64_URL = re.compile(r"(?<![A-Za-z0-9_=-])[A-Za-z0-9_-]{16,}={0,2}(?![A-Za-z0-9_=-])")
_HEX = re.compile(
    r"(?<![0-9A-Za-z])(?:(?:\\x|0x)?[0-9a-fA-F]{2}){8,}(?![0-9A-Za-z])"
    r"|(?<![0-9A-Za-z])(?:[0-9a-fA-F]{2}[\s:,]){7,}[0-9a-fA-F]{2}(?![0-9A-Za-z])"
)
_MAX_PAYLOADS = 8


def strip_invisible(text: str) -> str:
    """Remove characters that render as nothing: safe to apply to what goes to the provider."""
    return _TAG_CHARS.sub("", text.translate(_INVISIBLE))


def canonical(text: str) -> str:
    """NFKC, invisible characters removed, homoglyphs mapped to Latin, case folded."""
    text = unicodedata.normalize("NFKC", strip_invisible(text))
    return text.casefold().translate(_HOMOGLYPHS)


def deleet(text: str) -> str:
    return text.translate(_LEET)


def letters_only(text: str) -> str:
    """'I-g n.o r e' → 'ignore': defeats spacing and punctuation inserted between letters."""
    return _NOT_LETTERS.sub("", text)


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


def decoded_payloads(text: str) -> list[str]:
    """Readable text hidden in base64 (standard or URL-safe) or hex runs of `text`."""
    found: list[str] = []
    for pattern, decode in (
        (_BASE64, base64.b64decode),
        (_BASE64_URL, base64.urlsafe_b64decode),
    ):
        for match in pattern.finditer(text):
            token = match.group()
            try:
                raw = decode(token + "=" * (-len(token) % 4))
            except (binascii.Error, ValueError):
                continue
            if (plain := _printable(raw)) and plain not in found:
                found.append(plain)
            if len(found) >= _MAX_PAYLOADS:
                return found
    for match in _HEX.finditer(text):
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
    rot13: str
    payloads: list[str] = field(default_factory=list)

    def for_patterns(self) -> list[tuple[str, str]]:
        """(name, text) pairs that the phrase heuristics run over."""
        readings = [("text", self.canonical), ("leet", self.deleeted), ("rot13", self.rot13)]
        readings += [("encoded", canonical(p)) for p in self.payloads]
        return readings


def read(text: str) -> Readings:
    text_c = canonical(text)
    deleeted = deleet(text_c)
    return Readings(
        canonical=text_c,
        deleeted=deleeted,
        squeezed=letters_only(deleeted),
        rot13=codecs.encode(text_c, "rot13"),
        payloads=decoded_payloads(strip_invisible(text)),
    )
