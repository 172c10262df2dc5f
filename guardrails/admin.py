from django.contrib import admin, messages

from guardrails.models import GuardrailEvent, GuardrailPolicy, Review
from guardrails.services import event_review


@admin.register(GuardrailPolicy)
class GuardrailPolicyAdmin(admin.ModelAdmin):
    list_display = [
        "template",
        "injection_action",
        "injection_threshold",
        "retrieved_action",
        "redact_pii",
        "reply_secrets_action",
        "dangerous_code_action",
        "canary",
    ]
    list_select_related = ["template"]
    fieldsets = [
        (None, {"fields": ["template"]}),
        (
            "User messages",
            {"fields": ["injection_action", "injection_threshold", "use_classifier"]},
        ),
        ("Retrieved documents and tool results", {"fields": ["retrieved_action"]}),
        ("Personal data", {"fields": ["redact_pii", "restore_pii", "mask_reply_pii"]}),
        ("Replies", {"fields": ["canary", "reply_secrets_action", "dangerous_code_action"]}),
    ]


@admin.register(GuardrailEvent)
class GuardrailEventAdmin(admin.ModelAdmin):
    """The review queue: staff confirm blocks or mark false positives (kept as labelled data)."""

    list_display = ["created_at", "stage", "action", "reason", "score", "short_excerpt", "review"]
    list_filter = ["review", "stage", "action", "reason", "template"]
    search_fields = ["excerpt", "reason"]
    date_hierarchy = "created_at"
    actions = ["mark_false_positive", "mark_correct"]
    readonly_fields = [
        "created_at",
        "request_id",
        "stage",
        "action",
        "reason",
        "rules",
        "score",
        "pii_types",
        "excerpt",
        "user",
        "template",
        "message",
        "reviewed_by",
        "reviewed_at",
    ]
    fields = [*readonly_fields[:10], "review", *readonly_fields[10:]]
    list_select_related = ["template"]

    def has_add_permission(self, request):
        return False

    @admin.display(description="text")
    def short_excerpt(self, event: GuardrailEvent) -> str:
        return event.excerpt[:80] + ("…" if len(event.excerpt) > 80 else "")

    @admin.action(description="Mark as false positive (becomes benign training data)")
    def mark_false_positive(self, request, queryset):
        count = event_review(events=queryset, review=Review.FALSE_POSITIVE, reviewer=request.user)
        self.message_user(request, f"{count} marked as false positive.", messages.SUCCESS)

    @admin.action(description="Mark as correct")
    def mark_correct(self, request, queryset):
        count = event_review(events=queryset, review=Review.CONFIRMED, reviewer=request.user)
        self.message_user(request, f"{count} marked as correct.", messages.SUCCESS)

    def save_model(self, request, obj, form, change):
        if "review" in form.changed_data:
            event_review(events=[obj], review=obj.review, reviewer=request.user)
        else:
            super().save_model(request, obj, form, change)
