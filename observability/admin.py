from django.contrib import admin

from observability.models import RequestLog


@admin.register(RequestLog)
class RequestLogAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "user",
        "model_used",
        "fallback_used",
        "cache_status",
        "status",
        "input_tokens",
        "output_tokens",
        "cost",
        "latency_ms",
        "ttft_ms",
    ]
    list_filter = ["status", "model_used", "fallback_used", "cache_status", "simulated"]
    date_hierarchy = "created_at"

    # Request logs are a record of what happened: nobody edits them.
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
