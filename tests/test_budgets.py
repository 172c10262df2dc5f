"""Per-user budgets: a cheaper model past a soft limit, a refusal at a hard one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from budgets.admission import admit
from budgets.models import Budget, TemplateCostPolicy
from budgets.periods import next_day
from budgets.selectors import spend_of
from chat.models import Conversation, Message
from chat.titles import generate_title
from gateway.cache.models import CachePolicy
from gateway.events import Accepted, Done, Error, Notice
from gateway.models import LanguageModel
from gateway.pipeline import Turn
from observability.models import RequestLog
from prompts_admin.models import PromptTemplate
from tests.turns import turn_events
from tests.wsclient import ChatSocket

pytestmark = pytest.mark.django_db(transaction=True)

# gpt-4o's output price is $10 per million tokens: 100,000 output tokens cost exactly $1.00.
ONE_DOLLAR = {"input_tokens": 0, "cached_input_tokens": 0, "output_tokens": 100_000}


@pytest.fixture
def models(db) -> dict[str, LanguageModel]:
    def priced(name, price_in, price_out):
        model, _ = LanguageModel.objects.update_or_create(
            name=name,
            defaults={
                "provider": "openai",
                "input_price": Decimal(price_in),
                "output_price": Decimal(price_out),
                "is_active": True,
            },
        )
        return model

    return {
        "big": priced("gpt-4o", "2.50", "10.00"),
        "small": priced("gpt-4o-mini", "0.15", "0.60"),
    }


@pytest.fixture
def template(models) -> PromptTemplate:
    template = PromptTemplate.objects.create(
        slug="analyst", name="Analyst", system_prompt="You analyse.", model=models["big"]
    )
    TemplateCostPolicy.objects.create(template=template, downgrade_model=models["small"])
    # Spend is what is measured here: repeated questions must reach the model, not the cache.
    CachePolicy.objects.create(template=template, enabled=False)
    return template


def _conversation(user, template) -> Conversation:
    return Conversation.objects.create(user=user, template=template)


def _spend_one_dollar(simulator, conversation) -> None:
    simulator.post("/_sim/script", json={"reply": "Costly.", "usage": ONE_DOLLAR})
    events = turn_events(Turn(conversation.user_id, conversation.id, "Spend a dollar"))
    assert isinstance(events[-1], Done) and events[-1].cost == Decimal("1.00")


def _models_called(simulator) -> list[str]:
    return [r["model"] for r in simulator.get("/_sim/requests").json()["requests"]]


def test_over_the_soft_limit_replies_come_from_the_cheaper_model_and_the_user_is_told(
    make_user, template, simulator
):
    user = make_user()
    Budget.objects.create(user=user, daily_soft_usd=Decimal("1.00"), daily_hard_usd=Decimal("5"))
    conversation = _conversation(user, template)
    _spend_one_dollar(simulator, conversation)

    events = turn_events(Turn(user.id, conversation.id, "Still there?"))

    accepted, notice = events[0], events[1]
    assert isinstance(accepted, Accepted) and accepted.model == "gpt-4o-mini"
    assert isinstance(notice, Notice)
    assert "daily soft spending limit of $1.00" in notice.text and "gpt-4o-mini" in notice.text
    assert isinstance(events[-1], Done) and events[-1].model == "gpt-4o-mini"
    assert _models_called(simulator) == ["gpt-4o", "gpt-4o-mini"]
    assert RequestLog.objects.latest("created_at").model_used == "gpt-4o-mini"
    template.refresh_from_db()
    assert template.model.name == "gpt-4o"  # the assistant itself is unchanged


def test_under_the_soft_limit_nothing_changes(make_user, template, simulator):
    user = make_user()
    Budget.objects.create(user=user, daily_soft_usd=Decimal("1.50"))
    conversation = _conversation(user, template)
    _spend_one_dollar(simulator, conversation)

    events = turn_events(Turn(user.id, conversation.id, "Still there?"))

    assert events[0].model == "gpt-4o" and not any(isinstance(e, Notice) for e in events)


def test_at_the_hard_limit_the_turn_is_refused_with_the_reset_time_and_nothing_saved(
    make_user, template, simulator
):
    user = make_user()
    Budget.objects.create(user=user, daily_hard_usd=Decimal("1.00"))
    conversation = _conversation(user, template)
    _spend_one_dollar(simulator, conversation)

    events = turn_events(Turn(user.id, conversation.id, "One more?"))

    assert len(events) == 1 and isinstance(events[0], Error)
    assert events[0].kind == "over_budget"
    tomorrow = next_day(timezone.now())
    assert "daily spending limit of $1.00" in events[0].message
    assert f"00:00 UTC on {tomorrow.day} {tomorrow:%b %Y}" in events[0].message
    assert Message.objects.count() == 2  # the first turn's question and answer only
    assert _models_called(simulator) == ["gpt-4o"]

    retried = turn_events(Turn(user.id, conversation.id, "", retry=True))
    assert [e.kind for e in retried] == ["over_budget"]


def test_the_monthly_hard_limit_counts_this_month_only_and_resets_on_the_first(make_user, template):
    user = make_user()
    Budget.objects.create(user=user, monthly_hard_usd=Decimal("25"))
    conversation = _conversation(user, template)
    now = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
    for when, cost in [
        (datetime(2026, 2, 27, tzinfo=UTC), "100"),
        (datetime(2026, 3, 2, tzinfo=UTC), "20"),
    ]:
        log = RequestLog.objects.create(user=user, model_requested="gpt-4o", status="complete")
        RequestLog.objects.filter(id=log.id).update(cost=Decimal(cost), created_at=when)

    assert (
        admit(user_id=user.id, conversation_id=conversation.id, text="hi", now=now).refusal is None
    )

    log = RequestLog.objects.create(user=user, model_requested="gpt-4o", status="complete")
    RequestLog.objects.filter(id=log.id).update(cost=Decimal("5"), created_at=now - timedelta(1))
    refusal = admit(user_id=user.id, conversation_id=conversation.id, text="hi", now=now).refusal

    assert refusal is not None and refusal.kind == "over_budget"
    assert "monthly spending limit of $25" in refusal.message
    assert "00:00 UTC on 1 Apr 2026 (in 16 d 12 h)" in refusal.message


def test_the_tightest_of_a_users_own_and_group_budgets_applies(make_user, template, simulator):
    interns = Group.objects.create(name="interns")
    alice, bob = make_user("alice"), make_user("bob")
    alice.groups.add(interns)
    Budget.objects.create(group=interns, daily_hard_usd=Decimal("0.50"))
    for user in (alice, bob):
        Budget.objects.create(user=user, daily_hard_usd=Decimal("10"))
        _spend_one_dollar(simulator, _conversation(user, template))

    alice_turn = admit(user_id=alice.id, conversation_id=alice.conversations.get().id, text="x")
    bob_turn = admit(user_id=bob.id, conversation_id=bob.conversations.get().id, text="x")

    assert alice_turn.refusal and "$0.50" in alice_turn.refusal.message
    assert bob_turn.refusal is None


def test_a_group_limit_is_per_member_and_no_user_sees_another_users_costs(
    make_user, template, simulator
):
    team = Group.objects.create(name="team")
    alice, bob = make_user("alice"), make_user("bob")
    team.user_set.add(alice, bob)
    Budget.objects.create(group=team, daily_hard_usd=Decimal("2"))
    _spend_one_dollar(simulator, _conversation(alice, template))
    _spend_one_dollar(simulator, _conversation(alice, template))

    bob_conversation = _conversation(bob, template)
    usage = {"input_tokens": 0, "output_tokens": 1000}
    simulator.post("/_sim/script", json={"reply": "Cheap.", "usage": usage})
    events = turn_events(Turn(bob.id, bob_conversation.id, "My turn"))

    # Alice's $2.00 neither limits Bob nor shows up in anything Bob is told.
    assert isinstance(events[-1], Done) and not any(isinstance(e, Notice) for e in events)
    assert events[-1].cost == Decimal("0.01")  # his own turn only: 1,000 x $10 per million
    assert spend_of(bob.id, timezone.now()).today == Decimal("0.01")
    assert spend_of(alice.id, timezone.now()).today == Decimal("2.00")
    alice_refusal = turn_events(Turn(alice.id, alice.conversations.first().id, "More"))[0]
    assert alice_refusal.kind == "over_budget" and "0.01" not in alice_refusal.message


def test_over_the_soft_limit_without_a_cheaper_model_the_user_is_told_and_keeps_the_model(
    make_user, template, simulator
):
    TemplateCostPolicy.objects.filter(template=template).update(downgrade_model=None)
    user = make_user()
    Budget.objects.create(user=user, daily_soft_usd=Decimal("0.50"))
    conversation = _conversation(user, template)
    _spend_one_dollar(simulator, conversation)

    events = turn_events(Turn(user.id, conversation.id, "Again"))

    assert events[0].model == "gpt-4o"
    assert "daily soft spending limit of $0.50" in events[1].text


def test_the_browser_shows_the_notice_and_the_refusal(
    app_server, make_user, session_cookie, template, simulator
):
    user = make_user()
    # $1.00 spent, then $0.06 on the cheaper model (100,000 x $0.60 per million): refused.
    Budget.objects.create(user=user, daily_soft_usd=Decimal("1.00"), daily_hard_usd=Decimal("1.05"))
    conversation = _conversation(user, template)
    _spend_one_dollar(simulator, conversation)

    socket = ChatSocket.open(app_server, conversation.id, session_cookie(user))
    try:
        simulator.post("/_sim/script", json={"reply": "Cheaper now.", "usage": ONE_DOLLAR})
        socket.send_message("Downgrade me")
        frame = socket.receive_until("chat-notice")
        assert "soft spending limit of $1.00" in frame and 'role="status"' in frame
        socket.receive_until(lambda f: 'data-state="idle"' in f)

        socket.send_message("Refuse me")
        frame = socket.receive_until('id="chat-error"')
        assert "daily spending limit of $1.05" in frame and "00:00 UTC" in frame
    finally:
        socket.close()
    assert not Message.objects.filter(content="Refuse me").exists()


def test_budget_pages_open_in_admin_and_the_global_settings_are_one_row(admin_client, template):
    for page in ("budget", "templatecostpolicy", "emergencymode"):
        assert admin_client.get(f"/admin/budgets/{page}/").status_code == 200
    assert admin_client.get("/admin/budgets/budget/add/").status_code == 200
    assert admin_client.get("/admin/budgets/templatecostpolicy/add/").status_code == 200
    # The changelist created the one row of global settings: there is nothing more to add.
    assert admin_client.get("/admin/budgets/emergencymode/add/").status_code == 403


def test_a_user_at_the_hard_limit_hears_about_the_limit_before_the_length(make_user, template):
    TemplateCostPolicy.objects.filter(template=template).update(max_input_tokens=100)
    user = make_user()
    Budget.objects.create(user=user, daily_hard_usd=Decimal("1"))
    RequestLog.objects.create(user=user, model_requested="gpt-4o", status="complete", cost=1)
    conversation = _conversation(user, template)

    admission = admit(user_id=user.id, conversation_id=conversation.id, text=" word" * 500)

    assert admission.refusal.kind == "over_budget"  # shortening the message would not help


def test_a_title_jobs_cost_counts_against_the_budget(make_user, template, simulator):
    user = make_user()
    Budget.objects.create(user=user, daily_hard_usd=Decimal("1.00"))
    conversation = _conversation(user, template)
    question = Message.objects.create(conversation=conversation, role="user", content="Costs?")
    Message.objects.create(
        conversation=conversation, role="assistant", content="Some.", parent=question
    )
    simulator.post("/_sim/script", json={"model": "gpt-4o", "reply": "Costs", "usage": ONE_DOLLAR})

    # No CHAT_TITLE_MODEL row here: the title is asked of the assistant's own gpt-4o, for $1.00.
    assert generate_title(conversation.id) == "Costs"

    assert spend_of(user.id, timezone.now()).today == Decimal("1.00")
    events = turn_events(Turn(user.id, conversation.id, "One more?"))
    assert len(events) == 1 and isinstance(events[0], Error)
    assert events[0].kind == "over_budget"
