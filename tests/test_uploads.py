"""Uploading knowledge documents in admin: limits, type by content, bounded parsing, storage.

Uploads go through Django admin as staff would; the real Celery worker indexes them.
"""

from __future__ import annotations

import time
import zlib
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from knowledge.extraction import ExtractionFailed, extract_text
from knowledge.models import Chunk, Document, IngestStatus, Kind
from knowledge.selectors import knowledge_revision

pytestmark = pytest.mark.django_db(transaction=True)

ADD_URL = f"/{settings.ADMIN_URL}knowledge/document/add/"


def _change_url(document: Document) -> str:
    return f"/{settings.ADMIN_URL}knowledge/document/{document.pk}/change/"


# --- files -----------------------------------------------------------------------------------


def _pdf_file(objects: list[bytes]) -> bytes:
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def pdf(lines: list[str] | None = None, *, content: bytes | None = None, flate=False) -> bytes:
    """A one-page PDF showing `lines` (or with the raw page `content` stream)."""
    if content is None:
        shown = " ".join(
            "({}) Tj T*".format(line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)"))
            for line in lines or []
        )
        content = f"BT /F1 12 Tf 72 720 Td 14 TL {shown} ET".encode()
    stream_filter = b"/Filter /FlateDecode " if flate else b""
    return _pdf_file(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>",
            b"<< /Length %d %s>>\nstream\n" % (len(content), stream_filter)
            + content
            + b"\nendstream",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        ]
    )


def pdf_bomb(megabytes: int = 300) -> bytes:
    """A ~300 KB PDF whose page stream inflates to `megabytes` MB."""
    compressor = zlib.compressobj(9)
    block = b"0" * (1 << 20)
    content = b"".join(compressor.compress(block) for _ in range(megabytes)) + compressor.flush()
    return pdf(content=content, flate=True)


PDF_LINES = ["The parking garage opens at 6:30 every weekday.", "Badges are renewed in March."]
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


# --- helpers -----------------------------------------------------------------------------------


def _upload(client, name: str, data: bytes, *, title="Office guide", document=None):
    url = _change_url(document) if document else ADD_URL
    return client.post(
        url, {"title": title, "upload": SimpleUploadedFile(name, data), "_save": "Save"}
    )


