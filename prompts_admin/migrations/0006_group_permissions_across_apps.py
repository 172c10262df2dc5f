"""What the two staff groups may do outside prompt management.

Managers read: dashboards, request logs, feedback and evals, prices, budgets, guardrail and
knowledge settings. Prompt editors configure assistants: guardrail and retrieval policies, the
knowledge base, eval rubrics, and review guardrail events; they read dashboards and logs too.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

EDITORS = "Prompt editors"
MANAGERS = "Managers"

MANAGER_PERMISSIONS = {
    "observability": [
        "view_dashboards",
        "view_requestlog",
        "view_feedback",
        "view_evalresult",
        "view_evalrubric",
    ],
    "gateway": ["view_languagemodel", "view_cachepolicy"],
    "budgets": ["view_budget", "view_templatecostpolicy", "view_emergencymode"],
    "guardrails": ["view_guardrailpolicy", "view_guardrailevent"],
    "knowledge": ["view_document", "view_retrievalpolicy"],
}
EDITOR_PERMISSIONS = {
    "observability": [
        "view_dashboards",
        "view_requestlog",
        "view_feedback",
        "view_evalresult",
        "view_evalrubric",
        "add_evalrubric",
        "change_evalrubric",
    ],
    "gateway": [
        "view_languagemodel",
        "view_cachepolicy",
        "add_cachepolicy",
        "change_cachepolicy",
    ],
    "budgets": ["view_templatecostpolicy"],
    "guardrails": [
        "view_guardrailpolicy",
        "add_guardrailpolicy",
        "change_guardrailpolicy",
        "view_guardrailevent",
        "change_guardrailevent",
    ],
    "knowledge": [
        "view_document",
        "add_document",
        "change_document",
        "delete_document",
        "view_retrievalpolicy",
        "add_retrievalpolicy",
        "change_retrievalpolicy",
    ],
}


def grant(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, grants in ((MANAGERS, MANAGER_PERMISSIONS), (EDITORS, EDITOR_PERMISSIONS)):
        group, _ = Group.objects.get_or_create(name=name)
        for app_label, codenames in grants.items():
            group.permissions.add(
                *Permission.objects.filter(
                    content_type__app_label=app_label, codename__in=codenames
                )
            )


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, grants in ((MANAGERS, MANAGER_PERMISSIONS), (EDITORS, EDITOR_PERMISSIONS)):
        for group in Group.objects.filter(name=name):
            for app_label, codenames in grants.items():
                group.permissions.remove(
                    *Permission.objects.filter(
                        content_type__app_label=app_label, codename__in=codenames
                    )
                )


class Migration(migrations.Migration):
    dependencies = [
        ("prompts_admin", "0005_prompt_groups"),
        ("observability", "0006_requestlog_cache"),
        ("gateway", "0004_semantic_cache"),
        ("budgets", "0001_budgets_and_emergency_mode"),
        ("guardrails", "0001_guardrail_policies_and_events"),
        ("knowledge", "0002_ingestion_chunks_and_policy"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
