"""The reply guard: holds back the newest text so a check can fire before it reaches anyone.

Text is released only once it is `holdback` characters behind the newest token, cut at a word
boundary, so a canary, a key or a phone number is always judged whole before any of it is
shown. When a blocking check fires, nothing more is released and the caller replaces what was
already shown.

The whole window (the last released `holdback` characters and everything not yet released) is
judged right before each release and at the end, not on every token: text that only waits is
judged with the rest when its turn comes. After the first words, which go at once, text is
released in steps of at least half the hold-back, so a judgment covers several tokens (a
2,000-character reply in word-sized tokens: ~100 judgments instead of ~450), for ~6 more
characters held back on average. A blocking check so fires (and the model stream is closed) up to
one step after the token that completed the match; none of it is shown either way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from guardrails.checks import ALLOW, Verdict, judge_reply
from guardrails.pii import Redactor, mask_pii

_REPLY_PII = frozenset({"EMAIL", "PHONE", "CREDIT_CARD", "US_SSN", "IBAN", "IP_ADDRESS"})


@dataclass
class ReplyGuard:
    canary: str | None = None
    secrets_action: str = "block"
    dangerous_code_action: str = ALLOW
    mask_pii: bool = True
    redactor: Redactor | None = None  # puts the user's own values back, if given
    holdback: int = 32
    verdict: Verdict | None = None  # the blocking verdict, once one fired
    flags: list[Verdict] = field(default_factory=list)
    excerpt: str = ""  # the judged window when something fired, PII masked
    _pending: str = ""
    _tail: str = ""  # the last released raw text, re-judged with what follows it

    @property
    def blocked(self) -> bool:
        return self.verdict is not None

    def feed(self, text: str) -> str:
        """Take new model text; return the text that may now be shown (often "")."""
        if self.blocked:
            return ""
        self._pending += text
        cut = self._cut(len(self._pending) - self.holdback)
        if not self._worth_releasing(cut) or not self._judge():
            return ""
        return self._release(cut)

    def finish(self) -> str:
        """The stream ended: release what is still held, if it passes."""
        if self.blocked or not self._judge():
            return ""
        return self._release(len(self._pending))

    def _worth_releasing(self, cut: int) -> bool:
        """The first words as soon as they may go; after them, at least half a hold-back."""
        return cut > 0 and (not self._tail or cut >= self.holdback // 2)

    def _judge(self) -> bool:
        window = self._tail + self._pending
        verdict = judge_reply(
            window,
            canary=self.canary,
            secrets_action=self.secrets_action,
            dangerous_code_action=self.dangerous_code_action,
        )
        if verdict.fired:
            self.excerpt = mask_pii(window)[0]
        if verdict.blocked:
            self.verdict = verdict
            return False
        if verdict.fired and verdict.reason not in {f.reason for f in self.flags}:
            self.flags.append(verdict)
        return True

    def _cut(self, limit: int) -> int:
        """The last word boundary at or before `limit` that does not split a number."""
        text = self._pending
        for i in range(min(limit, len(text) - 1), 0, -1):
            if text[i].isspace() and not (text[i - 1].isdigit() and text[i + 1].isdigit()):
                return i + 1
        # One unbroken run longer than a few windows: release it anyway, keeping the window.
        return max(limit, 0) if limit > 3 * self.holdback else 0

    def _release(self, cut: int) -> str:
        if cut <= 0:
            return ""
        raw, self._pending = self._pending[:cut], self._pending[cut:]
        self._tail = (self._tail + raw)[-self.holdback :]
        if self.mask_pii:
            raw = mask_pii(raw, types=_REPLY_PII)[0]
        return self.redactor.restore(raw) if self.redactor else raw
