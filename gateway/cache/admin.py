from django.contrib import admin

from gateway.cache.models import CacheEntry, CachePolicy


@admin.register(CachePolicy)
class CachePolicyAdmin(admin.ModelAdmin):
    list_display = ["template", "enabled", "personal", "ttl_seconds", "max_entries"]
    list_filter = ["enabled", "personal"]
    autocomplete_fields = ["template"]


@admin.register(CacheEntry)
class CacheEntryAdmin(admin.ModelAdmin):
    list_display = ["query", "template_id", "model", "hits", "last_used_at", "expires_at"]
    list_filter = ["model"]
    search_fields = ["query"]
    readonly_fields = [f.name for f in CacheEntry._meta.fields if f.name != "embedding"]
    exclude = ["embedding"]

    def has_add_permission(self, request) -> bool:
        return False  # answers are cached by turns, not typed in
