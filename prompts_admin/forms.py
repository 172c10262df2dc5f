"""Admin forms: a template edit that may become a new version, label moves, rollbacks."""

from __future__ import annotations

import json

from django import forms

from gateway.models import LanguageModel
from gateway.tools.toolbox import tool_choices
from prompts_admin.models import PromptTemplate, PromptVersion
from prompts_admin.variables import BUILTIN_VARIABLES, PromptTemplateError, check_prompt


class VariablesField(forms.CharField):
    """Declared variables as a JSON object of name → default text."""

    widget = forms.Textarea(attrs={"rows": 3, "cols": 60})

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault(
            "help_text",
            'JSON, e.g. {"tone": "friendly"}. Built in, never declared: '
            + ", ".join(BUILTIN_VARIABLES)
            + ".",
        )
        super().__init__(**kwargs)

    def prepare_value(self, value):
        return json.dumps(value, indent=1) if isinstance(value, dict) else value

    def clean(self, value):
        value = super().clean(value).strip()
        if not value:
            return {}
        try:
            parsed = json.loads(value)
        except ValueError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc}") from exc
        if not isinstance(parsed, dict) or not all(isinstance(v, str) for v in parsed.values()):
            raise forms.ValidationError("Give an object of names to default texts.")
        return parsed


class PromptTemplateForm(forms.ModelForm):
    """The template's settings, and its prompt: a changed prompt is saved as the next version."""

    variables = VariablesField()
    version_model = forms.ModelChoiceField(
        LanguageModel.objects.all(),
        required=False,
        label="Model of this version",
        help_text="Empty: the template's model. A different one is part of the new version.",
    )
    change_note = forms.CharField(
        max_length=300,
        required=False,
        help_text="Required when the prompt, variables or version model change.",
    )
    tools = forms.MultipleChoiceField(
        choices=tool_choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Tools the model may call. MCP servers are registered under Gateway.",
    )
    label_as = forms.SlugField(
        max_length=50,
        required=False,
        label="Point label at the new version",
        help_text="Optional, e.g. staging. Leave empty to only save the version.",
    )

    class Meta:
        model = PromptTemplate
        fields = [
            "name",
            "slug",
            "description",
            "is_default",
            "system_prompt",
            "model",
            "temperature",
            "max_output_tokens",
            "tools",
            "connect_timeout_seconds",
            "first_token_timeout_seconds",
            "stall_timeout_seconds",
            "total_timeout_seconds",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.newest = (
            self.instance.versions.order_by("-number").first() if self.instance.pk else None
        )
        if self.newest:
            self.initial.setdefault("variables", self.newest.variables)
            self.initial.setdefault("version_model", self.newest.model_id)

    def version_changed(self) -> bool:
        data = self.cleaned_data
        if self.newest is None:
            return True
        return (
            data.get("system_prompt") != self.newest.system_prompt
            or data.get("variables") != self.newest.variables
            or (data.get("version_model") and data["version_model"].pk) != self.newest.model_id
        )

    def clean(self):
        data = super().clean()
        if "system_prompt" in data and "variables" in data:
            try:
                check_prompt(data["system_prompt"], data["variables"])
            except PromptTemplateError as exc:
                self.add_error("system_prompt", str(exc))
        if self.instance.pk and self.version_changed() and not data.get("change_note", "").strip():
            self.add_error("change_note", "Say what this version changes.")
        return data


class LabelMoveForm(forms.Form):
    name = forms.SlugField(max_length=50, initial="staging", help_text="e.g. production, staging")
    version = forms.ModelChoiceField(PromptVersion.objects.none())
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, template: PromptTemplate, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["version"].queryset = template.versions.all()


class RollbackForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), help_text="Kept in the label's history."
    )


class PreviewForm(forms.Form):
    version = forms.ModelChoiceField(PromptVersion.objects.none(), empty_label=None)
    variables = VariablesField(label="Sample values", help_text="JSON; overrides the samples.")
    user_message = forms.CharField(
        initial="Hello! What can you do?", help_text="Sent by a test run.", max_length=4000
    )

    def __init__(self, *args, template: PromptTemplate, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["version"].queryset = template.versions.all()


class DiffForm(forms.Form):
    old = forms.ModelChoiceField(PromptVersion.objects.none(), empty_label=None)
    new = forms.ModelChoiceField(PromptVersion.objects.none(), empty_label=None)

    def __init__(self, *args, template: PromptTemplate, **kwargs):
        super().__init__(*args, **kwargs)
        for field in ("old", "new"):
            self.fields[field].queryset = template.versions.all()
