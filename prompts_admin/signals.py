"""A template is never without a version: creating one (admin, seed, a test) makes version 1."""

from __future__ import annotations

from django.db.models.signals import post_save
from django.dispatch import receiver

from prompts_admin.models import PromptTemplate
from prompts_admin.services import template_bootstrap


@receiver(post_save, sender=PromptTemplate, dispatch_uid="prompt_template_bootstrap")
def give_new_template_its_first_version(
    sender, instance: PromptTemplate, created: bool, raw: bool, **kwargs
) -> None:
    if created and not raw and not getattr(instance, "_skip_bootstrap", False):
        template_bootstrap(template=instance)
