"""Create the demo data once: a staff user, an assistant and a knowledge document."""

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from gateway.models import LanguageModel
from knowledge.models import Document, RetrievalPolicy
from knowledge.services import document_create_from_text, document_index_text
from prompts_admin.models import PromptTemplate

DEMO_USERNAME = "admin"

SYSTEM_PROMPT = (
    "You are Switchboard's helpful assistant. Answer clearly and concisely, using markdown "
    "for lists, tables and code. If you do not know, say so."
)

DOCUMENT_TEXT = """\
# Switchboard handbook

Switchboard is the company's chat assistant. Conversations are private to the person who
started them. Staff edit what the assistant is told in the admin, where every change is kept.

## Support hours
Support answers on weekdays from 9:00 to 17:00 CET. Urgent incidents go to the on-call
engineer through the status page.

## Expenses
Travel must be booked through the travel desk. Receipts are submitted within 30 days.
"""


class Command(BaseCommand):
    help = "Create demo data if it does not exist yet; prints a generated password once."

    @transaction.atomic
    def handle(self, *args, **options) -> None:
        self._create_template()
        self._create_document()
        self._create_staff_user()

    def _create_staff_user(self) -> None:
        User = get_user_model()
        if User.objects.filter(username=DEMO_USERNAME).exists():
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser(DEMO_USERNAME, email="", password=password)
        self.stdout.write(
            self.style.SUCCESS(
                f"\nCreated staff user '{DEMO_USERNAME}' with password: {password}\n"
                "This password is shown only once. "
                f"Change it with: manage.py changepassword {DEMO_USERNAME}\n"
            )
        )

    def _create_template(self) -> None:
        if PromptTemplate.objects.exists():
            return
        template = PromptTemplate.objects.create(
            slug="assistant",
            name="Assistant",
            description="A general helpful assistant.",
            system_prompt=SYSTEM_PROMPT,
            model=LanguageModel.objects.get(name=self._demo_model()),
            is_default=True,
        )
        # The demo assistant answers from the knowledge base (others opt in, in admin).
        RetrievalPolicy.objects.create(template=template, enabled=True)

    @staticmethod
    def _demo_model() -> str:
        """A model of the provider the operator configured; OpenAI's when both or none are."""
        only_anthropic = settings.ANTHROPIC_API_KEY and not (
            settings.OPENAI_API_KEY or settings.OPENAI_BASE_URL
        )
        return "claude-haiku-4-5" if only_anthropic else "gpt-4o-mini"

    def _create_document(self) -> None:
        """Indexed here, not by the worker: the demo answers from it on the first turn."""
        document = Document.objects.filter(title="Switchboard handbook").first()
        if document is None:
            document_create_from_text(
                title="Switchboard handbook", source="handbook.md", text=DOCUMENT_TEXT
            )
        elif not document.chunks.exists() and document.text:  # seeded before chunks existed
            document_index_text(document=document, text=document.text)
