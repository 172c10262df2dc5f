"""A reply left 'streaming' by a dead process is marked interrupted, by the real Celery task."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from chat import services, tasks
from chat.models import Conversation, Message, Status

# The worker is another process: it must see committed rows.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def user(make_user):
    return make_user()


@pytest.fixture
def streaming_reply(user, openai_template):
    """A reply in status 'streaming', last checkpointed `age` ago (each in its own conversation:
    only one reply per conversation may be streaming)."""

    def make(age: timedelta, content: str = "A partial ans") -> Message:
        conversation = Conversation.objects.create(user=user, template=openai_template)
        Message.objects.create(conversation=conversation, role="user", content="Tell me more")
        reply = Message.objects.create(
            conversation=conversation, role="assistant", content=content, status=Status.STREAMING
        )
        # updated_at is auto_now: save() would reset it, .update() does not.
        Message.objects.filter(id=reply.id).update(updated_at=timezone.now() - age)
        reply.refresh_from_db()
        return reply

    return make


def wait_for_status(message: Message, status: str, timeout: float) -> Message:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message.refresh_from_db()
        if message.status == status:
            return message
        time.sleep(0.1)
    raise AssertionError(f"message {message.id} is still {message.status!r} after {timeout:.0f} s")


def stale_age() -> timedelta:
    return timedelta(seconds=settings.CHAT_STALE_STREAM_SECONDS + 60)


def test_the_celery_task_interrupts_stale_streams_and_leaves_fresh_ones(
    celery_worker, streaming_reply
):
    stale = streaming_reply(stale_age())
    fresh = streaming_reply(timedelta(seconds=1))
    # Through the broker and the worker process, not run in this process.
    assert not tasks.interrupt_stale_streams.app.conf.task_always_eager

    tasks.interrupt_stale_streams.delay()

    # The worker may still be starting when this test runs first: allow for that, bounded.
    stale = wait_for_status(stale, Status.INTERRUPTED, timeout=30)
    assert stale.error_kind == "interrupted"
    assert stale.content == "A partial ans"  # what was written is kept
    assert stale.updated_at > timezone.now() - timedelta(seconds=60)
    # One UPDATE marks every stale reply, so the fresh one was already judged: left alone.
    fresh.refresh_from_db()
    assert (fresh.status, fresh.error_kind) == (Status.STREAMING, "")


def test_interrupting_uses_the_last_checkpoint_and_only_touches_streaming_replies(
    streaming_reply, user, openai_template
):
    older_than = timedelta(minutes=2)
    just_stale = streaming_reply(older_than + timedelta(seconds=5))
    just_fresh = streaming_reply(older_than - timedelta(seconds=5))
    old_complete = Message.objects.create(
        conversation=Conversation.objects.create(user=user, template=openai_template),
        role="assistant",
        content="Done long ago",
        status=Status.COMPLETE,
    )
    Message.objects.filter(id=old_complete.id).update(updated_at=timezone.now() - timedelta(days=1))

    assert services.interrupt_stale_streams(older_than=older_than) == 1

    statuses = {
        m.id: m.status
        for m in Message.objects.filter(id__in=[just_stale.id, just_fresh.id, old_complete.id])
    }
    assert statuses == {
        just_stale.id: Status.INTERRUPTED,
        just_fresh.id: Status.STREAMING,
        old_complete.id: Status.COMPLETE,
    }
    # A second run finds nothing left to do.
    assert services.interrupt_stale_streams(older_than=older_than) == 0


def test_the_conversation_page_shows_an_interrupted_reply_as_interrupted(
    client, streaming_reply, user
):
    reply = streaming_reply(stale_age(), content="Half of an **answer**")
    services.interrupt_stale_streams(
        older_than=timedelta(seconds=settings.CHAT_STALE_STREAM_SECONDS)
    )
    client.force_login(user)

    html = client.get(f"/c/{reply.conversation_id}/").content.decode()

    article = re.search(rf'<article id="m{reply.id}".*?</article>', html, re.S)
    assert article, f"reply m{reply.id} is not on the page"
    article = article.group(0)
    assert 'data-status="interrupted"' in article
    assert '<span class="status status-bad">Interrupted</span>' in article
    assert "Writing…" not in article  # no longer presented as in progress
    assert "Half of an <strong>answer</strong>" in article  # the partial reply is kept and shown
