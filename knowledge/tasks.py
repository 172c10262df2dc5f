from celery import shared_task

from knowledge.services import document_ingest


@shared_task(acks_late=True)
def ingest_document(document_id: int, stored_file: str) -> None:
    """Extract, chunk, embed and index an uploaded file (knowledge.services.document_ingest)."""
    document_ingest(document_id=document_id, stored_file=stored_file)
