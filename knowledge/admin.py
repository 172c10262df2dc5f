from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import Count
from django.template.defaultfilters import filesizeformat

from knowledge.models import Document, IngestStatus, RetrievalPolicy
from knowledge.services import (
    UploadRejected,
    document_delete,
    document_queue_ingest,
    document_upload,
    upload_kind,
    upload_size_check,
)


class DocumentForm(forms.ModelForm):
    upload = forms.FileField(
        required=False,
        label="File",
        help_text="Text, Markdown, PDF or HTML. Uploading to an existing document replaces it.",
    )

    class Meta:
        model = Document
        fields = ["title"]

    def clean_title(self):
        title = self.cleaned_data["title"]
        taken = Document.objects.filter(title=title).exclude(pk=self.instance.pk)
        if taken.exists():
            raise forms.ValidationError(
                "A document with this title exists; open it to upload a replacement."
            )
        return title

    def clean_upload(self):
        upload = self.cleaned_data.get("upload")
        if upload is None:
            if not self.instance.pk:
                raise forms.ValidationError("Choose a file to upload.")
            return None
        try:
            upload_size_check(upload.size)
            data = upload.read()
            upload_kind(file_name=upload.name, data=data)
        except UploadRejected as rejected:
            raise forms.ValidationError(str(rejected)) from None
        self.upload_data = data
        return upload


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    form = DocumentForm
    list_display = ["title", "status", "kind", "source", "passages", "updated_at"]
    list_filter = ["status", "kind"]
    search_fields = ["title", "text"]
    readonly_fields = [
        "status",
        "error",
        "kind",
        "source",
        "size",
        "passages",
        "ingested_at",
        "updated_at",
        "text_preview",
    ]
    actions = ["reindex"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(chunk_count=Count("chunks"))

    @admin.display(description="passages", ordering="chunk_count")
    def passages(self, document: Document) -> int:
        return getattr(document, "chunk_count", None) or document.chunks.count()

    @admin.display(description="extracted text")
    def text_preview(self, document: Document) -> str:
        """The start of the text (a PDF can hold millions of characters; the page need not)."""
        limit = 5000
        text = document.text
        return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} characters)"

    @admin.display(description="size")
    def size(self, document: Document) -> str:
        return filesizeformat(document.size_bytes) if document.size_bytes else "—"

    def save_model(self, request, obj, form, change):
        upload = form.cleaned_data.get("upload")
        if upload is None:
            obj.save()
            return
        document_upload(document=obj, file_name=upload.name, data=form.upload_data)
        # Admin saves inside a transaction: the ingestion is queued when it commits, so whether
        # it was queued is known only then (still before the response's messages are written).
        transaction.on_commit(lambda: _say_whether_queued(request, obj))

    def delete_model(self, request, obj):
        document_delete(document=obj)

    def delete_queryset(self, request, queryset):
        for document in queryset:
            document_delete(document=document)

    @admin.action(description="Index the selected documents again")
    def reindex(self, request, queryset):
        outcomes = [
            document_queue_ingest(document_id=document.pk, stored_file=document.stored_file)
            for document in queryset.exclude(stored_file="")
        ]
        self.message_user(request, f"{sum(outcomes)} document(s) queued for indexing.")
        if not_queued := outcomes.count(False):
            self.message_user(
                request,
                f"{not_queued} document(s) not queued: the task queue is unavailable. "
                "They show “Not queued”; try again once it is back.",
                messages.ERROR,
            )


def _say_whether_queued(request, document: Document) -> None:
    document.refresh_from_db(fields=["status"])
    if document.status == IngestStatus.NOT_QUEUED:
        messages.error(
            request,
            f"“{document.title}” was saved but NOT queued for indexing: the task queue is "
            "unavailable. Run “Index the selected documents again” on it once it is back.",
        )
    else:
        messages.info(
            request, f"“{document.title}” is being indexed; its status updates when done."
        )


@admin.register(RetrievalPolicy)
class RetrievalPolicyAdmin(admin.ModelAdmin):
    list_display = ["template", "enabled", "top_k"]
    list_editable = ["enabled", "top_k"]
