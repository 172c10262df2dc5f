"""Prompt versions and labels: immutable versions, variables checked at save, rollback used by
the very next turn, and the version actually served recorded on the reply and its log."""

from __future__ import annotations

import asyncio
import io
import re

import pytest
from channels.db import database_sync_to_async
from django.core.management import call_command
from django.db import DatabaseError, connection, connections, transaction
from django.db.migrations.executor import MigrationExecutor

from chat.models import Conversation, Message
from gateway.events import Done
from gateway.pipeline import Turn, run_turn
from observability.models import RequestLog
from prompts_admin.models import (
    ImmutableVersion,
    LabelMove,
    PromptLabel,
    PromptTemplate,
    PromptVersion,
)
from prompts_admin.services import label_move, label_rollback, version_create
from prompts_admin.variables import PromptTemplateError, render_prompt

pytestmark = pytest.mark.django_db(transaction=True)


def _turn(conversation: Conversation, text: str = "Hi") -> list:
    async def collect():
        try:
            return [e async for e in run_turn(Turn(conversation.user_id, conversation.id, text))]
        finally:
            await database_sync_to_async(connections.close_all)()

    return asyncio.run(collect())


def _system_sent(simulator) -> str:
    """The served prompt as the provider got it, without the guardrails' per-request canary."""
    upstream = simulator.get("/_sim/requests").json()["requests"][-1]
    return upstream["messages"][0]["content"].split("\n\nConfidential marker: ")[0]


@pytest.fixture
def conversation(make_user, openai_template) -> Conversation:
    return Conversation.objects.create(user=make_user(), template=openai_template)


def test_a_new_template_starts_at_version_1_labelled_production(openai_template):
    version = openai_template.versions.get()
    assert version.number == 1 and version.system_prompt == "You are a test assistant."
    assert openai_template.labels.get(name="production").version == version
    assert LabelMove.objects.get(label__template=openai_template).kind == "create"


@pytest.mark.parametrize(
    ("text", "variables", "says"),
    [
        ("Hello {{ usr_name }}.", {}, "Unknown variable(s): usr_name"),  # misspelt built-in
        ("Speak {{ tone }}.", {}, "Unknown variable(s): tone"),  # used, never declared
        ("Hi {{ user_name }", {}, "does not parse"),
        ("{{ user_name.__class__.__mro__ }}", {}, "does not render"),  # the sandbox refuses
        ("Hi", {"user_name": "x"}, "supplied by the app"),
    ],
)
def test_a_bad_variable_is_refused_when_the_version_is_saved(
    openai_template, text, variables, says
):
    with pytest.raises(PromptTemplateError, match=re.escape(says)):
        version_create(
            template=openai_template, system_prompt=text, variables=variables, change_note="x"
        )
    assert openai_template.versions.count() == 1


def test_declared_and_built_in_variables_are_filled_in_on_every_turn(
    conversation, simulator, openai_template
):
    user = conversation.user
    user.first_name = "Grace"
    user.save()
    version = version_create(
        template=openai_template,
        system_prompt="You help {{ user_name }} on {{ today }} as {{ assistant_name }}, "
        "{{ tone }}.",
        variables={"tone": "briefly"},
        change_note="personal",
    )
    label_move(template=openai_template, name="production", version=version, actor=None, reason="t")

    _turn(conversation)
    system = _system_sent(simulator)
    assert system.startswith("You help Grace on 20") and system.endswith(
        "as OpenAI assistant, briefly."
    )


def test_editing_never_changes_a_saved_version(openai_template):
    first = openai_template.versions.get()
    version_create(template=openai_template, system_prompt="Be terse.", change_note="terser")

    first.system_prompt = "rewritten in place"
    with pytest.raises(ImmutableVersion):
        first.save()
    # Not even a bulk update gets past the database.
    with pytest.raises(DatabaseError, match="immutable"), transaction.atomic():
        PromptVersion.objects.filter(pk=first.pk).update(system_prompt="rewritten in place")

    assert PromptVersion.objects.get(pk=first.pk).system_prompt == "You are a test assistant."
    assert [v.number for v in openai_template.versions.all()] == [2, 1]


