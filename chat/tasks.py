from datetime import timedelta
from uuid import UUID

from celery import shared_task
from django.conf import settings

from chat import titles
from chat.services import interrupt_stale_streams as interrupt


@shared_task
def interrupt_stale_streams() -> int:
    """Run by beat: a reply left 'streaming' by a dead process is shown as interrupted."""
    return interrupt(older_than=timedelta(seconds=settings.CHAT_STALE_STREAM_SECONDS))


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_email(*, subject: str, body: str, to: list[str]) -> None:
    """Send a rendered email (password reset) via EMAIL_URL; retried while the server is down."""
    from django.core.mail import send_mail

    send_mail(subject, body, None, to)


@shared_task(ignore_result=True)
def generate_conversation_title(conversation_id: str) -> None:
    """Name a conversation after its first exchange (best effort: see chat.titles)."""
    titles.generate_title(UUID(conversation_id))
