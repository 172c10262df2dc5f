from django.contrib import admin

from prompts_admin.models import PromptTemplate


@admin.register(PromptTemplate)
class PromptTemplateAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "model", "is_default", "updated_at"]
    prepopulated_fields = {"slug": ["name"]}
    search_fields = ["name", "slug"]
