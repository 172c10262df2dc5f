"""Writes to the knowledge base: upload, ingest (extract → chunk → embed → index), delete.

Every change to what retrieval can find bumps the knowledge revision in the same transaction.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from gateway.embeddings import embed, embedder
from knowledge import storage
from knowledge.chunking import chunk_text
from knowledge.extraction import ExtractionFailed, extract_text
from knowledge.models import Chunk, Document, IngestStatus, KnowledgeRevision
from knowledge.sniffing import UnsupportedFile, sniff
from observability.enqueue import enqueue

log = logging.getLogger(__name__)

EMBED_BATCH = 64


class UploadRejected(ValueError):
    """The upload was refused before anything was stored. The message is for the uploader."""


def upload_size_check(size: int) -> None:
    """Refuse a file over KNOWLEDGE_MAX_UPLOAD_MB (before reading it into memory)."""
    if size > settings.KNOWLEDGE_MAX_UPLOAD_MB * 1024 * 1024:
        raise UploadRejected(
            f"The file is {size / 1024 / 1024:.1f} MB; "
            f"the limit is {settings.KNOWLEDGE_MAX_UPLOAD_MB:g} MB."
        )


def upload_kind(*, file_name: str, data: bytes) -> str:
    """The file's kind if the knowledge base takes it; raises UploadRejected with the reason."""
    upload_size_check(len(data))
    try:
        return sniff(data, file_name=file_name)
    except UnsupportedFile as error:
        raise UploadRejected(str(error)) from None


def document_upload(*, document: Document, file_name: str, data: bytes) -> Document:
    """Store a new file for `document` (new, or replaced) and queue its ingestion.

    Until the new file is indexed, the passages of the previous one keep answering; if it
    cannot be read, they stay and the document shows why.
    """
    kind = upload_kind(file_name=file_name, data=data)
    stored = storage.store_file(data)
    with transaction.atomic():
        previous = document.stored_file if document.pk else ""
        document.source = file_name[:300]
        document.kind = kind
        document.stored_file = stored
        document.size_bytes = len(data)
        document.status = IngestStatus.PENDING
        document.error = ""
        document.save()
        transaction.on_commit(lambda: storage.delete_file(previous))
        transaction.on_commit(
            lambda: document_queue_ingest(document_id=document.pk, stored_file=stored)
        )
    return document


NOT_QUEUED_ERROR = (
    "Not queued: the task queue was unavailable. Select the document and run "
    "“Index the selected documents again” once it is back."
)


def document_queue_ingest(*, document_id: int, stored_file: str) -> bool:
    """Hand the ingestion to Celery. A dead broker is counted, not raised (no retry loop), and
    the document shows "not queued" so nobody waits for an index that will never come."""
    from knowledge.tasks import ingest_document

    current = Document.objects.filter(pk=document_id, stored_file=stored_file)
    current.filter(status=IngestStatus.NOT_QUEUED).update(status=IngestStatus.PENDING, error="")
    if enqueue(ingest_document, document_id, stored_file):
        return True
    current.update(
        status=IngestStatus.NOT_QUEUED, error=NOT_QUEUED_ERROR, updated_at=timezone.now()
    )
    return False


def document_ingest(*, document_id: int, stored_file: str) -> None:
    """The Celery task's work: read the stored file and index it, or record why it can't be."""
    document = Document.objects.filter(pk=document_id, stored_file=stored_file).first()
    if document is None:
        return  # deleted, or replaced by a newer upload whose own task will index it
    try:
        text = extract_text(storage.read_file(stored_file), document.kind)
        document_index_text(document=document, text=text, stored_file=stored_file)
    except ExtractionFailed as failure:
        _mark_failed(document_id, stored_file, str(failure))
    except Exception:
        log.exception("indexing document %s failed", document_id)
        _mark_failed(document_id, stored_file, "Indexing failed unexpectedly; try again later.")
        raise


def _mark_failed(document_id: int, stored_file: str, error: str) -> None:
    if Chunk.objects.filter(document_id=document_id).exists():
        error += " The previous version is still used for answers."
    Document.objects.filter(pk=document_id, stored_file=stored_file).update(
        status=IngestStatus.FAILED, error=error, updated_at=timezone.now()
    )


def document_index_text(*, document: Document, text: str, stored_file: str | None = None) -> int:
    """Replace the document's passages with those of `text`; returns how many there are.

    `stored_file`, when given, must still be the document's file when the passages are written,
    so a slow task never overwrites a newer upload.
    """
    passages = chunk_text(text)
    if not passages:
        raise ExtractionFailed("The file has no text to index.")
    vectors = [
        vector
        for start in range(0, len(passages), EMBED_BATCH)
        for vector in embed(passages[start : start + EMBED_BATCH])
    ]
    with transaction.atomic():
        current = Document.objects.select_for_update().filter(pk=document.pk)
        if stored_file is not None:
            current = current.filter(stored_file=stored_file)
        if not current.exists():
            return 0
        Chunk.objects.filter(document=document).delete()
        Chunk.objects.bulk_create(
            Chunk(
                document=document,
                ordinal=ordinal,
                text=passage,
                embedding=vector,
                embedder=embedder().name,
            )
            for ordinal, (passage, vector) in enumerate(zip(passages, vectors, strict=True), 1)
        )
        current.update(
            text=text,
            status=IngestStatus.READY,
            error="",
            ingested_at=timezone.now(),
            updated_at=timezone.now(),
        )
        revision_bump()
    return len(passages)


def document_create_from_text(*, title: str, text: str, source: str = "") -> Document:
    """A document from text already at hand (the demo seed), indexed at once."""
    with transaction.atomic():
        document = Document.objects.create(title=title, source=source, text=text)
        document_index_text(document=document, text=text)
    return document


@transaction.atomic
def document_delete(*, document: Document) -> None:
    stored = document.stored_file
    document.delete()
    revision_bump()
    transaction.on_commit(lambda: storage.delete_file(stored))


def revision_bump() -> int:
    """One atomic upsert: the row may not exist yet (a fresh or flushed database)."""
    table = KnowledgeRevision._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (id, value) VALUES (1, 1) "
            f"ON CONFLICT (id) DO UPDATE SET value = {table}.value + 1 RETURNING value"
        )
        return cursor.fetchone()[0]
