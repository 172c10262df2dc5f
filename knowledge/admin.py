from django import forms
from django.contrib import admin, messages
from django.db.models import Count
from django.template.defaultfilters import filesizeformat

from knowledge.models import Document, RetrievalPolicy
from knowledge.services import (
    UploadRejected,
    document_delete,
    document_upload,
    upload_kind,
    upload_size_check,
)
from knowledge.tasks import ingest_document


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
        messages.info(request, f"“{obj.title}” is being indexed; its status updates when done.")

    def delete_model(self, request, obj):
        document_delete(document=obj)

    def delete_queryset(self, request, queryset):
        for document in queryset:
            document_delete(document=document)

    @admin.action(description="Index the selected documents again")
    def reindex(self, request, queryset):
        queued = 0
        for document in queryset.exclude(stored_file=""):
            ingest_document.delay(document.pk, document.stored_file)
            queued += 1
        self.message_user(request, f"{queued} document(s) queued for indexing.")


@admin.register(RetrievalPolicy)
class RetrievalPolicyAdmin(admin.ModelAdmin):
    list_display = ["template", "enabled", "top_k"]
    list_editable = ["enabled", "top_k"]
