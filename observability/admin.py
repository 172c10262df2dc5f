from django.contrib import admin

from observability.models import EvalResult, EvalRubric, Feedback, RequestLog


class ReadOnlyAdmin(admin.ModelAdmin):
    """A record of what happened: viewable by those allowed, edited by nobody."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class EvalResultInline(admin.StackedInline):
    model = EvalResult
    can_delete = False
    fields = [
        "status",
        "reason",
        "checks",
        "check_score",
        "judge_score",
        "judge_reason",
        "judge_model",
    ]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(RequestLog)
class RequestLogAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "user",
        "purpose",
        "model_used",
        "fallback_used",
        "cache_status",
        "status",
        "input_tokens",
        "output_tokens",
        "cost",
        "latency_ms",
        "ttft_ms",
        "retrieval_ms",
    ]
    list_filter = [
        "purpose",
        "status",
        "model_used",
        "fallback_used",
        "cache_status",
        "simulated",
        "retrieval_error",
    ]
    date_hierarchy = "created_at"
    inlines = [EvalResultInline]


@admin.register(EvalRubric)
class EvalRubricAdmin(admin.ModelAdmin):
    list_display = ["name", "judge_model", "sample_rate", "active", "updated_at"]
    list_filter = ["active"]


@admin.register(EvalResult)
class EvalResultAdmin(ReadOnlyAdmin):
    """Every eval job's outcome; failed ones say why, so a silent judge is visible."""

    list_display = ["created_at", "request_log", "status", "check_score", "judge_score", "reason"]
    list_filter = ["status", "judge_model"]
    date_hierarchy = "created_at"
    list_select_related = ["request_log"]


@admin.register(Feedback)
class FeedbackAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "user", "message", "score", "comment"]
    list_filter = ["score"]
    date_hierarchy = "created_at"
