"""Every existing template gets version 1 from its system prompt, labelled production.

Versions are immutable: a trigger refuses any change to what a saved version says, whatever
code path tries (the author may still be cleared when that user is deleted).
"""

from django.db import migrations

from prompts_admin.variables import literal_if_invalid

IMMUTABLE = """
CREATE OR REPLACE FUNCTION prompts_admin_version_is_immutable() RETURNS trigger AS $$
BEGIN
    IF NEW.template_id IS DISTINCT FROM OLD.template_id
       OR NEW.number IS DISTINCT FROM OLD.number
       OR NEW.system_prompt IS DISTINCT FROM OLD.system_prompt
       OR NEW.variables IS DISTINCT FROM OLD.variables
       OR NEW.model_id IS DISTINCT FROM OLD.model_id
       OR NEW.change_note IS DISTINCT FROM OLD.change_note
       OR NEW.created_at IS DISTINCT FROM OLD.created_at THEN
        RAISE EXCEPTION 'prompt version % is immutable; save a new version', OLD.id;
    END IF;
    RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER prompt_version_is_immutable BEFORE UPDATE ON prompts_admin_promptversion
    FOR EACH ROW EXECUTE FUNCTION prompts_admin_version_is_immutable();
"""
MUTABLE = """
DROP TRIGGER IF EXISTS prompt_version_is_immutable ON prompts_admin_promptversion;
DROP FUNCTION IF EXISTS prompts_admin_version_is_immutable();
"""


def first_versions(apps, schema_editor):
    PromptTemplate = apps.get_model("prompts_admin", "PromptTemplate")
    PromptVersion = apps.get_model("prompts_admin", "PromptVersion")
    PromptLabel = apps.get_model("prompts_admin", "PromptLabel")
    LabelMove = apps.get_model("prompts_admin", "LabelMove")
    for template in PromptTemplate.objects.filter(versions__isnull=True):
        version = PromptVersion.objects.create(
            template=template,
            number=1,
            system_prompt=literal_if_invalid(template.system_prompt),
            change_note="Version 1, from the prompt before versioning",
        )
        label = PromptLabel.objects.create(template=template, name="production", version=version)
        LabelMove.objects.create(
            label=label, kind="create", to_version=version, reason="Versioning introduced"
        )


class Migration(migrations.Migration):
    dependencies = [("prompts_admin", "0003_prompt_versions")]

    operations = [
        migrations.RunSQL(IMMUTABLE, MUTABLE),
        migrations.RunPython(first_versions, migrations.RunPython.noop),
    ]
