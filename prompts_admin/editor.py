"""The prompt editor's tools: diff two versions, preview one rendered, test-run it."""

from __future__ import annotations

import copy
import difflib
from collections.abc import Mapping

from asgiref.sync import async_to_sync
from django.utils.safestring import SafeString, mark_safe

from gateway.providers import ChatRequest, endpoint_for
from prompts_admin.answers import Answer, answer_once
from prompts_admin.models import PromptVersion
from prompts_admin.variables import render_prompt, sample_values


def version_diff(old: PromptVersion, new: PromptVersion) -> SafeString:
    """A side-by-side HTML table; difflib escapes the text and adds only markup and classes."""
    table = difflib.HtmlDiff(wrapcolumn=70).make_table(
        old.system_prompt.splitlines(),
        new.system_prompt.splitlines(),
        fromdesc=f"v{old.number}",
        todesc=f"v{new.number}",
    )
    return mark_safe(table)  # HtmlDiff escapes both texts; it adds only markup and classes


def preview(version: PromptVersion, overrides: Mapping[str, str]) -> str:
    """The version rendered with sample values (built-in samples, declared defaults, overrides)."""
    values = {**sample_values(version.variables), **overrides}
    return render_prompt(version.system_prompt, values)


def trial_run(
    version: PromptVersion, rendered_prompt: str, user_message: str
) -> tuple[Answer, bool]:
    """Ask the version's model once (the simulator when no key is set): (answer, simulated)."""
    template = copy.copy(version.template)
    template.model = version.model or template.model
    request = ChatRequest(
        model=template.model.name,
        system=rendered_prompt,
        messages=[{"role": "user", "content": user_message}],
        max_output_tokens=template.max_output_tokens,
        temperature=template.temperature,
    )
    answer = async_to_sync(answer_once)(template, request)
    return answer, endpoint_for(template.model.provider).simulated
