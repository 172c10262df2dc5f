"""The reply guard: holds back the newest text so a check can fire before it reaches anyone.

Text is released only once it is `holdback` characters behind the newest token, cut at a word
boundary, so a canary, a key or a phone number is always judged whole before any of it is
shown. When a blocking check fires, nothing more is released and the caller replaces what was
already shown.
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
        if not self._judge():
            return ""
        cut = self._cut(len(self._pending) - self.holdback)
        return self._release(cut)

    def finish(self) -> str:
        """The stream ended: release what is still held, if it passes."""
        if self.blocked or not self._judge():
            return ""
        return self._release(len(self._pending))

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
