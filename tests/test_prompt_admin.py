"""Prompt editing in admin, as the two groups use it: editors edit, roll out and roll back;
managers only look. Django's test client against the real admin and the simulator."""

from __future__ import annotations

from decimal import Decimal
from html.parser import HTMLParser

import pytest
from django.contrib.admin.models import LogEntry

from chat.models import Conversation, Message
from observability.models import EvalResult, Feedback, RequestLog
from prompts_admin.models import (
    Experiment,
    ExperimentArm,
    PromptLabel,
    PromptVersion,
)
from prompts_admin.services import experiment_start, label_move, version_create

pytestmark = pytest.mark.django_db

TEMPLATE_URL = "/admin/prompts_admin/prompttemplate/{}/"
EXPERIMENT_URL = "/admin/prompts_admin/experiment/{}/"


class _FormReader(HTMLParser):
    """The values a browser would submit from the form with `form_id`."""

    def __init__(self, form_id: str) -> None:
        super().__init__()
        self.form_id, self.inside, self.data = form_id, False, {}
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.inside = attrs.get("id") == self.form_id
        if not self.inside or not attrs.get("name"):
            if tag == "option" and self._select and "selected" in attrs:
                self.data[self._select] = attrs.get("value", "")
            return
        name = attrs["name"]
        if tag == "input" and attrs.get("type") not in ("submit", "checkbox"):
            self.data[name] = attrs.get("value", "")
        elif tag == "input" and "checked" in attrs:
            self.data[name] = "on"
        elif tag == "select":
            self._select = name
            self.data.setdefault(name, "")
        elif tag == "textarea":
            self._textarea = name
            self.data[name] = ""

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None
        elif tag == "form":
            self.inside = False

    def handle_data(self, data):
        if self._textarea:
            self.data[self._textarea] += data.removeprefix("\n")


def form_data(client, url: str, form_id: str) -> dict[str, str]:
    reader = _FormReader(form_id)
    reader.feed(client.get(url).content.decode())
    return reader.data


@pytest.fixture
def editor(make_user, client, staff_groups):
    user = make_user("editor")
    user.is_staff = True
    user.save()
    user.groups.add(staff_groups["Prompt editors"])
    client.force_login(user)
    return user


@pytest.fixture
def manager_client(make_user, staff_groups):
    from django.test import Client

    user = make_user("manager")
    user.is_staff = True
    user.save()
    user.groups.add(staff_groups["Managers"])
    client = Client()
    client.force_login(user)
    return client


def _edit(client, template, **changes):
    url = TEMPLATE_URL.format(template.pk) + "change/"
    data = form_data(client, url, "prompttemplate_form") | changes
    return client.post(url, data)


def test_editing_the_prompt_saves_the_next_version_and_leaves_the_old_one(
    editor, client, openai_template
):
    response = _edit(
        client,
        openai_template,
        system_prompt="You are brief, {{ user_name }}.",
        change_note="shorter answers",
        label_as="staging",
    )
    assert response.status_code == 302, response.content.decode()[:2000]

    v1, v2 = openai_template.versions.order_by("number")
    assert v1.system_prompt == "You are a test assistant."
    assert (v2.system_prompt, v2.change_note, v2.author) == (
        "You are brief, {{ user_name }}.",
        "shorter answers",
        editor,
    )
    # The new version is labelled as asked; production does not move by itself.
    assert openai_template.labels.get(name="staging").version == v2
    assert openai_template.labels.get(name="production").version == v1


def test_a_misspelt_variable_is_refused_in_the_form_and_nothing_is_saved(
    editor, client, openai_template
):
    response = _edit(
        client, openai_template, system_prompt="Hello {{ user_nmae }}", change_note="typo"
    )
    assert response.status_code == 200
    assert "Unknown variable(s): user_nmae" in response.content.decode()
    assert openai_template.versions.count() == 1


def test_a_changed_prompt_needs_a_change_note(editor, client, openai_template):
    response = _edit(client, openai_template, system_prompt="Changed.", change_note="")
    assert "Say what this version changes." in response.content.decode()
    assert openai_template.versions.count() == 1


def test_settings_only_edits_make_no_new_version(editor, client, openai_template):
    assert _edit(client, openai_template, max_output_tokens="700").status_code == 302
    assert openai_template.versions.count() == 1


