from django.contrib import admin, messages
from django.http import HttpRequest

from budgets.emergency import emergency_end, emergency_status
from budgets.models import Budget, EmergencyMode, TemplateCostPolicy


@admin.register(Budget)
class BudgetAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "daily_soft_usd",
        "daily_hard_usd",
        "monthly_soft_usd",
        "monthly_hard_usd",
    ]
    list_select_related = ["user", "group"]
    autocomplete_fields = ["user", "group"]
    search_fields = ["user__username", "group__name"]


@admin.register(TemplateCostPolicy)
class TemplateCostPolicyAdmin(admin.ModelAdmin):
    list_display = ["template", "downgrade_model", "max_input_tokens"]
    list_select_related = ["template", "downgrade_model"]


@admin.register(EmergencyMode)
class EmergencyModeAdmin(admin.ModelAdmin):
    list_display = ["__str__", "state", "daily_cap", "spend_today", "started_at", "ended_at"]
    fields = ["daily_cap_usd", "state", "spend_today", "started_at", "ended_at", "ended_by"]
    readonly_fields = ["state", "spend_today", "started_at", "ended_at", "ended_by"]
    actions = ["end_emergency_mode"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not EmergencyMode.objects.exists()  # one row: the global settings

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def changelist_view(self, request, extra_context=None):
        emergency_status()  # creates the row on first visit, so there is something to edit
        return super().changelist_view(request, extra_context)

    @admin.display(description="Emergency mode")
    def state(self, obj: EmergencyMode) -> str:
        status = emergency_status()
        if not status.active:
            return "off"
        return f"ON since {status.since:%H:%M} UTC, until {status.until:%H:%M} UTC"

    @admin.display(description="Daily cap (USD)")
    def daily_cap(self, obj: EmergencyMode) -> str:
        cap = emergency_status().cap_usd
        return f"${cap}" if cap is not None else "no cap"

    @admin.display(description="Spent today (USD)")
    def spend_today(self, obj: EmergencyMode) -> str:
        return f"${emergency_status().spend_today_usd:.4f}"

    @admin.action(description="End emergency mode (for the rest of today)")
    def end_emergency_mode(self, request: HttpRequest, queryset) -> None:
        if emergency_end(ended_by_id=request.user.id):
            # An action bypasses ModelAdmin's save, so it is put in the audit log by hand.
            for state in queryset:
                self.log_change(request, state, "Ended emergency mode for the rest of today.")
            self.message_user(request, "Emergency mode ended.", messages.SUCCESS)
        else:
            self.message_user(request, "Emergency mode was not on.", messages.WARNING)