def _indexed(title: str, *, previous_status: str | None = None, timeout=90.0) -> Document:
    """The document once the worker has finished with its latest upload."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        document = Document.objects.get(title=title)
        if document.status != IngestStatus.PENDING:
            return document
        time.sleep(0.2)
    raise AssertionError(f"{title!r} was not indexed within {timeout:.0f} s")


def _files() -> set[str]:
    folder = Path(settings.KNOWLEDGE_FILES_DIR)
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


# --- tests -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data", "kind", "says"),
    [
        ("guide.pdf", pdf(PDF_LINES), Kind.PDF, "parking garage opens at 6:30"),
        (
            "guide.html",
            b"<!doctype html><html><head><title>x</title><style>p{}</style></head><body>"
            b"<h1>Parking</h1><p>The parking garage opens at <b>6:30</b> every weekday.</p>"
            b"<script>steal()</script></body></html>",
            Kind.HTML,
            "parking garage opens at 6:30",
        ),
        ("guide.md", b"# Parking\n\nThe garage opens at 6:30.", Kind.MARKDOWN, "opens at 6:30"),
    ],
)
def test_a_staff_upload_is_indexed_by_the_worker(
    admin_client, celery_worker, name, data, kind, says
):
    response = _upload(admin_client, name, data)
    assert response.status_code == 302, response.content.decode()[:2000]

    document = _indexed("Office guide")
    assert (document.status, document.error) == (IngestStatus.READY, "")
    assert document.kind == kind and document.source == name and document.size_bytes == len(data)
    passages = " ".join(document.chunks.values_list("text", flat=True))
    assert says in " ".join(passages.split())
    assert "steal()" not in passages and "<" not in passages  # markup and scripts are dropped


def test_a_corrupt_pdf_gives_a_clear_error(admin_client, celery_worker):
    broken = pdf(PDF_LINES)[:180]  # cut off mid-file, as a failed download would be
    assert _upload(admin_client, "broken.pdf", broken).status_code == 302

    document = _indexed("Office guide")
    assert document.status == IngestStatus.FAILED
    assert document.error.startswith("The PDF is damaged and could not be read")
    assert not document.chunks.exists()
    page = admin_client.get(_change_url(document)).content.decode()
    assert "The PDF is damaged and could not be read" in page and "Failed" in page


def test_a_reupload_replaces_the_document(admin_client, celery_worker):
    _upload(admin_client, "v1.md", b"The canteen serves lunch from noon.")
    document = _indexed("Office guide")
    revision = knowledge_revision()

    _upload(admin_client, "v2.pdf", pdf(PDF_LINES), document=document)
    replaced = _indexed("Office guide")

    assert replaced.pk == document.pk and replaced.kind == Kind.PDF
    assert Document.objects.count() == 1
    texts = " ".join(replaced.chunks.values_list("text", flat=True))
    assert "parking garage" in texts and "canteen" not in texts
    assert knowledge_revision() > revision
    assert document.stored_file not in _files()  # the replaced file is gone from disk


def test_a_broken_reupload_keeps_the_previous_passages(admin_client, celery_worker):
    _upload(admin_client, "v1.md", b"The canteen serves lunch from noon.")
    document = _indexed("Office guide")

    _upload(admin_client, "v2.pdf", b"%PDF-1.7\nnot really a pdf", document=document)
    failed = _indexed("Office guide")

    assert failed.status == IngestStatus.FAILED and "damaged" in failed.error
    assert failed.error.endswith("The previous version is still used for answers.")
    assert list(failed.chunks.values_list("text", flat=True)) == [
        "The canteen serves lunch from noon."
    ]


def test_a_new_document_cannot_silently_take_an_existing_title(admin_client):
    Document.objects.create(title="Office guide", text="x")
    response = _upload(admin_client, "guide.md", b"Something else.")
    assert response.status_code == 200
    assert "A document with this title exists" in response.content.decode()


def test_the_type_is_judged_by_content_not_by_name(admin_client, celery_worker):
    before = _files()
    response = _upload(admin_client, "totally-a-document.pdf", PNG)
    assert response.status_code == 200  # the form again, with the reason
    assert "This file is a PNG image" in response.content.decode()
    assert not Document.objects.exists() and _files() == before  # nothing stored

    html_named_txt = b"<html><body><p>Visitors sign in at the front desk.</p></body></html>"
    _upload(admin_client, "notes.txt", html_named_txt)
    document = _indexed("Office guide")
    assert document.kind == Kind.HTML
    assert list(document.chunks.values_list("text", flat=True)) == [
        "Visitors sign in at the front desk."
    ]


def test_an_oversized_upload_is_refused_and_nothing_is_stored(admin_client, settings):
    settings.KNOWLEDGE_MAX_UPLOAD_MB = 0.01
    before = _files()
    response = _upload(admin_client, "big.md", b"Large. " * 5000)
    assert response.status_code == 200
    assert "the limit is 0.01 MB" in response.content.decode()
    assert not Document.objects.exists() and _files() == before


@pytest.mark.parametrize(
    ("data", "says"),
    [(b"", "file is empty"), (b"\xff\xfe\x00\x00binary", "binary file"), (b"caf\xe9", "UTF-8")],
)
def test_unreadable_uploads_are_refused_with_a_reason(admin_client, data, says):
    response = _upload(admin_client, "file.txt", data)
    assert response.status_code == 200 and says in response.content.decode()


def test_upload_bombs_fail_cleanly():
    # 300 MB of zeros in a 300 KB PDF: refused while inflating, not after filling memory.
    with pytest.raises(ExtractionFailed, match="decompression bomb"):
        extract_text(pdf_bomb(), Kind.PDF)
    # 100,000 nested elements: a tree builder would recurse or balloon; this stops at a depth.
    with pytest.raises(ExtractionFailed, match="nested more than 512 elements deep"):
        extract_text(b"<html><body>" + b"<div>" * 100_000 + b"deep", Kind.HTML)
    # Parsing that runs too long is stopped.
    with pytest.raises(ExtractionFailed, match="took longer than"):
        with_timeout(0.01, lambda: extract_text(pdf(PDF_LINES), Kind.PDF))


def with_timeout(seconds: float, call):
    from django.test.utils import override_settings

    with override_settings(KNOWLEDGE_EXTRACT_TIMEOUT_SECONDS=seconds):
        return call()


def test_a_bomb_uploaded_in_admin_fails_cleanly_and_the_worker_carries_on(
    admin_client, celery_worker
):
    _upload(admin_client, "bomb.pdf", pdf_bomb(), title="Bomb")
    assert "decompression bomb" in _indexed("Bomb").error

    _upload(admin_client, "after.md", b"The worker is still here.", title="After")
    assert _indexed("After").status == IngestStatus.READY


def test_uploads_are_stored_outside_the_web_root_and_never_served(
    admin_client, client, celery_worker
):
    markup = b"<p>Shown as text: &lt;script&gt;window.x=1&lt;/script&gt;</p>"
    _upload(admin_client, "page.html", markup)
    document = _indexed("Office guide")
    stored = Path(settings.KNOWLEDGE_FILES_DIR) / document.stored_file
    assert stored.read_bytes() == markup

    web_roots = [Path(settings.STATIC_ROOT), *map(Path, settings.STATICFILES_DIRS)]
    assert not any(stored.resolve().is_relative_to(root.resolve()) for root in web_roots)
    for url in (
        f"/static/{document.stored_file}",
        f"/media/{document.stored_file}",
        f"/{document.stored_file}",
    ):
        assert client.get(url).status_code == 404
        assert admin_client.get(url).status_code == 404
    # Admin shows the extracted text escaped, and no link to the file.
    page = admin_client.get(_change_url(document)).content.decode()
    assert "&lt;script&gt;window.x=1&lt;/script&gt;" in page
    assert "<script>window.x=1" not in page and document.stored_file not in page
    assert Chunk.objects.filter(text__contains="<script>window.x=1</script>").exists()


def test_the_knowledge_admin_pages_render(admin_client, openai_template):
    from knowledge.models import RetrievalPolicy

    RetrievalPolicy.objects.create(template=openai_template)
    for page in ("knowledge/document/", "knowledge/document/add/", "knowledge/retrievalpolicy/"):
        assert admin_client.get(f"/{settings.ADMIN_URL}{page}").status_code == 200
    assert 'enctype="multipart/form-data"' in admin_client.get(ADD_URL).content.decode()
