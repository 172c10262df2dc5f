"""A document uploaded in admin answers a question in the chat, with its citation shown.

Real parts throughout: chromium drives Django admin and the chat page, the Celery worker indexes
the upload, and the simulator's reply is scripted; the passage reaches it in the system prompt.
"""

from __future__ import annotations

import json
import time

import pytest
from django.conf import settings
from playwright.sync_api import expect

from knowledge.models import Document, IngestStatus, RetrievalPolicy
from tests.browserkit import (  # noqa: F401
    PASSWORD,
    SCREENSHOTS,
    TIMEOUT_MS,
    browser,
    page,
)
from tests.browserkit import (
    open_new_chat as _open_new_chat,
)
from tests.browserkit import (
    send as _send,
)
from tests.test_uploads import pdf

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

POLICY_LINES = [
    "Employees may work remotely up to three days a week.",
    "Remote days are agreed with the team lead one week ahead.",
]


def _wait_until_indexed(title: str, timeout: float = 90.0) -> Document:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        document = Document.objects.filter(title=title).first()
        if document and document.status != IngestStatus.PENDING:
            return document
        time.sleep(0.25)
    raise AssertionError(f"{title!r} was not indexed within {timeout:.0f} s")


def test_an_uploaded_document_answers_with_a_citation(
    page,  # noqa: F811
    app_server,
    celery_worker,
    simulator,
    openai_template,
    django_user_model,
):
    django_user_model.objects.create_superuser("sam", password=PASSWORD)
    RetrievalPolicy.objects.create(template=openai_template, enabled=True, top_k=3)
    _open_new_chat(page, app_server, "sam")

    # Staff upload a PDF in admin, in a second tab of the same session.
    admin = page.context.new_page()
    admin.goto(f"{app_server}/{settings.ADMIN_URL}knowledge/document/add/")
    admin.get_by_label("Title").fill("Remote work policy")
    admin.get_by_label("File").set_input_files(
        {"name": "remote-work.pdf", "mimeType": "application/pdf", "buffer": pdf(POLICY_LINES)}
    )
    admin.get_by_role("button", name="Save", exact=True).click()
    expect(admin.locator(".messagelist")).to_contain_text("is being indexed")
    document = _wait_until_indexed("Remote work policy")
    assert document.status == IngestStatus.READY, document.error
    admin.reload()
    expect(admin.locator("#result_list")).to_contain_text("Indexed")
    admin.close()

    simulator.post(
        "/_sim/script",
        json={"match": "work from home", "reply": "Up to three days a week [1].", "times": 1},
    )
    _send(page, "How many days can I work from home?")

    reply = page.locator("#messages article.message.assistant").last
    expect(reply).to_have_attribute("data-status", "complete", timeout=TIMEOUT_MS)
    expect(reply.locator(".message-body")).to_have_text("Up to three days a week [1].")
    citation = reply.locator(".citations .citation").first
    expect(citation).to_contain_text("Remote work policy, passage 1")
    excerpt = citation.locator(".citation-excerpt")
    expect(excerpt).to_be_hidden()
    citation.locator("summary").click()
    expect(excerpt).to_contain_text("up to three days a week")

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "citations.png", full_page=True)

    # The model was given the passage, fenced as data.
    # (the conversation's title is written by a background job that may call the simulator too)
    requests = simulator.get("/_sim/requests").json()["requests"]
    sent = json.dumps([[r["system"], r["messages"]] for r in requests])
    assert "<knowledge_base>" in sent and "three days a week" in sent

    # Citations are saved with the reply: a reload shows them again.
    page.reload()
    reply = page.locator("#messages article.message.assistant").last
    expect(reply.locator(".citations")).to_contain_text("Remote work policy, passage 1")
