"""A dead Celery broker costs a background task, never the caller: counted, not raised."""

from __future__ import annotations

import time

import pytest
from celery import Celery

from chat.tasks import interrupt_stale_streams
from config.celery import app
from devstack.services import free_port
from observability.enqueue import enqueue
from observability.metrics import ENQUEUE_FAILURES


def _failures(task) -> float:
    return ENQUEUE_FAILURES.labels(task=task.name)._value.get()


@pytest.fixture
def task_on_a_dead_broker():
    """A task of an app configured like ours, but whose broker port nobody listens on."""
    dead = Celery("dead", broker=f"redis://127.0.0.1:{free_port()}/0", set_as_current=False)
    dead.conf.broker_transport_options = app.conf.broker_transport_options

    @dead.task(name="tests.probe")
    def probe() -> None: ...

    yield probe
    dead.close()


def test_a_dead_broker_is_counted_and_does_not_raise(task_on_a_dead_broker):
    before = _failures(task_on_a_dead_broker)
    started = time.monotonic()

    assert enqueue(task_on_a_dead_broker) is False

    assert _failures(task_on_a_dead_broker) == before + 1
    assert time.monotonic() - started < 10  # one connect attempt, not Celery's retry schedule


def test_a_live_broker_takes_the_task():
    before = _failures(interrupt_stale_streams)
    assert enqueue(interrupt_stale_streams) is True
    assert _failures(interrupt_stale_streams) == before