def test_a_new_template_from_admin_gets_version_1_in_production(editor, client, openai_template):
    data = form_data(client, "/admin/prompts_admin/prompttemplate/add/", "prompttemplate_form")
    data |= {
        "name": "Support",
        "slug": "support",
        "system_prompt": "You answer support questions {{ tone }}.",
        "variables": '{"tone": "politely"}',
        "model": str(openai_template.model_id),
    }
    response = client.post("/admin/prompts_admin/prompttemplate/add/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    version = PromptVersion.objects.get(template__slug="support")
    assert version.variables == {"tone": "politely"} and version.author == editor
    assert version.labels.get().name == "production"


def test_rollback_moves_the_label_back_with_who_and_why(editor, client, openai_template):
    v2 = version_create(template=openai_template, system_prompt="v2", change_note="v2")
    label = label_move(
        template=openai_template, name="production", version=v2, actor=editor, reason="ship"
    )
    url = TEMPLATE_URL.format(openai_template.pk) + f"labels/{label.pk}/rollback/"
    assert "Roll back to v1" in client.get(url).content.decode()

    assert client.post(url, {"reason": ""}).status_code == 200  # a reason is required
    assert client.post(url, {"reason": "v2 is rude"}).status_code == 302

    label.refresh_from_db()
    move = label.moves.first()
    assert label.version.number == 1
    assert (move.kind, move.actor, move.reason) == ("rollback", editor, "v2 is rude")


def test_diff_shows_two_versions_side_by_side(editor, client, openai_template):
    v2 = version_create(
        template=openai_template, system_prompt="You are a <b>new</b> assistant.", change_note="x"
    )
    v1 = openai_template.versions.get(number=1)
    url = TEMPLATE_URL.format(openai_template.pk) + f"diff/?old={v1.pk}&new={v2.pk}"
    page = client.get(url).content.decode()
    assert 'class="diff"' in page and ">v1</th>" in page and ">v2</th>" in page
    # Changed runs are marked; the prompt's own markup is shown as text, never as HTML.
    assert '<span class="diff_chg">&lt;b&gt;n</span>' in page and "<b>" not in page


def test_preview_renders_sample_values_and_test_run_asks_the_model(
    editor, client, openai_template, simulator
):
    simulator.post("/_sim/script", json={"reply": "Hello from the test run."})
    version = version_create(
        template=openai_template,
        system_prompt="Hi {{ user_name }}, in a {{ tone }} voice.",
        variables={"tone": "calm"},
        change_note="x",
    )
    url = TEMPLATE_URL.format(openai_template.pk) + "preview/"
    form = {"version": version.pk, "variables": '{"tone": "cheerful"}', "user_message": "Hey"}

    page = client.post(url, form).content.decode()
    assert "Hi Ada, in a cheerful voice." in page and "Hello from the test run." not in page

    page = client.post(url, form | {"test_run": "1"}).content.decode()
    assert "Hello from the test run." in page and "simulated" in page
    sent = simulator.get("/_sim/requests").json()["requests"][-1]["messages"]
    assert sent[0]["content"] == "Hi Ada, in a cheerful voice." and sent[1]["content"] == "Hey"


def _experiment(template) -> Experiment:
    v2 = version_create(template=template, system_prompt="Variant.", change_note="v2")
    experiment = Experiment.objects.create(template=template, name="tone")
    ExperimentArm.objects.create(
        experiment=experiment,
        name="control",
        is_control=True,
        version=template.versions.get(number=1),
    )
    ExperimentArm.objects.create(experiment=experiment, name="variant", version=v2, percent=10)
    return experiment


def test_experiment_buttons_start_ramp_promote(editor, client, openai_template):
    experiment = _experiment(openai_template)
    base = EXPERIMENT_URL.format(experiment.pk)
    client.post(base + "start/")
    client.post(base + "ramp/")
    variant = experiment.arms.get(name="variant")
    assert variant.percent == 25
    client.post(base + "promote/", {"arm": variant.pk})

    experiment.refresh_from_db()
    assert experiment.state == "promoted"
    production = PromptLabel.objects.get(template=openai_template, name="production")
    assert production.version == variant.version and production.moves.first().actor == editor
    assert [e.action for e in experiment.events.order_by("id")] == ["start", "ramp", "promote"]


def test_experiment_page_shows_numbers_with_intervals_and_no_data_honestly(
    editor, client, openai_template
):
    experiment = experiment_start(experiment=_experiment(openai_template), actor=editor)
    for arm in experiment.arms.all():
        for i in range(20):
            RequestLog.objects.create(
                model_requested="gpt-4o-mini",
                status="failed" if (i < 5 and not arm.is_control) else "complete",
                latency_ms=100 + i,
                cost=Decimal("0.0001"),
                prompt_version=arm.version,
                experiment_arm=arm,
            )
    page = client.get(EXPERIMENT_URL.format(experiment.pk) + "change/").content.decode()
    assert "control (v1, rest)" in page and "variant (v2, 10 %)" in page
    assert "25 % [0.112, 0.469]" in page  # 5 of 20 failed: Wilson 95 % interval
    assert "0 % [0.000, 0.161]" in page
    assert "no data" in page  # no thumbs or eval scores were given: none is invented


def _rated_turns(user, arm, *, ups: int, downs: int, check_score: float) -> None:
    """Answered turns of `arm`, each with the user's thumb and an evaluation."""
    conversation = Conversation.objects.create(user=user, template=arm.experiment.template)
    for i in range(ups + downs):
        reply = Message.objects.create(
            conversation=conversation, role="assistant", content="ok", status="complete"
        )
        log = RequestLog.objects.create(
            model_requested="gpt-4o-mini",
            status="complete",
            latency_ms=100,
            cost=Decimal("0.0001"),
            message=reply,
            prompt_version=arm.version,
            experiment_arm=arm,
        )
        Feedback.objects.create(
            message=reply, user=user, score=Feedback.UP if i < ups else Feedback.DOWN
        )
        EvalResult.objects.create(
            request_log=log, status="ok", checks={}, check_score=check_score, judge_score=None
        )


def test_thumbs_and_eval_scores_are_shown_per_arm_with_intervals_and_p(
    editor, client, openai_template
):
    experiment = experiment_start(experiment=_experiment(openai_template), actor=editor)
    control, variant = experiment.arms.get(is_control=True), experiment.arms.get(is_control=False)
    _rated_turns(editor, control, ups=15, downs=5, check_score=1.0)
    _rated_turns(editor, variant, ups=5, downs=15, check_score=0.75)

    page = client.get(EXPERIMENT_URL.format(experiment.pk) + "change/").content.decode()
    assert "75 % [0.531, 0.888] (20)" in page  # control: 15 of 20 thumbs up, Wilson interval
    assert "25 % [0.112, 0.469] (20)" in page
    assert "<td>0.002</td>" in page  # Fisher, one-sided: the variant's rate is lower
    assert "1.000 [1.000, 1.000] (20)" in page and "0.750 [0.750, 0.750] (20)" in page
    # Per version, on the template's page, the same numbers (v2 is the variant's version).
    page = client.get(TEMPLATE_URL.format(openai_template.pk) + "change/").content.decode()
    assert "25 % [0.112, 0.469] (20)" in page and "75 % [0.531, 0.888] (20)" in page


def test_rollout_actions_are_in_the_admin_log_with_who_when_and_why(
    editor, client, openai_template
):
    v2 = version_create(template=openai_template, system_prompt="v2", change_note="v2")
    move_url = TEMPLATE_URL.format(openai_template.pk) + "labels/move/"
    client.post(move_url, {"name": "production", "version": v2.pk, "reason": "ship v2"})
    label = openai_template.labels.get(name="production")
    rollback_url = TEMPLATE_URL.format(openai_template.pk) + f"labels/{label.pk}/rollback/"
    client.post(rollback_url, {"reason": "v2 is rude"})

    experiment = _experiment(openai_template)
    base = EXPERIMENT_URL.format(experiment.pk)
    client.post(base + "start/")
    client.post(base + "ramp/")
    client.post(base + "abort/", {"reason": "enough data"})

    template_log = LogEntry.objects.filter(
        object_id=str(openai_template.pk), content_type__model="prompttemplate"
    ).order_by("id")
    messages = [entry.change_message for entry in template_log]
    assert messages == [
        "Label production (move): v1 → v2. Why: ship v2",
        "Label production (rollback): v2 → v1. Why: v2 is rude",
    ]
    experiment_log = LogEntry.objects.filter(
        object_id=str(experiment.pk), content_type__model="experiment"
    ).order_by("id")
    assert [entry.change_message.split(":")[0].split(".")[0] for entry in experiment_log] == [
        "Experiment start",
        "Experiment ramp",
        "Experiment abort",
    ]
    assert experiment_log.last().change_message == "Experiment abort. Why: enough data"
    assert all(e.user == editor and e.action_time for e in [*template_log, *experiment_log])
    # The template's admin History page shows them to an auditor.
    history = client.get(TEMPLATE_URL.format(openai_template.pk) + "history/").content.decode()
    assert "v2 is rude" in history and "editor" in history


def test_a_manager_sees_prompts_but_cannot_change_anything(manager_client, openai_template):
    experiment = _experiment(openai_template)
    label = openai_template.labels.get(name="production")
    change_url = TEMPLATE_URL.format(openai_template.pk) + "change/"

    page = manager_client.get(change_url)
    # The prompt box shows the newest version's text (v2 of _experiment), read-only.
    assert (
        page.status_code == 200 and '<div class="readonly">Variant.</div>' in page.content.decode()
    )
    assert 'name="_save"' not in page.content.decode()
    assert manager_client.post(change_url, {"system_prompt": "hacked"}).status_code == 403
    assert manager_client.get("/admin/prompts_admin/prompttemplate/add/").status_code == 403
    assert manager_client.get(TEMPLATE_URL.format(openai_template.pk) + "diff/").status_code == 200

    forbidden = [
        TEMPLATE_URL.format(openai_template.pk) + "labels/move/",
        TEMPLATE_URL.format(openai_template.pk) + f"labels/{label.pk}/rollback/",
        EXPERIMENT_URL.format(experiment.pk) + "start/",
        EXPERIMENT_URL.format(experiment.pk) + "abort/",
    ]
    for url in forbidden:
        assert manager_client.post(url, {"reason": "x"}).status_code == 403, url
    test_run = {"version": label.version_id, "user_message": "hi", "test_run": "1"}
    preview_url = TEMPLATE_URL.format(openai_template.pk) + "preview/"
    assert manager_client.post(preview_url, test_run).status_code == 403

    changelist = manager_client.get("/admin/prompts_admin/experiment/").content.decode()
    assert "start_selected" not in changelist and "abort_selected" not in changelist
    experiment.refresh_from_db()
    openai_template.refresh_from_db()
    assert experiment.state == "draft" and openai_template.system_prompt != "hacked"
    assert openai_template.versions.count() == 2
