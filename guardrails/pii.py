"""Structured PII and secrets: found with validation (checksums, number plans), then redacted.

Each finding is checked the way its issuer checks it, so a random 16-digit number or a
mistyped IBAN is not called PII: cards by Luhn, IBANs by ISO 7064 mod 97, US SSNs by the
assignable ranges, phone numbers by libphonenumber's numbering plans, IPs by `ipaddress`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import phonenumbers

# Regions a number written without a country code is tried against. A bare digit run ("224
# 4966 Bond Street") is tried only against the first two: regions with short, variable-length
# numbers would call house numbers phone numbers. Numbers written as phone numbers are (three
# groups or more, or a leading 0 or "(") are tried against all; "+<code>" numbers against their own.
PHONE_REGIONS = ("US", "GB", "DE", "FR", "IN", "AU")
_PHONE_SHAPED = re.compile(r"^[0(]|\d[\s.-]+\d+[\s.-]+\d")


@dataclass(frozen=True)
class Finding:
    type: str
    start: int
    end: int
    value: str


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_valid(iban: str) -> bool:
    iban = re.sub(r"\s", "", iban).upper()
    if not 15 <= len(iban) <= 34:
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def ssn_valid(area: str, group: str, serial: str) -> bool:
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def _card(match: re.Match) -> bool:
    digits = re.sub(r"\D", "", match.group())
    return 12 <= len(digits) <= 19 and luhn_valid(digits)


def _ssn(match: re.Match) -> bool:
    return ssn_valid(match["area"], match["group"], match["serial"])


def _iban(match: re.Match) -> bool:
    return iban_valid(match.group())


def _ip(match: re.Match) -> bool:
    try:
        ipaddress.ip_address(match.group())
    except ValueError:
        return False
    return True


# Shapes that parse as phone numbers somewhere but are dates, times or SSN-formatted.
_NOT_PHONE = re.compile(
    r"\d{4}[-./]\d{1,2}[-./]\d{1,2}\b.*|\d{1,2}[-./]\d{1,2}[-./]\d{2,4}|\d{3}[- ]\d{2}[- ]\d{4}",
    re.DOTALL,
)


def _parsed(candidate: str, regions: tuple[str | None, ...]) -> list[phonenumbers.PhoneNumber]:
    numbers = []
    for region in regions:
        try:
            numbers.append(phonenumbers.parse(candidate, region))
        except phonenumbers.NumberParseException:
            continue
    return numbers


# Words that say the number next to them is a phone number ("Phone: 467 3395", "… -Fax").
_PHONE_CONTEXT = re.compile(
    r"(?i)\b(?:phone|tel|telephone|mobile|cell|fax|call(?:ed|ing)?|ring|text|sms|whatsapp|"
    r"contact|reach|dial|desk|office|home|work|answering|message|voicemail|hotline)\b"
)
_CONTEXT_BEFORE, _CONTEXT_AFTER = 40, 12
# Labels of other numbers that plans happen to allow as phone numbers ("order 2024 5561 8890").
_OTHER_NUMBER = re.compile(
    r"(?i)\b(?:order|invoice|inv|ticket|tracking|serial|sn|reference|ref|part|case|account|lot|"
    r"isbn|sku|model|version|build|id)\b"
)
_OTHER_BEFORE = 30
# Written the way only phone numbers are: international "+", an extension, or "(area)".
_PHONE_NOTATION = re.compile(r"^[+(]|\d\s?(?:x|ext\.?)\s?\d+$", re.IGNORECASE)


def _phone_context(match: re.Match) -> bool:
    text, (start, end) = match.string, match.span()
    return bool(
        _PHONE_CONTEXT.search(text, max(0, start - _CONTEXT_BEFORE), start)
        or _PHONE_CONTEXT.search(text, end, end + _CONTEXT_AFTER)
    )


def _labelled_otherwise(match: re.Match) -> bool:
    start = match.start()
    return bool(_OTHER_NUMBER.search(match.string, max(0, start - _OTHER_BEFORE), start))


def _phone(match: re.Match) -> bool:
    """Valid by a numbering plan, or possible (right length) and written or labelled as a phone.

    Validation alone misses real-looking numbers in ranges a plan has not assigned (fictional
    ranges, invented test data, new allocations) that a user still wants kept private; length
    alone would call every long number a phone. A possible number counts when its notation or
    a word near it says it is one; a local number (no "+", no trunk 0) must not start with 1,
    as local subscriber numbers never do ("ring 123-4567" is a placeholder, not a number).
    A number labelled as something else (order, invoice, serial…) is not one unless it has "+".
    """
    candidate = match.group()
    if sum(ch.isdigit() for ch in candidate) < 7 or _NOT_PHONE.fullmatch(candidate):
        return False
    if candidate[0] != "+" and _labelled_otherwise(match):
        return False
    if candidate.startswith("+"):
        regions = (None,)
    else:
        regions = PHONE_REGIONS if _PHONE_SHAPED.search(candidate) else PHONE_REGIONS[:2]
    numbers = _parsed(candidate, regions)
    if any(phonenumbers.is_valid_number(number) for number in numbers):
        return True
    if not any(phonenumbers.is_possible_number(number) for number in numbers):
        return False
    if _PHONE_NOTATION.search(candidate):
        return True
    return candidate[0] in "023456789" and _phone_context(match)


def _always(match: re.Match) -> bool:
    return True


@dataclass(frozen=True)
class Detector:
    type: str
    pattern: re.Pattern
    valid: Callable[[re.Match], bool] = _always
    # Substrings one of which every match contains ("" = a digit): a cheap `in` test first.
    needs: tuple[str, ...] = ("",)
    # Also try the tail of a failing match, group by group: a phone number written right after
    # a postcode or house number ("61487 416 60 039") is read as one run of digit groups.
    shrink: bool = False
    # A cheap pattern every match contains, and how far before it a match can start: the full
    # pattern then runs from there only (and not at all without a hit).
    anchor: re.Pattern | None = None
    lead: int = 0

    def applies(self, text: str, has_digit: bool) -> bool:
        return any((t in text) if t else has_digit for t in self.needs)

    def finditer(self, text: str) -> Iterator[re.Match]:
        start = 0
        if self.anchor is not None:
            if (hit := self.anchor.search(text)) is None:
                return iter(())
            start = max(0, hit.start() - self.lead)
        return self.pattern.finditer(text, start)

    def candidates(self, match: re.Match) -> Iterator[re.Match]:
        yield match
        # Not after "+" or "(": the start of such a number is its country or area code.
        if self.shrink and match.group()[0] not in "+(":
            for gap in _GROUP_GAP.finditer(match.group()):
                tail = self.pattern.match(match.string, match.start() + gap.end(), match.end())
                if tail:
                    yield tail


_GROUP_GAP = re.compile(r"[\s.-]+")


# Order matters: an earlier finding claims its characters (a card is not also a phone number).
# Patterns begin with a literal or a character class, lookbehinds after it: the regex engine then
# skips ahead to candidate characters instead of trying every position of a long message.
DETECTORS: tuple[Detector, ...] = (
    Detector(
        "PRIVATE_KEY",
        re.compile(
            r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----[\s\S]*?(?:-----END (?:[A-Z]+ )*PRIVATE KEY-----|\Z)"
        ),
        needs=("PRIVATE KEY-----",),
    ),
    Detector(
        "AWS_ACCESS_KEY",
        re.compile(r"(?:AKIA|ASIA|ABIA|ACCA)(?<!\w[A-Z]{4})[0-9A-Z]{16}\b"),
        needs=("AKIA", "ASIA", "ABIA", "ACCA"),
    ),
    Detector(
        "AWS_SECRET_KEY",
        re.compile(r"(?i)(?<=aws_secret_access_key)\s*[=:]\s*[\"']?[A-Za-z0-9/+]{40}\b"),
        needs=("ws_secret_access_key", "WS_SECRET_ACCESS_KEY"),
    ),
    Detector(
        "API_TOKEN",
        re.compile(
            r"\bsk-(?:proj-|ant-(?:api\d\d-)?|svcacct-)?[A-Za-z0-9_-]{20,}"
            r"|\b(?:sk|rk)_live_[0-9A-Za-z]{20,}\b"
            r"|\bAIza[0-9A-Za-z_-]{35}\b"
            r"|\bxox[abprs]-[0-9A-Za-z-]{10,}\b"
        ),
        needs=("sk-", "sk_live_", "rk_live_", "AIza", "xox"),
    ),
    Detector(
        "GITHUB_TOKEN",
        re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b|\bgithub_pat_[A-Za-z0-9_]{22,}\b"),
        needs=("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    ),
    Detector(
        "EMAIL",
        re.compile(
            r"\b[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}\b"
        ),
        needs=("@",),
        anchor=re.compile("@"),
        lead=65,
    ),
    Detector(
        "IBAN",
        re.compile(r"(?i)\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b"),
        _iban,
        anchor=re.compile(r"\d\d(?<=[A-Za-z]{2}\d\d)"),
        lead=2,
    ),
    Detector("CREDIT_CARD", re.compile(r"\d(?<![\d.+-]\d)(?:[ -]?\d){11,18}(?!\d|[.-]\d)"), _card),
    Detector(
        "US_SSN",
        re.compile(
            r"(?P<area>\d(?<![\d-]\d)\d\d)(?P<sep>[- ])(?P<group>\d{2})(?P=sep)(?P<serial>\d{4})(?![\d-])"
        ),
        _ssn,
    ),
    Detector(
        "IP_ADDRESS",
        re.compile(r"\d(?<![\d.]\d)\d{0,2}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?!\d|\.\d)"),
        _ip,
        needs=(".",),
    ),
    # IPv6: any run of hex digits and colons with two colons or more, then `ipaddress` decides.
    Detector(
        "IP_ADDRESS",
        re.compile(
            r"[0-9A-Fa-f:](?<![\w:][0-9A-Fa-f:])(?:(?<=:)|[0-9A-Fa-f]{0,3}:)"
            r"[0-9A-Fa-f:]*:[0-9A-Fa-f:]*(?![\w:])"
        ),
        _ip,
        needs=(":",),
    ),
    Detector(
        "PHONE",
        re.compile(
            r"[+(\d](?<![\w+][+(\d])(?:(?<=\+)\d{1,3}[\s.-]?(?:\(\d{1,5}\)[\s.-]?)?\d{2,5}"
            r"|(?<=\()\d{1,5}\)[\s.-]?\d{2,5}|(?<=\d)\d{1,4})(?:[\s.-]?\d{2,5}){1,4}"
            r"(?:\s?(?:x|ext\.?)\s?\d{1,6})?(?![\w])"
        ),
        _phone,
        shrink=True,
    ),
)
SECRET_TYPES = frozenset(
    {"PRIVATE_KEY", "AWS_ACCESS_KEY", "AWS_SECRET_KEY", "API_TOKEN", "GITHUB_TOKEN"}
)
# Cheap test that lets texts without any digit or @ or key prefix skip most detectors.
_DIGIT = re.compile(r"\d")
_MAYBE = re.compile(r"\d|@|-----BEGIN|\b(?:sk|rk|gh[pousr]|github_pat|xox[abprs]|AIza)[-_]")


def find_pii(text: str, *, types: frozenset[str] | None = None) -> list[Finding]:
    """Every validated finding, earliest first, non-overlapping."""
    if not _MAYBE.search(text):
        return []
    has_digit = _DIGIT.search(text) is not None
    findings: list[Finding] = []
    claimed: list[tuple[int, int]] = []
    for detector in DETECTORS:
        if types is not None and detector.type not in types:
            continue
        if not detector.applies(text, has_digit):
            continue
        for found in detector.finditer(text):
            for match in detector.candidates(found):
                start, end = match.span()
                if any(start < e and s < end for s, e in claimed) or not detector.valid(match):
                    continue
                claimed.append((start, end))
                findings.append(Finding(detector.type, start, end, match.group()))
                break
    return sorted(findings, key=lambda f: f.start)


@dataclass
class Redactor:
    """Replaces PII with stable placeholders ([EMAIL_1]) across all the texts of one request.

    `restorations` maps each placeholder back to the value, so a reply that mentions the
    placeholder can be shown to the same user with their own value put back.
    """

    restorations: dict[str, str] = field(default_factory=dict)
    _by_value: dict[tuple[str, str], str] = field(default_factory=dict)
    _counts: dict[str, int] = field(default_factory=dict)

    def redact(self, text: str) -> tuple[str, list[Finding]]:
        findings = find_pii(text)
        if not findings:
            return text, []
        parts, last = [], 0
        for finding in findings:
            parts += [text[last : finding.start], self._placeholder(finding)]
            last = finding.end
        parts.append(text[last:])
        return "".join(parts), findings

    def _placeholder(self, finding: Finding) -> str:
        key = (finding.type, finding.value)
        if key not in self._by_value:
            self._counts[finding.type] = self._counts.get(finding.type, 0) + 1
            placeholder = f"[{finding.type}_{self._counts[finding.type]}]"
            self._by_value[key] = placeholder
            self.restorations[placeholder] = finding.value
        return self._by_value[key]

    def restore(self, text: str) -> str:
        for placeholder, value in self.restorations.items():
            text = text.replace(placeholder, value)
        return text


def redact_pii(text: str) -> tuple[str, list[Finding]]:
    """The text with each PII value replaced by a typed placeholder, and what was found."""
    return Redactor().redact(text)


def mask_pii(text: str, *, types: frozenset[str] | None = None) -> tuple[str, list[Finding]]:
    """The text with each finding replaced by a plain label ("[redacted email]"): for replies."""
    findings = find_pii(text, types=types)
    for finding in reversed(findings):
        label = "secret" if finding.type in SECRET_TYPES else finding.type.lower().replace("_", " ")
        text = f"{text[: finding.start]}[redacted {label}]{text[finding.end :]}"
    return text, findings
