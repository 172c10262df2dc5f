"""Phrase rules for prompt injection and jailbreaks, run over every reading of the text.

Each rule has a name (recorded when it fires, counted in metrics) and a weight in [0, 1]: how
sure a hit alone makes us. Rules are written for canonical (case-folded, Latin) text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from guardrails.normalize import Readings

_PRIOR = r"(?:all |any |the |your |my |these |those |every )*(?:previous|prior|above|earlier|preceding|former|initial|original|system|old|existing|given|provided|supplied|stated|mentioned)?"
_RULES_OF = r"(?:instructions?|rules|directions?|guidelines|prompts?|commands?|constraints|context|programming|restrictions|orders|tasks|inputs|information)"


@dataclass(frozen=True)
class Rule:
    name: str
    weight: float
    pattern: re.Pattern
    # Substrings one of which any match contains: a plain `in` test skips most rules on most
    # texts, which is what keeps a 4,000-character message well under a millisecond.
    triggers: tuple[str, ...]
    # The longest match the pattern is written for: on a long message the rule runs only within
    # this many characters either side of its triggers.
    reach: int = 150

    def search(self, text: str, present: frozenset[str] | None = None) -> bool:
        if present is None:
            present = frozenset(t for t in self.triggers if t in text)
        found = present.intersection(self.triggers)
        if not found:
            return False
        if len(text) <= 4 * self.reach:
            return bool(self.pattern.search(text))
        windows = _windows(text, found, self.reach)
        return any(self.pattern.search(text, lo, hi) for lo, hi in windows)


def _windows(text: str, triggers: frozenset[str], reach: int) -> list[tuple[int, int]]:
    """Merged spans of `reach` characters either side of every trigger occurrence; a span ends
    after a whole word, so that a word cut in two cannot end a match."""
    spots = []
    for trigger in triggers:
        at = text.find(trigger)
        while at != -1:
            spots.append((max(0, at - reach), at + len(trigger) + reach))
            at = text.find(trigger, at + 1)
    spots.sort()
    merged: list[list[int]] = []
    for lo, hi in spots:
        if merged and lo <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    windows = []
    for lo, hi in merged:
        while hi < len(text) and text[hi].isalnum():
            hi += 1
        windows.append((lo, min(hi, len(text))))
    return windows


def _rule(
    name: str, weight: float, pattern: str, *, triggers: tuple[str, ...], reach: int = 150
) -> Rule:
    return Rule(name, weight, re.compile(pattern), triggers, reach)


RULES: tuple[Rule, ...] = (
    _rule(
        "override_instructions",
        0.95,
        rf"\b(?:ignore|disregard|forget|skip|bypass|override|drop|abandon|neglect)\s+{_PRIOR}\s*{_RULES_OF}",
        triggers=(
            "ignor",
            "disregard",
            "forget",
            "skip",
            "bypass",
            "overrid",
            "drop",
            "abandon",
            "neglect",
        ),
    ),
    _rule(
        "override_instructions",
        0.9,
        r"\b(?:ignore|disregard|forget)\s+(?:everything|all(?: of)? (?:that|the above|this))\b",
        triggers=("ignor", "disregard", "forget"),
    ),
    _rule(
        "override_instructions",
        0.8,
        r"\b(?:ignore|disregard|forget)\s+(?:what|everything|anything|all)\s+(?:(?:i|you|we)\s+)?(?:said|wrote|told you|was said|is written|came|comes)?\s*(?:before|above|earlier|previously)\b",
        triggers=("ignor", "disregard", "forget"),
    ),
    _rule(
        "reveal_system_prompt",
        0.9,
        r"\b(?:reveal|show|print|repeat|output|display|leak|tell me|give me|what (?:is|are|was|were))\s+(?:me\s+)?"
        r"(?:your\s+(?:(?:full|complete|exact|original|initial|hidden|secret|first)\s+)*(?:system prompt|system message|instructions|prompt|initial prompt|rules|guidelines)"
        r"|the\s+(?:(?:full|complete|exact|original|initial|hidden|secret)\s+)*(?:system prompt|system message|initial prompt|hidden instructions|original instructions|secret instructions))\b",
        triggers=("prompt", "instruction", "rules", "guideline", "system message"),
    ),
    _rule(
        "reveal_system_prompt",
        0.9,
        r"\b(?:text|words|everything)\s+above\b.*\b(?:verbatim|repeat|print)\b",
        triggers=("above",),
        reach=2000,  # ".*" to the end of the line
    ),
    _rule(
        "role_hijack",
        0.85,
        r"\b(?:you are now (?:an? |my |in |called |named |no longer |free |dan\b|unrestricted|jailbroken|unfiltered)|from now on,? you (?:are|will)|act as an? (?:unrestricted|unfiltered|evil|jailbroken)|pretend (?:that )?you (?:have|are under) no)\b",
        triggers=("you are now", "from now on", "act as", "pretend"),
    ),
    _rule(
        "jailbreak_persona",
        0.95,
        r"\b(?:dan|do anything now|developer mode|jailbreak|jailbroken|aim|stan|dude mode|evil confidant|unfiltered ai)\b.{0,200}\b(?:no|without|any|free of)\s+(?:restrictions|limitations|filters|rules|guidelines|censorship)",
        triggers=("restriction", "limitation", "filter", "rules", "guideline", "censor"),
        reach=320,
    ),
    _rule(
        "no_restrictions",
        0.7,
        r"\b(?:without|no|free from|free of|ignore (?:all )?(?:your )?)\s*(?:any\s+)?(?:ethical|moral|content|safety)?\s*(?:restrictions|limitations|filters|guidelines|censorship|policies)\b",
        triggers=("restriction", "limitation", "filter", "guideline", "censor", "polic"),
    ),
    _rule(
        "fake_delimiter",
        0.8,
        r"(?:<\|im_start\|>|<\|system\|>|\[/?inst\]|</?system>|^\s*#{2,}\s*(?:system|instruction|new instructions)|\bbegin new instructions\b|\bend of (?:system )?prompt\b)",
        triggers=("<|", "[inst", "[/inst", "system>", "##", "begin new", "end of"),
    ),
    _rule(
        "override_instructions",
        0.85,
        r"\b(?:ignore (?:the )?above|leave (?:all )?(?:the )?previous \w+ behind|remove all previous \w+|now new instructions follow)\b",
        triggers=("ignore", "previous", "new instructions"),
    ),
    _rule(
        "jailbreak_persona",
        0.85,
        r"\b(?:unfiltered and amoral|amoral and unfiltered|(?:an? )?(?:unfiltered|uncensored|amoral) (?:ai|chatbot|assistant|model)|doesn'?t have any ethical or moral guidelines)\b",
        triggers=("unfiltered", "uncensored", "amoral", "ethical or moral"),
    ),
    _rule(
        "role_hijack",
        0.75,
        r"\bfrom (?:now on|this moment onward)\b.{0,60}\b(?:no longer|not) (?:respond|answer|act)\b.{0,20}\bas (?:chatgpt|an ai|yourself|claude)",
        triggers=("from now on", "from this moment"),
        reach=200,
    ),
    _rule(
        "new_task",
        0.6,
        r"\b(?:new (?:task|instructions?)|instead,? (?:you (?:must|will|should)|do the following))\s*:",
        triggers=("new task", "new instruction", "instead"),
    ),
    _rule(
        "role_hijack",
        0.85,
        r"\b(?:pretend|imagine|stell dir vor)\b,?\s+(?:that\s+|dass\s+)?(?:you are|you're|du bist|du wärst)\s+"
        r"(?:an?\s+|eine?\s+)?(?:evil|böse|malicious|unrestricted|unfiltered|uncensored)",
        triggers=("pretend", "imagine", "stell dir vor"),
    ),
    # German, French, Spanish phrasings of the override.
    _rule(
        "override_instructions",
        0.9,
        r"\b(?:obigen|vorherigen|bisherigen|vorangegangenen)\b.{0,40}\b(?:ignorieren|vergessen)\b",
        triggers=("ignorieren", "vergessen"),
    ),
    _rule(
        "override_instructions",
        0.8,
        r"\b(?:olvidar?|oublie[rz]?)\s+(?:todo|tout)\b",
        triggers=("olvida", "oublie"),
    ),
    _rule(
        "override_instructions",
        0.95,
        r"\b(?:ignorier(?:e|en)?|vergiss|vergessen sie)\b.{0,40}\b(?:anweisungen|befehle|instruktionen|regeln|vorgaben|alles|aufträge|aufgaben)\b",
        triggers=("ignorier", "vergiss", "vergessen"),
    ),
    _rule(
        "role_hijack",
        0.8,
        r"\b(?:du bist (?:jetzt|nun|ab jetzt)|ab (?:jetzt|sofort) bist du|tu es maintenant|ahora eres)\b",
        triggers=("du bist", "bist du", "tu es maintenant", "ahora eres"),
    ),
    _rule(
        "override_instructions",
        0.95,
        r"\b(?:ignore[zr]?|oublie[zr]?|ignora|olvida)\b.{0,30}\b(?:instructions|consignes|r[eè]gles|instrucciones|reglas)\b",
        triggers=("ignore", "oublie", "ignora", "olvida"),
    ),
)

_ALL_TRIGGERS = frozenset(t for rule in RULES for t in rule.triggers)

# Letters-only forms of the strongest phrases: caught however they are spaced or punctuated.
_SQUEEZED = (
    (
        "override_instructions",
        re.compile(
            r"(?:ignore|disregard|forget)(?:all|any|the|your)*(?:previous|prior|above|earlier)(?:instructions?|rules|prompts?)"
            r"|ignoriereallevorherigenanweisungen"
        ),
    ),
    ("reveal_system_prompt", re.compile(r"(?:reveal|show|print|repeat)(?:me)?yoursystemprompt")),
)
# Every squeezed phrase contains one of these: most texts skip the patterns.
_SQUEEZED_TRIGGERS = ("ignor", "disregard", "forget", "yoursystemprompt")

# Encoded text is suspicious only when what it hides is.
_ENCODED_BONUS = 0.05


def heuristic_hits(readings: Readings) -> dict[str, float]:
    """Rule name → weight, for every rule that fires on any reading (encoded readings noted)."""
    hits: dict[str, float] = {}
    plain: set[str] = set()  # rule names that fire on the canonical text itself
    for reading, text in readings.for_patterns():
        present = frozenset(t for t in _ALL_TRIGGERS if t in text)
        for rule in RULES:
            if rule.weight > hits.get(rule.name, 0.0) and rule.search(text, present):
                hits[rule.name] = rule.weight
                if reading != "text":
                    hits[f"obfuscated_{reading}"] = min(1.0, rule.weight + _ENCODED_BONUS)
        if reading == "text":  # always the first reading
            plain = set(hits)
    squeezed = readings.squeezed
    if not any(t in squeezed for t in _SQUEEZED_TRIGGERS):
        return hits
    for name, pattern in _SQUEEZED:
        if pattern.search(squeezed):
            hits.setdefault(name, 0.9)
            if name not in plain:
                hits["obfuscated_spacing"] = 0.95
    return hits
