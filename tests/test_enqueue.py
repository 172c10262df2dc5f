"""A dead Celery broker costs a background task, never the caller: counted, not raised."""

from __future__ import annotations

import time

import pytest
from celery import Celery
from django.core.files.uploadedfile import SimpleUploadedFile

import knowledge.tasks
from chat.tasks import interrupt_stale_streams
from config.celery import app
from devstack.services import free_port
from knowledge.models import Document, IngestStatus
from knowledge.services import document_create_from_text
from observability.enqueue import enqueue
from observability.metrics import ENQUEUE_FAILURES


def _failures(task) -> float:
    return ENQUEUE_FAILURES.labels(task=task.name).get()


@pytest.fixture
def task_on_a_dead_broker():
    """A task of an app configured like ours, but whose broker port nobody listens on."""
    dead = Celery("dead", broker=f"redis://127.0.0.1:{free_port()}/0", set_as_current=False)
    dead.conf.broker_transport_options = app.conf.broker_transport_options

    @dead.task(name="tests.probe")
    def probe() -> None: ...

    yield probe
    dead.close()


def test_a_dead_broker_is_counted_and_does_not_raise(task_on_a_dead_broker):
    before = _failures(task_on_a_dead_broker)
    started = time.monotonic()

    assert enqueue(task_on_a_dead_broker) is False

    assert _failures(task_on_a_dead_broker) == before + 1
    assert time.monotonic() - started < 10  # one connect attempt, not Celery's retry schedule


def test_a_live_broker_takes_the_task():
    before = _failures(interrupt_stale_streams)
    assert enqueue(interrupt_stale_streams) is True
    assert _failures(interrupt_stale_streams) == before


@pytest.fixture
def ingestion_on_a_dead_broker(monkeypatch):
    """Knowledge ingestion whose Celery broker is down (the task itself is never reached)."""
    dead = Celery("dead", broker=f"redis://127.0.0.1:{free_port()}/0", set_as_current=False)
    dead.conf.broker_transport_options = app.conf.broker_transport_options

    @dead.task(name="knowledge.tasks.ingest_document")
    def ingest_document(document_id: int, stored_file: str) -> None: ...

    monkeypatch.setattr(knowledge.tasks, "ingest_document", ingest_document)
    yield ingest_document
    dead.close()


def _wait_for_status(document: Document, status: str) -> Document:
    deadline = time.monotonic() + 60
    while (document := Document.objects.get(pk=document.pk)).status != status:
        assert time.monotonic() < deadline, (document.status, document.error)
        time.sleep(0.2)
    return document


@pytest.mark.django_db(transaction=True)
def test_an_upload_the_broker_cannot_take_shows_not_queued_and_can_be_queued_again(
    admin_client, celery_worker, ingestion_on_a_dead_broker, monkeypatch
):
    before = _failures(ingestion_on_a_dead_broker)
    upload = SimpleUploadedFile("guide.md", b"The canteen serves lunch from noon.")
    page = admin_client.post(
        "/admin/knowledge/document/add/", {"title": "Guide", "upload": upload}, follow=True
    ).content.decode()

    document = Document.objects.get(title="Guide")  # saved, file kept: nothing is lost
    assert document.status == IngestStatus.NOT_QUEUED and document.stored_file
    assert "NOT queued for indexing: the task queue is unavailable" in page
    change = admin_client.get(f"/admin/knowledge/document/{document.pk}/change/").content
    assert "Not queued (task queue unavailable)" in change.decode()
    assert "Index the selected documents again" in change.decode()  # the way out, in the error
    assert _failures(ingestion_on_a_dead_broker) == before + 1

    # The broker is back: the admin action queues it, and the worker indexes it.
    monkeypatch.undo()
    page = admin_client.post(
        "/admin/knowledge/document/",
        {"action": "reindex", "_selected_action": [str(document.pk)]},
        follow=True,
    ).content.decode()
    assert "1 document(s) queued for indexing." in page and "not queued" not in page
    document = _wait_for_status(document, IngestStatus.READY)
    assert document.error == "" and document.chunks.exists()


@pytest.mark.django_db(transaction=True)
def test_reindexing_on_a_dead_broker_says_which_documents_were_not_queued(
    admin_client, ingestion_on_a_dead_broker
):
    document = document_create_from_text(title="Handbook", text="Support answers on weekdays.")
    Document.objects.filter(pk=document.pk).update(stored_file="a" * 32)
    page = admin_client.post(
        "/admin/knowledge/document/",
        {"action": "reindex", "_selected_action": [str(document.pk)]},
        follow=True,
    ).content.decode()

    assert "0 document(s) queued for indexing." in page
    assert "1 document(s) not queued: the task queue is unavailable." in page
    document.refresh_from_db()
    assert document.status == IngestStatus.NOT_QUEUED and "Not queued" in document.error
    assert document.chunks.exists()  # the passages already indexed keep answering
