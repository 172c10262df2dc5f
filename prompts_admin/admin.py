"""Prompt editing in Django admin: a thin layer over services.py, selectors.py and editor.py.

"Prompt editors" may edit and roll out; "Managers" have view permissions only, so Django shows
them read-only pages, and every action and button below checks the change permission too.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils.html import format_html

from prompts_admin import admin_views
from prompts_admin.forms import PromptTemplateForm
from prompts_admin.models import (
    Experiment,
    ExperimentArm,
    ExperimentEvent,
    FallbackStep,
    LabelMove,
    PromptLabel,
    PromptTemplate,
    PromptVersion,
    ShadowRun,
)
from prompts_admin.results import (
    experiment_reports,
    shadow_reports,
    shadow_summary,
    version_reports,
)
from prompts_admin.services import (
    RolloutError,
    experiment_abort,
    experiment_ramp,
    experiment_start,
    label_move,
    version_create,
)


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class FallbackStepInline(admin.TabularInline):
    model = FallbackStep
    extra = 1
    ordering = ["position"]
    verbose_name = "fallback model"
    verbose_name_plural = "fallback chain (tried in order after the template's own model)"


def rollback_link(label: PromptLabel) -> str:
    url = reverse("admin:prompts_admin_prompttemplate_rollback", args=[label.template_id, label.pk])
    return format_html('<a class="button" href="{}">Roll back…</a>', url)


class PromptLabelInline(ReadOnlyInline):
    model = PromptLabel
    fields = ["name", "version", "updated_at", "rollback"]
    readonly_fields = fields

    @admin.display(description="")
    def rollback(self, label: PromptLabel) -> str:
        return rollback_link(label)


class PromptVersionInline(ReadOnlyInline):
    model = PromptVersion
    fields = ["number", "change_note", "model", "author", "created_at"]
    readonly_fields = fields
    verbose_name_plural = "history (every version, newest first; read-only)"


EDITOR_ONLY_FIELDS = ("variables", "version_model", "change_note", "label_as")


@admin.register(PromptTemplate)
class PromptTemplateAdmin(admin.ModelAdmin):
    form = PromptTemplateForm
    inlines = [PromptLabelInline, PromptVersionInline, FallbackStepInline]
    list_display = ["name", "slug", "model", "production_version", "is_default", "updated_at"]
    prepopulated_fields = {"slug": ["name"]}
    search_fields = ["name", "slug"]
    readonly_fields = ["editor_tools", "results_by_version"]
    change_form_template = "admin/prompts_admin/prompttemplate/change_form.html"

    def get_fieldsets(self, request, obj=None):
        prompt = ["system_prompt", *EDITOR_ONLY_FIELDS]
        if obj is not None and not self.has_change_permission(request, obj):
            prompt = ["system_prompt"]  # read-only page: the form-only fields do not exist
        fieldsets = [
            (None, {"fields": ["name", "slug", "description", "is_default"]}),
            ("Prompt (saving a change creates the next immutable version)", {"fields": prompt}),
            ("Model", {"fields": ["model", "temperature", "max_output_tokens"]}),
            ("Tools (function calling)", {"fields": ["tools"]}),
            (
                "Timeouts of each model call",
                {
                    "classes": ["collapse"],
                    "fields": [
                        "connect_timeout_seconds",
                        "first_token_timeout_seconds",
                        "stall_timeout_seconds",
                        "total_timeout_seconds",
                    ],
                },
            ),
        ]
        if obj is not None:
            fieldsets.insert(1, ("Editor", {"fields": ["editor_tools"]}))
            fieldsets.append(("Results by version", {"fields": ["results_by_version"]}))
        return fieldsets

    @admin.display(description="production")
    def production_version(self, template: PromptTemplate) -> str:
        label = template.labels.filter(name=PromptLabel.PRODUCTION).select_related("version")
        return f"v{label[0].version.number}" if label else "—"

    @admin.display(description="Tools")
    def editor_tools(self, template: PromptTemplate) -> str:
        links = [
            ("Diff versions", "prompts_admin_prompttemplate_diff"),
            ("Preview and test run", "prompts_admin_prompttemplate_preview"),
            ("Move a label", "prompts_admin_prompttemplate_move_label"),
        ]
        return format_html(
            " ".join(['<a class="button" href="{}">{}</a>'] * len(links)),
            *[
                part
                for text, name in links
                for part in (reverse(f"admin:{name}", args=[template.pk]), text)
            ],
        )

    @admin.display(description="")
    def results_by_version(self, template: PromptTemplate) -> str:
        return render_to_string(
            "admin/prompts_admin/results.html", {"reports": version_reports(template)}
        )

    @transaction.atomic
    def save_model(self, request, obj, form, change) -> None:
        data = form.cleaned_data
        obj._skip_bootstrap = True  # the first version is made here, with its author and note
        super().save_model(request, obj, form, change)
        if not form.version_changed():
            return
        version = version_create(
            template=obj,
            system_prompt=data["system_prompt"],
            variables=data["variables"],
            model=data.get("version_model"),
            change_note=data.get("change_note") or "First version",
            author=request.user,
        )
        labels = [data["label_as"]] if data.get("label_as") else []
        if not change:
            labels.append(PromptLabel.PRODUCTION)
        for name in dict.fromkeys(labels):
            label_move(
                template=obj,
                name=name,
                version=version,
                actor=request.user,
                reason=version.change_note,
            )
        messages.info(request, f"Saved version {version.number}.")

    def get_urls(self):
        def view(func, name: str, route: str):
            wrapped = self.admin_site.admin_view(lambda request, **kw: func(request, self, **kw))
            return path(route, wrapped, name=f"prompts_admin_prompttemplate_{name}")

        return [
            view(admin_views.diff, "diff", "<int:template_id>/diff/"),
            view(admin_views.preview, "preview", "<int:template_id>/preview/"),
            view(admin_views.move_label, "move_label", "<int:template_id>/labels/move/"),
            view(
                admin_views.rollback,
                "rollback",
                "<int:template_id>/labels/<int:label_id>/rollback/",
            ),
            *super().get_urls(),
        ]


@admin.register(PromptVersion)
class PromptVersionAdmin(admin.ModelAdmin):
    """Versions are created by editing their template; here they can only be read."""

    list_display = ["__str__", "change_note", "model", "author", "created_at"]
    list_filter = ["template"]
    fields = [
        "template",
        "number",
        "system_prompt",
        "variables",
        "model",
        "change_note",
        "author",
        "created_at",
    ]
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class LabelMoveInline(ReadOnlyInline):
    model = LabelMove
    fields = ["at", "kind", "from_version", "to_version", "actor", "reason"]
    readonly_fields = fields
    show_change_link = False
    verbose_name_plural = "history"


@admin.register(PromptLabel)
class PromptLabelAdmin(admin.ModelAdmin):
    """Labels move only through their template's pages (move, roll back, promote), on record."""

    list_display = ["template", "name", "version", "updated_at", "rollback"]
    list_filter = ["template", "name"]
    fields = ["template", "name", "version", "updated_at"]
    readonly_fields = fields
    inlines = [LabelMoveInline]

    @admin.display(description="")
    def rollback(self, label: PromptLabel) -> str:
        return rollback_link(label)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ExperimentArmInline(admin.TabularInline):
    model = ExperimentArm
    extra = 2
    fields = [
        "name",
        "version",
        "is_control",
        "percent",
        "stopped_at",
        "stop_reason",
        "stop_numbers",
    ]
    readonly_fields = ["stopped_at", "stop_reason", "stop_numbers"]

    def _draft(self, obj) -> bool:
        return obj is None or obj.state == Experiment.State.DRAFT

    def has_add_permission(self, request, obj=None) -> bool:
        return self._draft(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None) -> bool:
        return self._draft(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self._draft(obj) and super().has_delete_permission(request, obj)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "version":
            kwargs["queryset"] = PromptVersion.objects.select_related("template")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class ExperimentEventInline(ReadOnlyInline):
    model = ExperimentEvent
    fields = ["at", "action", "arm", "actor", "reason", "numbers"]
    readonly_fields = fields
    show_change_link = False
    verbose_name_plural = "log (the automatic rollback acts as the user auto-rollback)"


@admin.register(Experiment)
class ExperimentAdmin(admin.ModelAdmin):
    list_display = ["name", "template", "mode", "state", "traffic", "started_at", "ended_at"]
    list_filter = ["state", "mode", "template"]
    inlines = [ExperimentArmInline, ExperimentEventInline]
    readonly_fields = ["state", "started_at", "ended_at", "results", "shadow_results"]
    actions = ["start_selected", "ramp_selected", "abort_selected"]
    change_form_template = "admin/prompts_admin/experiment/change_form.html"

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("arms")

    def get_fields(self, request, obj=None):
        fields = ["name", "template", "mode", "guard_metric", "state", "started_at", "ended_at"]
        if obj is not None:
            fields.append("shadow_results" if obj.mode == Experiment.Mode.SHADOW else "results")
        return fields

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.state != Experiment.State.DRAFT:
            return [*self.readonly_fields, "template", "mode"]
        return self.readonly_fields

    @admin.display(description="variant traffic")
    def traffic(self, experiment: Experiment) -> str:
        arms = [a for a in experiment.arms.all() if not a.is_control]
        return ", ".join(f"{a.name} {a.percent} %" for a in arms) or "—"

    @admin.display(description="Results (95 % intervals; p: one-sided, variant worse than control)")
    def results(self, experiment: Experiment) -> str:
        return render_to_string(
            "admin/prompts_admin/results.html", {"reports": experiment_reports(experiment)}
        )

    @admin.display(description="Shadow answers (recorded, never shown)")
    def shadow_results(self, experiment: Experiment) -> str:
        summaries = render_to_string(
            "admin/prompts_admin/shadow_results.html", {"summaries": shadow_summary(experiment)}
        )
        numbers = render_to_string(
            "admin/prompts_admin/results.html", {"reports": shadow_reports(experiment)}
        )
        return summaries + numbers

    def save_model(self, request, obj, form, change) -> None:
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def _each(self, request, queryset, verb: str, service) -> None:
        for experiment in queryset:
            try:
                service(experiment=experiment, actor=request.user)
            except RolloutError as exc:
                self.message_user(request, f"{experiment}: {exc}", messages.ERROR)
            else:
                self.message_user(request, f"{experiment}: {verb}.")

    @admin.action(description="Start selected experiments", permissions=["change"])
    def start_selected(self, request, queryset) -> None:
        self._each(request, queryset, "started", experiment_start)

    @admin.action(description="Ramp up (10 → 25 → 50 → 100 %%)", permissions=["change"])
    def ramp_selected(self, request, queryset) -> None:
        self._each(request, queryset, "ramped up", experiment_ramp)

    @admin.action(description="Abort: everyone gets the control", permissions=["change"])
    def abort_selected(self, request, queryset) -> None:
        self._each(request, queryset, "aborted", experiment_abort)

    def get_urls(self):
        wrapped = self.admin_site.admin_view(
            lambda request, **kw: admin_views.experiment_step(request, self, **kw)
        )
        steps = [
            path(
                f"<int:experiment_id>/{step}/",
                wrapped,
                {"step": step},
                name=f"prompts_admin_experiment_{step}",
            )
            for step in admin_views.EXPERIMENT_STEPS
        ]
        return [*steps, *super().get_urls()]


@admin.register(ShadowRun)
class ShadowRunAdmin(admin.ModelAdmin):
    list_display = ["arm", "status", "similarity", "latency_ms", "cost", "created_at"]
    list_filter = ["arm__experiment", "status"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