def test_a_rollback_is_used_by_the_very_next_turn(
    conversation, simulator, openai_template, admin_user
):
    v2 = version_create(
        template=openai_template, system_prompt="You are version two.", change_note="v2"
    )
    label = label_move(
        template=openai_template, name="production", version=v2, actor=admin_user, reason="ship v2"
    )
    _turn(conversation, "first")
    assert _system_sent(simulator) == "You are version two."

    label_rollback(label=label, actor=admin_user, reason="v2 rambles")
    events = _turn(conversation, "second")

    assert isinstance(events[-1], Done)
    assert _system_sent(simulator) == "You are a test assistant."
    move = label.moves.first()
    assert (move.kind, move.from_version, move.to_version.number) == ("rollback", v2, 1)
    assert (move.actor, move.reason) == (admin_user, "v2 rambles")


def test_rolling_back_twice_walks_further_back_not_forward(openai_template):
    label = PromptLabel.objects.get(template=openai_template, name="production")
    for n in (2, 3):
        version = version_create(
            template=openai_template, system_prompt=f"v{n}", change_note=str(n)
        )
        label_move(
            template=openai_template, name="production", version=version, actor=None, reason=""
        )

    assert label_rollback(label=label, actor=None, reason="bad v3").version.number == 2
    assert label_rollback(label=label, actor=None, reason="bad v2").version.number == 1


def test_the_served_version_is_recorded_on_the_reply_and_its_log(
    conversation, simulator, openai_template
):
    staging = version_create(
        template=openai_template, system_prompt="Staging text.", change_note="s"
    )
    label_move(template=openai_template, name="staging", version=staging, actor=None, reason="")
    _turn(conversation)

    production = openai_template.labels.get(name="production").version
    log = RequestLog.objects.get()
    reply = Message.objects.get(role="assistant")
    assert log.prompt_version == production and reply.prompt_version == production
    assert log.experiment_arm is None


def test_the_demo_seed_creates_an_assistant_with_version_1_in_production(openai_template):
    PromptTemplate.objects.all().delete()  # the seed adds its assistant only to an empty table
    call_command("seed_demo", stdout=io.StringIO())
    template = PromptTemplate.objects.get(slug="assistant")
    version = template.labels.get(name="production").version
    assert version.number == 1 and version.system_prompt == template.system_prompt


def test_templates_from_before_versioning_get_version_1_and_a_production_label(
    openai_template,
):
    """The data migration, run forward from the schema before versions on an old template."""
    executor = MigrationExecutor(connection)
    before = [("prompts_admin", "0002_router")]
    executor.migrate(before)
    old_apps = executor.loader.project_state(before).apps
    old_model = old_apps.get_model("prompts_admin", "PromptTemplate")
    old_model.objects.create(
        slug="legacy",
        name="Legacy",
        system_prompt="Use {braces} and {{ odd }} text literally.",
        model_id=openai_template.model_id,
    )

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    legacy = PromptTemplate.objects.get(slug="legacy")
    version = legacy.labels.get(name="production").version
    assert version.number == 1
    # Old plain text that is not a valid template is kept literal, not refused or mangled.
    assert render_prompt(version.system_prompt, {}) == "Use {braces} and {{ odd }} text literally."


def test_a_template_made_in_code_keeps_braces_in_its_text_literal(openai_template):
    text = 'Reply as {"answer": ...} and never {{ invent }} fields.'
    template = PromptTemplate.objects.create(
        slug="json-helper", name="JSON helper", system_prompt=text, model=openai_template.model
    )
    version = template.labels.get(name="production").version
    assert render_prompt(version.system_prompt, {}) == text
