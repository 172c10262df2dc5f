"""Stage 3: prompt selection — template → version, via a running experiment's arm or the
production label. Read from the database per turn, so a rollback is used by the next turn."""

from __future__ import annotations

import copy
import logging

from django.contrib.auth import get_user_model

from gateway.db import in_db_thread
from prompts_admin.models import PromptTemplate
from prompts_admin.selectors import PromptChoice, prompt_for_turn

log = logging.getLogger(__name__)


def _select(template: PromptTemplate, user_id: int) -> PromptChoice:
    user = get_user_model().objects.filter(pk=user_id).only("username", "first_name").first()
    user_name = (user.first_name or user.get_username()) if user else ""
    try:
        return prompt_for_turn(template=template, user_id=user_id, user_name=user_name)
    except Exception:
        # Labels unreadable: answer with the newest saved text rather than not at all.
        log.exception("prompt selection failed for %s; using its newest text", template.slug)
        return PromptChoice(template.system_prompt, template.model, None)


async def select_prompt(*, template: PromptTemplate, user_id: int) -> PromptChoice:
    return await in_db_thread(_select)(template, user_id)


def served_template(template: PromptTemplate, choice: PromptChoice) -> PromptTemplate:
    """The template as this turn runs it: the version's model, if it overrides the template's."""
    if choice.model.pk == template.model_id:
        return template
    served = copy.copy(template)
    served.model = choice.model
    return served
