"""Groups: "Prompt editors" edit and roll out prompts; "Managers" only look.

Members also need `is_staff` to enter admin; the group decides what they may do there.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

EDITORS = "Prompt editors"
MANAGERS = "Managers"

EDITOR_PERMISSIONS = {
    "prompttemplate": ["view", "add", "change"],
    "fallbackstep": ["view", "add", "change", "delete"],
    "promptversion": ["view", "add"],
    "promptlabel": ["view", "add", "change"],
    "labelmove": ["view"],
    "experiment": ["view", "add", "change"],
    "experimentarm": ["view", "add", "change", "delete"],
    "experimentevent": ["view"],
    "shadowrun": ["view"],
}
VIEW_ONLY = {model: ["view"] for model in EDITOR_PERMISSIONS}


def make_groups(apps, schema_editor):
    # Permissions are normally created after all migrations; these need them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, grants in ((EDITORS, EDITOR_PERMISSIONS), (MANAGERS, VIEW_ONLY)):
        group, _ = Group.objects.get_or_create(name=name)
        codenames = [f"{action}_{model}" for model, actions in grants.items() for action in actions]
        group.permissions.add(
            *Permission.objects.filter(
                content_type__app_label="prompts_admin", codename__in=codenames
            )
        )


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=[EDITORS, MANAGERS]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("prompts_admin", "0004_versions_from_templates"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(make_groups, remove_groups)]
