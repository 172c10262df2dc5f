"""The knowledge base on its own: chunking, indexing, hybrid search and the revision counter."""

from __future__ import annotations

import io
import itertools

import pytest

from gateway.embeddings import embed_one, embedder
from knowledge import storage
from knowledge.chunking import CHUNK_CHARS, chunk_text, sentences
from knowledge.models import Chunk, Document, IngestStatus
from knowledge.selectors import knowledge_revision, search_passages
from knowledge.services import (
    document_create_from_text,
    document_delete,
    document_index_text,
    document_upload,
)

HANDBOOK = """\
# Switchboard handbook

## Support hours
Support answers on weekdays from 9:00 to 17:00 CET. Urgent incidents go to the on-call
engineer through the status page.

## Expenses
Travel must be booked through the travel desk. Receipts are submitted within 30 days.
"""

GARDENING = """\
Tomatoes need six to eight hours of direct sun a day. Water them deeply twice a week rather than
a little every day. Basil grows well next to tomatoes and keeps some pests away.
"""


def _search(question: str, *, top_k: int = 3, mode: str = "hybrid"):
    return search_passages(
        question,
        embed_one(question),
        embedder=embedder().name,
        top_k=top_k,
        timeout_ms=5000,
        mode=mode,
    )


def test_chunks_end_on_sentence_boundaries_and_overlap():
    text = " ".join(f"Sentence number {i} talks about topic {i % 7}." for i in range(120))
    chunks = chunk_text(text)

    assert len(chunks) > 3
    assert all(len(chunk) <= CHUNK_CHARS for chunk in chunks)
    assert all(chunk.endswith(".") and chunk[0].isupper() for chunk in chunks)
    for before, after in itertools.pairwise(chunks):
        # The next chunk repeats the end of the previous one, from a sentence start.
        assert sentences(before)[-1] in after and sentences(after)[0] in sentences(before)
    # Nothing is lost: every sentence is in some chunk.
    assert all(any(s in chunk for chunk in chunks) for s in sentences(text))


def test_headings_and_paragraphs_end_a_sentence():
    assert sentences("# Title\nFirst line without stop\n\nSecond paragraph. Third one") == [
        "# Title",
        "First line without stop",
        "Second paragraph.",
        "Third one",
    ]


def test_an_overlong_sentence_is_cut_between_words():
    chunks = chunk_text("word " * 1000)
    assert all(len(chunk) <= CHUNK_CHARS for chunk in chunks) and len(chunks) >= 7


@pytest.mark.django_db
def test_hybrid_search_finds_the_passage_that_answers():
    document_create_from_text(title="Handbook", text=HANDBOOK)
    document_create_from_text(title="Gardening", text=GARDENING)

    (best, *_) = _search("When does support answer?")
    assert best.document_title == "Handbook" and "9:00 to 17:00" in best.text
    (best, *_) = _search("how much sun do tomato plants need")
    assert best.document_title == "Gardening"


@pytest.mark.django_db
def test_full_text_matches_any_word_of_the_question_not_all():
    document_create_from_text(title="Handbook", text=HANDBOOK)
    # "refund" is nowhere in the document; "receipts" is: one matching word is enough.
    found = _search("refund receipts", mode="fulltext")
    assert found and "Receipts are submitted" in found[0].text


@pytest.mark.django_db
def test_vectors_of_another_embedder_are_not_searched():
    document = document_create_from_text(title="Handbook", text=HANDBOOK)
    Chunk.objects.filter(document=document).update(embedder="some-other-embedder")
    assert _search("When does support answer?", mode="vector") == []


@pytest.mark.django_db
def test_indexing_again_replaces_the_passages_and_bumps_the_revision():
    document = document_create_from_text(title="Handbook", text=HANDBOOK)
    first_revision = knowledge_revision()
    assert first_revision >= 1
    assert document.chunks.count() >= 1 and Document.objects.get().status == IngestStatus.READY

    document_index_text(document=document, text=GARDENING)

    assert knowledge_revision() == first_revision + 1
    texts = list(document.chunks.values_list("text", flat=True))
    assert texts and all("Tomatoes" in t or "Basil" in t or "Water" in t for t in texts)
    assert not _search("When does support answer?", mode="fulltext")


@pytest.mark.django_db(transaction=True)
def test_deleting_a_document_removes_its_passages_file_and_bumps_the_revision(settings, tmp_path):
    settings.KNOWLEDGE_FILES_DIR = tmp_path
    document = document_upload(
        document=Document(title="Notes"), file_name="notes.txt", data=b"Some notes here."
    )
    document_index_text(document=document, text="Some notes here.")
    stored = tmp_path / document.stored_file
    assert stored.exists()
    before = knowledge_revision()

    document_delete(document=document)

    assert knowledge_revision() == before + 1
    assert not Chunk.objects.exists() and not stored.exists()


def test_stored_file_names_cannot_point_outside_the_folder():
    for name in ("../secret_key", "/etc/passwd", "a" * 32 + "/x", ""):
        with pytest.raises(ValueError):
            storage.read_file(name)


@pytest.mark.django_db
def test_the_demo_seed_indexes_its_handbook_and_turns_retrieval_on():
    from django.core.management import call_command

    from knowledge.models import RetrievalPolicy

    call_command("seed_demo", stdout=io.StringIO())
    call_command("seed_demo", stdout=io.StringIO())  # idempotent

    handbook = Document.objects.get(title="Switchboard handbook")
    assert handbook.status == IngestStatus.READY and handbook.chunks.exists()
    policy = RetrievalPolicy.objects.get()
    assert policy.enabled and policy.template.slug == "assistant"
    (best, *_) = _search("When does support answer?")
    assert best.document_title == "Switchboard handbook"
