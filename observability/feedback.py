"""Thumbs up or down on a reply: one per user and reply, changeable, with an optional comment."""

from __future__ import annotations

from django.db import transaction

from chat.models import Message
from observability.metrics import FEEDBACK
from observability.models import Feedback

MAX_COMMENT_CHARS = 2000


class FeedbackRefused(ValueError):
    """The feedback cannot be taken as given; the message says why, for the user."""


def own_reply(*, user_id: int, message_id: int) -> Message | None:
    """The assistant reply if it is in one of the user's conversations, else None."""
    return Message.objects.filter(
        id=message_id, role="assistant", conversation__user_id=user_id
    ).first()


@transaction.atomic
def feedback_give(*, user_id: int, message: Message, score: int, comment: str = "") -> Feedback:
    if score not in (Feedback.UP, Feedback.DOWN):
        raise FeedbackRefused("Feedback is a thumbs up or a thumbs down.")
    comment = comment.strip()
    if len(comment) > MAX_COMMENT_CHARS:
        raise FeedbackRefused(f"Keep the comment under {MAX_COMMENT_CHARS} characters.")
    feedback, _ = Feedback.objects.update_or_create(
        user_id=user_id, message=message, defaults={"score": score, "comment": comment}
    )
    FEEDBACK.labels(score="up" if score == Feedback.UP else "down").inc()
    return feedback


def feedback_for(*, user_id: int, message_id: int) -> Feedback | None:
    return Feedback.objects.filter(user_id=user_id, message_id=message_id).first()
