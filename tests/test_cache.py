"""The semantic cache in the pipeline: real Postgres + pgvector, the real embedder and simulator."""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from chat.models import Conversation, Status
from devstack.services import free_port
from gateway.cache.counters import cache_counters
from gateway.cache.models import CacheEntry, CachePolicy
from gateway.cache.store import evict, find_similar, invalidate_template
from gateway.embeddings import embed_one, embedder
from gateway.events import Delta, Done
from gateway.pipeline import Turn
from knowledge.services import revision_bump
from observability.models import RequestLog
from prompts_admin.models import PromptTemplate
from prompts_admin.services import label_move, version_create
from tests.turns import turn_events

pytestmark = pytest.mark.django_db(transaction=True)

QUESTION = "How do I reset my password?"
PARAPHRASE = "How can I reset my password?"
ANSWER = "Open Settings, then Security, and press *Reset password*."


def _ask(user, template, text: str) -> list:
    conversation = Conversation.objects.create(user=user, template=template)
    return turn_events(Turn(user.id, conversation.id, text))


def _model_calls(simulator) -> int:
    return len(simulator.get("/_sim/requests").json()["requests"])


@pytest.fixture
def alice(make_user):
    return make_user("alice")


@pytest.fixture
def answered(alice, openai_template, simulator):
    """QUESTION answered once by the model, and so cached."""
    simulator.post("/_sim/script", json={"reply": ANSWER})
    events = _ask(alice, openai_template, QUESTION)
    assert isinstance(events[-1], Done) and not events[-1].cache_hit
    assert CacheEntry.objects.count() == 1
    simulator.delete("/_sim/requests")
    return events


def _text(events) -> str:
    return "".join(e.text for e in events if isinstance(e, Delta))


def test_a_paraphrase_is_answered_from_the_cache_at_no_cost(
    answered, alice, openai_template, simulator
):
    events = _ask(alice, openai_template, PARAPHRASE)

    assert _text(events) == ANSWER
    assert len([e for e in events if isinstance(e, Delta)]) >= 1
    done = events[-1]
    assert isinstance(done, Done) and done.cache_hit and done.cost == Decimal(0)
    assert _model_calls(simulator) == 0
    log = RequestLog.objects.latest("created_at")
    entry = CacheEntry.objects.get()
    assert (log.cache_status, log.cache_hit, log.cost, log.cache_entry_id) == (
        "hit",
        True,
        Decimal(0),
        entry.id,
    )
    assert 0.8 <= log.cache_similarity < 1.0
    assert log.output_tokens == 0 and log.model_used == ""
    reply = log.message
    assert (reply.content, reply.status, reply.cost) == (ANSWER, Status.COMPLETE, Decimal(0))
    entry.refresh_from_db()
    assert entry.hits == 1


def test_the_same_question_is_an_exact_hit(answered, alice, openai_template, simulator):
    events = _ask(alice, openai_template, "  how do I RESET my password ")

    assert events[-1].cache_hit and _model_calls(simulator) == 0
    assert RequestLog.objects.latest("created_at").cache_similarity == 1.0


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("What is 2+2?", "What is 2+3?"),
        ("What is the capital of France?", "What is the capital of Germany?"),
        ("Is it safe to take ibuprofen with alcohol?", "Is it safe to take ibuprofen with coffee?"),
        ("Why is the sky blue?", "Why is the sky not blue?"),
        ("Convert 10 miles to kilometers", "Convert 10 kilometers to miles"),
    ],
)
def test_a_question_with_another_number_entity_or_negation_goes_to_the_model(
    first, second, alice, openai_template, simulator
):
    _ask(alice, openai_template, first)
    simulator.delete("/_sim/requests")

    events = _ask(alice, openai_template, second)

    assert not events[-1].cache_hit and _model_calls(simulator) == 1
    assert RequestLog.objects.latest("created_at").cache_status == "miss"
    assert CacheEntry.objects.count() == 2


def test_another_template_does_not_see_the_answer(answered, alice, anthropic_template, simulator):
    events = _ask(alice, anthropic_template, QUESTION)

    assert not events[-1].cache_hit and _model_calls(simulator) == 1


def test_a_new_prompt_version_or_model_does_not_see_the_answer(
    answered, alice, openai_template, anthropic_template, simulator
):
    # A new version goes to production, as an editor's promotion does.
    version = version_create(
        template=openai_template, system_prompt="You are a terse assistant.", change_note="terse"
    )
    label_move(template=openai_template, name="production", version=version, actor=None, reason="")
    assert not _ask(alice, openai_template, QUESTION)[-1].cache_hit

    openai_template.model = anthropic_template.model
    openai_template.save()
    assert not _ask(alice, openai_template, QUESTION)[-1].cache_hit
    assert _model_calls(simulator) == 2


def test_a_personal_template_answers_each_user_from_their_own_entries(
    alice, make_user, openai_template, simulator
):
    CachePolicy.objects.create(template=openai_template, personal=True)
    bob = make_user("bob")
    _ask(alice, openai_template, QUESTION)

    assert not _ask(bob, openai_template, QUESTION)[-1].cache_hit
    assert _ask(alice, openai_template, QUESTION)[-1].cache_hit


def test_a_shared_template_answers_other_users_too(answered, make_user, openai_template):
    assert _ask(make_user("bob"), openai_template, QUESTION)[-1].cache_hit


