"""Scoring answers: cheap checks on every answer, an LLM judge on a sample.

`evaluate(request_id)` is what the Celery task runs. Whatever goes wrong is written down as a
failed EvalResult with its reason, so a judge that stops working shows in admin.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from dataclasses import dataclass

from chat.models import Message, Status
from gateway.models import LanguageModel
from gateway.providers import ChatRequest, endpoint_for, http_timeout, stream_reply
from observability.metrics import EVALS
from observability.models import EvalResult, EvalRubric, RequestLog

ANSWERED = {Status.COMPLETE, Status.INTERRUPTED}
_REFUSAL = re.compile(
    r"^\s*(I'm sorry|I am sorry|Sorry)?[, ]*(but )?"
    r"I (can(?:no|')t|cannot|won't|am unable to|'m unable to) (help|assist|comply|provide|do that)",
    re.IGNORECASE,
)
JUDGE_FORMAT = (
    'Grade the assistant\'s answer against the rubric. Reply with JSON only: {"score": <1-5>, '
    '"reason": "<one sentence>"}.'
)
JUDGE_TIMEOUT_SECONDS = 60


def cheap_checks(content: str, status: str) -> dict[str, bool]:
    """Problems found without a model; True means the answer has that problem."""
    return {
        "empty": not content.strip(),
        "refusal": bool(_REFUSAL.match(content)),
        "truncated": status != Status.COMPLETE,
        # An odd number of code fences leaves the rest of the answer rendered as code.
        "format": content.count("```") % 2 == 1,
    }


def check_score(checks: dict[str, bool]) -> float:
    return sum(not problem for problem in checks.values()) / len(checks)


def in_judge_sample(request_id: uuid.UUID, rate: float) -> bool:
    """Sticky sampling: the same turn is always in or out for a given rate."""
    return uuid.UUID(str(request_id)).int % 10_000 < round(rate * 10_000)


def active_rubric() -> EvalRubric | None:
    return EvalRubric.objects.filter(active=True).select_related("judge_model").first()


@dataclass(frozen=True)
class Verdict:
    score: float  # 0..1
    reason: str


class JudgeFailed(Exception):
    """The judge could not be asked or gave no usable score; the message says why."""


def parse_verdict(reply: str) -> Verdict:
    match = re.search(r"\{.*\}", reply, re.DOTALL)
    try:
        data = json.loads(match.group(0)) if match else {}
        score = int(data["score"])
    except (ValueError, KeyError, TypeError) as error:
        raise JudgeFailed(f"the judge's reply had no score: {reply[:200]!r}") from error
    if not 1 <= score <= 5:
        raise JudgeFailed(f"the judge's score {score} is not between 1 and 5")
    return Verdict(score=(score - 1) / 4, reason=str(data.get("reason", ""))[:1000])


async def ask_judge(model: LanguageModel, rubric: str, question: str, answer: str) -> Verdict:
    """One call to the judge model through the provider layer (the simulator when offline)."""
    request = ChatRequest(
        model=model.name,
        system=f"{rubric}\n\n{JUDGE_FORMAT}",
        messages=[
            {"role": "user", "content": f"Question:\n{question}\n\nAnswer:\n{answer}"},
        ],
        max_output_tokens=200,
        temperature=0,
    )
    limits = http_timeout(5, JUDGE_TIMEOUT_SECONDS)
    try:
        parts = [
            chunk.text
            async for chunk in stream_reply(endpoint_for(model.provider), request, limits)
        ]
    except Exception as error:  # provider errors of every kind end as a recorded failure
        raise JudgeFailed(f"the judge model {model.name} failed: {error}") from error
    return parse_verdict("".join(parts))


def _question_for(reply: Message) -> str:
    asked = (
        Message.objects.filter(conversation_id=reply.conversation_id, role="user", id__lt=reply.id)
        .order_by("-id")
        .values_list("content", flat=True)
        .first()
    )
    return asked or ""


def evaluate(request_id: uuid.UUID | str) -> EvalResult | None:
    """Score one turn's answer and store it on its request log (None: nothing to score)."""
    log = (
        RequestLog.objects.select_related("message")
        .filter(request_id=request_id, purpose=RequestLog.Purpose.TURN)  # titles are not answers
        .first()
    )
    if log is None or log.message is None or log.status not in ANSWERED:
        return None
    reply = log.message
    checks = cheap_checks(reply.content, log.status)
    result = EvalResult(
        request_log=log, status=EvalResult.Status.OK, checks=checks, check_score=check_score(checks)
    )
    rubric = active_rubric()
    if (
        rubric
        and in_judge_sample(log.request_id, float(rubric.sample_rate))
        and not checks["empty"]
    ):
        result.rubric, result.judge_model = rubric, rubric.judge_model.name
        try:
            verdict = asyncio.run(
                ask_judge(
                    rubric.judge_model, rubric.instructions, _question_for(reply), reply.content
                )
            )
            result.judge_score, result.judge_reason = verdict.score, verdict.reason
        except JudgeFailed as failure:
            result.status, result.reason = EvalResult.Status.FAILED, str(failure)
    # One result per turn; a re-run (or the worker racing a manual run) replaces it.
    fields = {
        f.name: getattr(result, f.name)
        for f in EvalResult._meta.concrete_fields
        if f.name not in ("id", "request_log", "created_at")
    }
    result, _ = EvalResult.objects.update_or_create(request_log=log, defaults=fields)
    EVALS.labels(kind="judge" if result.judge_model else "checks", status=result.status).inc()
    return result
