from django.contrib import admin

from prompts_admin.models import FallbackStep, PromptTemplate


class FallbackStepInline(admin.TabularInline):
    model = FallbackStep
    extra = 1
    ordering = ["position"]
    verbose_name = "fallback model"
    verbose_name_plural = "fallback chain (tried in order after the template's own model)"


@admin.register(PromptTemplate)
class PromptTemplateAdmin(admin.ModelAdmin):
    inlines = [FallbackStepInline]
    list_display = ["name", "slug", "model", "is_default", "updated_at"]
    prepopulated_fields = {"slug": ["name"]}
    search_fields = ["name", "slug"]