def test_a_follow_up_in_another_conversation_is_not_served_this_ones_answer(
    alice, openai_template, simulator
):
    conversation = Conversation.objects.create(user=alice, template=openai_template)
    turn_events(Turn(alice.id, conversation.id, "Tell me about Rome"))
    turn_events(Turn(alice.id, conversation.id, "And its population?"))
    other = Conversation.objects.create(user=alice, template=openai_template)
    turn_events(Turn(alice.id, other.id, "Tell me about Oslo"))

    assert not turn_events(Turn(alice.id, other.id, "And its population?"))[-1].cache_hit


def test_an_expired_answer_is_not_served_and_is_evicted(answered, alice, openai_template):
    CacheEntry.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    assert not _ask(alice, openai_template, PARAPHRASE)[-1].cache_hit
    assert evict()["expired"] == 1
    assert list(CacheEntry.objects.values_list("query", flat=True)) == [PARAPHRASE]


def test_the_ttl_comes_from_the_templates_policy(alice, openai_template):
    CachePolicy.objects.create(template=openai_template, ttl_seconds=60)
    _ask(alice, openai_template, QUESTION)

    entry = CacheEntry.objects.get()
    assert timedelta(seconds=55) < entry.expires_at - entry.created_at <= timedelta(seconds=60)


def test_eviction_keeps_the_most_recently_used_answers_within_the_size_cap(alice, openai_template):
    CachePolicy.objects.create(template=openai_template, max_entries=2)
    for question in ["What is 1+1?", "What is 2+2?", "What is 3+3?"]:
        _ask(alice, openai_template, question)
    _ask(alice, openai_template, "What is 1+1?")  # a hit: 1+1 is now the most recently used

    assert evict()["over_cap"] == 1
    assert sorted(CacheEntry.objects.values_list("query", flat=True)) == [
        "What is 1+1?",
        "What is 3+3?",
    ]


def test_promoting_a_prompt_invalidates_its_answers(answered, alice, openai_template):
    assert invalidate_template(openai_template.id) == 1

    assert not _ask(alice, openai_template, QUESTION)[-1].cache_hit


def test_a_knowledge_base_change_stops_old_answers_matching(answered, alice, openai_template):
    revision_bump()

    assert not _ask(alice, openai_template, QUESTION)[-1].cache_hit
    assert evict()["stale_knowledge"] == 1


def test_a_template_can_opt_out(alice, openai_template, simulator):
    CachePolicy.objects.create(template=openai_template, enabled=False)
    _ask(alice, openai_template, QUESTION)
    _ask(alice, openai_template, QUESTION)

    assert _model_calls(simulator) == 2 and not CacheEntry.objects.exists()
    assert RequestLog.objects.latest("created_at").cache_status == "off"


def test_failed_and_time_sensitive_replies_are_not_cached(
    alice, openai_template, simulator, settings
):
    _ask(alice, openai_template, "What is the weather in Paris today?")
    settings.SIMULATOR_URL = f"http://127.0.0.1:{free_port()}"
    settings.ROUTER_MAX_RETRIES = 0
    _ask(alice, openai_template, QUESTION)

    assert not CacheEntry.objects.exists()
    assert list(RequestLog.objects.order_by("created_at").values_list("status", flat=True)) == [
        "complete",
        "failed",
    ]


def test_a_broken_cache_table_is_bypassed_and_counted(answered, alice, openai_template, simulator):
    bypassed = cache_counters().get("bypass", 0)
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE gateway_cacheentry RENAME TO gateway_cacheentry_gone")
    try:
        events = _ask(alice, openai_template, QUESTION)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE gateway_cacheentry_gone RENAME TO gateway_cacheentry")

    assert isinstance(events[-1], Done) and not events[-1].cache_hit and _text(events)
    assert _model_calls(simulator) == 1
    assert RequestLog.objects.latest("created_at").cache_status == "bypass"
    assert cache_counters()["bypass"] == bypassed + 1


def test_a_failing_embedder_is_bypassed(answered, alice, openai_template, simulator, settings):
    settings.EMBEDDER = "openai"  # with no key: the simulator, which has no embeddings endpoint
    embedder.cache_clear()
    try:
        events = _ask(alice, openai_template, PARAPHRASE)
    finally:
        embedder.cache_clear()

    assert isinstance(events[-1], Done) and not events[-1].cache_hit
    assert RequestLog.objects.latest("created_at").cache_status == "bypass"


def test_another_template_id_is_its_own_scope(alice, openai_template, simulator):
    clone = PromptTemplate.objects.create(
        slug="clone",
        name="Clone",
        system_prompt=openai_template.system_prompt,
        model=openai_template.model,
    )
    _ask(alice, openai_template, QUESTION)

    assert not _ask(alice, clone, QUESTION)[-1].cache_hit


def test_reembed_rebuilds_vectors_made_by_another_embedder(answered, alice, openai_template):
    entry = CacheEntry.objects.get()
    CacheEntry.objects.update(embedder="old-embedder", embedding=[1.0] + [0.0] * 255)
    vector = embed_one(PARAPHRASE)
    lookup = {"scope": entry.scope, "question": PARAPHRASE, "embedding": vector}
    assert find_similar(**lookup, embedder=embedder().name) is None  # old vectors are skipped

    out = StringIO()
    call_command("reembed", stdout=out)

    assert "1 cache entries re-embedded" in out.getvalue()
    assert find_similar(**lookup, embedder=embedder().name).entry_id == entry.id
    assert _ask(alice, openai_template, PARAPHRASE)[-1].cache_hit


def test_beat_evicts_expired_answers_through_a_celery_worker(answered, celery_worker, settings):
    from gateway.cache.tasks import evict_cache_entries

    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert evict_cache_entries.name in scheduled
    CacheEntry.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    evict_cache_entries.delay()

    deadline = time.monotonic() + 30
    while CacheEntry.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not CacheEntry.objects.exists()
