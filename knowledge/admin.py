from django.contrib import admin

from knowledge.models import Document


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = ["title", "source", "updated_at"]
    search_fields = ["title", "text"]
