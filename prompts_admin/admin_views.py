"""Admin pages of the prompt editor: diff, preview and test run, label moves and rollback,
experiment buttons. Each parses, checks the permission, calls a service and renders."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_POST

from prompts_admin.editor import preview as render_preview
from prompts_admin.editor import trial_run, version_diff
from prompts_admin.forms import DiffForm, LabelMoveForm, PreviewForm, RollbackForm
from prompts_admin.models import Experiment, PromptLabel, PromptTemplate
from prompts_admin.services import (
    RolloutError,
    experiment_abort,
    experiment_promote,
    experiment_ramp,
    experiment_start,
    label_move,
    label_rollback,
    rollback_target,
)
from prompts_admin.variables import PromptTemplateError

EXPERIMENT_STEPS = ("start", "ramp", "promote", "abort")


def _template(request: HttpRequest, model_admin, template_id: int) -> PromptTemplate:
    template = get_object_or_404(PromptTemplate, pk=template_id)
    if not model_admin.has_view_permission(request, template):
        raise PermissionDenied
    return template


def _page(request, model_admin, template, title: str, page: str, **context) -> TemplateResponse:
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "original": template,
        "title": title,
        **context,
    }
    return TemplateResponse(request, f"admin/prompts_admin/{page}.html", context)


def _change_url(template: PromptTemplate) -> str:
    return reverse("admin:prompts_admin_prompttemplate_change", args=[template.pk])


def diff(request: HttpRequest, model_admin, template_id: int) -> HttpResponse:
    template = _template(request, model_admin, template_id)
    versions = list(template.versions.all()[:2])
    initial = {"new": versions[0].pk, "old": versions[-1].pk} if versions else {}
    form = DiffForm(request.GET or None, initial=initial, template=template)
    table = None
    if form.is_valid():
        table = version_diff(form.cleaned_data["old"], form.cleaned_data["new"])
    elif not request.GET and versions:
        table = version_diff(versions[-1], versions[0])
    return _page(
        request, model_admin, template, f"Diff: {template}", "diff", form=form, table=table
    )


def preview(request: HttpRequest, model_admin, template_id: int) -> HttpResponse:
    template = _template(request, model_admin, template_id)
    form = PreviewForm(request.POST or None, template=template)
    context = {"form": form, "can_run": model_admin.has_change_permission(request, template)}
    if request.method == "POST" and form.is_valid():
        version = form.cleaned_data["version"]
        try:
            context["rendered"] = render_preview(version, form.cleaned_data["variables"])
        except PromptTemplateError as exc:
            form.add_error("variables", str(exc))
        else:
            if "test_run" in request.POST:
                if not context["can_run"]:
                    raise PermissionDenied
                answer, simulated = trial_run(
                    version, context["rendered"], form.cleaned_data["user_message"]
                )
                context |= {"answer": answer, "simulated": simulated}
    return _page(request, model_admin, template, f"Preview: {template}", "preview", **context)


def _require_label_change(request: HttpRequest) -> None:
    if not request.user.has_perm("prompts_admin.change_promptlabel"):
        raise PermissionDenied


def move_label(request: HttpRequest, model_admin, template_id: int) -> HttpResponse:
    template = _template(request, model_admin, template_id)
    _require_label_change(request)
    form = LabelMoveForm(request.POST or None, template=template)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        label = label_move(
            template=template,
            name=data["name"],
            version=data["version"],
            actor=request.user,
            reason=data["reason"],
        )
        messages.success(request, f"{label.name} now serves v{label.version.number}.")
        return HttpResponseRedirect(_change_url(template))
    return _page(
        request, model_admin, template, f"Move a label: {template}", "move_label", form=form
    )


def rollback(request: HttpRequest, model_admin, template_id: int, label_id: int) -> HttpResponse:
    template = _template(request, model_admin, template_id)
    _require_label_change(request)
    label = get_object_or_404(PromptLabel, pk=label_id, template=template)
    form = RollbackForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            label = label_rollback(
                label=label, actor=request.user, reason=form.cleaned_data["reason"]
            )
        except RolloutError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"{label.name} rolled back to v{label.version.number}.")
        return HttpResponseRedirect(_change_url(template))
    return _page(
        request,
        model_admin,
        template,
        f"Roll back {label.name}: {template}",
        "rollback",
        form=form,
        label=label,
        target=rollback_target(label),
    )


@require_POST
def experiment_step(
    request: HttpRequest, model_admin, experiment_id: int, step: str
) -> HttpResponse:
    experiment = get_object_or_404(Experiment, pk=experiment_id)
    if not model_admin.has_change_permission(request, experiment):
        raise PermissionDenied
    try:
        if step == "start":
            experiment_start(experiment=experiment, actor=request.user)
            messages.success(request, "Experiment started.")
        elif step == "ramp":
            share = experiment_ramp(experiment=experiment, actor=request.user)
            messages.success(request, f"Variants now get {share} % of users.")
        elif step == "promote":
            arm = get_object_or_404(experiment.arms, pk=request.POST.get("arm"), is_control=False)
            label = experiment_promote(experiment=experiment, arm=arm, actor=request.user)
            messages.success(request, f"production now serves v{label.version.number}.")
        elif step == "abort":
            experiment_abort(
                experiment=experiment, actor=request.user, reason=request.POST.get("reason", "")
            )
            messages.success(request, "Aborted: every user gets the control again.")
    except RolloutError as exc:
        messages.error(request, str(exc))
    url = reverse("admin:prompts_admin_experiment_change", args=[experiment.pk])
    return HttpResponseRedirect(url)
