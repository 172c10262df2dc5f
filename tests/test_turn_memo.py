"""Reads shared by a turn's stages happen once per turn, and never leak into the next turn."""

from __future__ import annotations

import asyncio

from gateway.db import in_db_thread
from gateway.turn_memo import once_per_turn, turn_memo

reads: list[int] = []


@once_per_turn(key=lambda template_id: (template_id,))
def policy(template_id: int) -> dict:
    reads.append(template_id)
    return {"template": template_id, "threshold": len(reads)}


def test_a_turns_stages_share_one_read_across_database_threads():
    reads.clear()

    async def turn():
        with turn_memo():
            first = await in_db_thread(policy)(1)
            second = await in_db_thread(policy)(1)
            other = await in_db_thread(policy)(2)
        return first, second, other

    first, second, other = asyncio.run(turn())
    assert reads == [1, 2]
    assert first == second and other["template"] == 2


def test_the_next_turn_reads_again_so_an_admin_edit_is_seen_at_once():
    reads.clear()
    with turn_memo():
        before = policy(1)
    with turn_memo():
        after = policy(1)
    assert reads == [1, 1] and before["threshold"] != after["threshold"]


def test_outside_a_turn_nothing_is_remembered():
    reads.clear()
    policy(1), policy(1)
    assert reads == [1, 1]


def test_one_stage_changing_what_it_got_does_not_change_the_next_stages_copy():
    with turn_memo():
        policy(3)["threshold"] = -1
        assert policy(3)["threshold"] != -1
