"""System prompts are sandboxed Jinja2 templates with declared variables, checked at save.

The pipeline supplies `BUILTIN_VARIABLES` on every turn; a version declares any others with a
default. A variable used but neither built in nor declared (a typo, a forgotten declaration) is
refused when the version is saved, so it is never discovered at request time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from jinja2 import StrictUndefined, TemplateError, meta
from jinja2.sandbox import SandboxedEnvironment

# What the pipeline knows about every turn, with the sample used to check a version at save.
BUILTIN_VARIABLES: dict[str, str] = {
    "user_name": "Ada",
    "today": "2026-01-31",
    "assistant_name": "Assistant",
}

_env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


class PromptTemplateError(ValueError):
    """The text cannot be a version: it does not parse, or uses an unknown variable."""


def check_prompt(text: str, declared: Mapping[str, str]) -> None:
    """Raise PromptTemplateError unless `text` parses and renders with only known variables."""
    if clash := sorted(set(declared) & set(BUILTIN_VARIABLES)):
        raise PromptTemplateError(f"{', '.join(clash)} is supplied by the app; do not declare it.")
    bad_names = [name for name in declared if not name.isidentifier()]
    if bad_names:
        raise PromptTemplateError(f"Not a valid variable name: {', '.join(sorted(bad_names))}.")
    try:
        used = meta.find_undeclared_variables(_env.parse(text))
    except TemplateError as exc:
        raise PromptTemplateError(f"The template does not parse: {exc}") from exc
    unknown = sorted(used - set(declared) - set(BUILTIN_VARIABLES))
    if unknown:
        raise PromptTemplateError(
            f"Unknown variable(s): {', '.join(unknown)}. Declare them with a default, or use one "
            f"the app supplies: {', '.join(BUILTIN_VARIABLES)}."
        )
    render_prompt(text, sample_values(declared))  # attribute typos etc. surface here


def literal_if_invalid(text: str) -> str:
    """Plain text from before versioning (or a seed) kept literal if it is not a valid template."""
    try:
        check_prompt(text, {})
    except PromptTemplateError:
        return "{% raw %}" + text.replace("{% endraw %}", "") + "{% endraw %}"
    return text


def sample_values(declared: Mapping[str, str]) -> dict[str, str]:
    return {**BUILTIN_VARIABLES, **declared}


def render_prompt(text: str, values: Mapping[str, object]) -> str:
    """Render in the sandbox; raises PromptTemplateError on any undefined name or unsafe access."""
    try:
        return _env.from_string(text).render(**values)
    except TemplateError as exc:
        raise PromptTemplateError(f"The template does not render: {exc}") from exc


def turn_values(
    *, declared: Mapping[str, str], user_name: str, assistant_name: str, today: dt.date
) -> dict[str, str]:
    """The values of one turn: declared defaults, then what the app knows (which wins)."""
    return {
        **declared,
        "user_name": user_name,
        "assistant_name": assistant_name,
        "today": today.isoformat(),
    }
