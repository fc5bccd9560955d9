"""Admission by expected wait and memory, on its own: the estimate, the budgets, the refusals."""

from __future__ import annotations

import time

import pytest

from perflab.app.admission import (
    Admission,
    parse_budget_header,
    reset_request_budget,
    set_request_budget,
)
from perflab.app.errors import Overloaded


def test_no_wait_while_a_slot_is_free_then_the_service_time_estimate() -> None:
    admission = Admission("r", slots=2, budget_s=30, memory_budget_bytes=1000)
    assert admission.expected_wait_s() == 0.0  # nothing learned yet: admits by memory only
    admission.admit().close(service_s=0.4)
    held = [admission.admit(), admission.admit()]
    assert admission.expected_wait_s() == pytest.approx(0.2)  # 1 completion at 2 / 0.4 per s
    held.append(admission.admit())
    assert admission.expected_wait_s() == pytest.approx(0.4)
    for ticket in held:
        ticket.close(learn=False)
    assert admission.in_system == 0


def test_the_drain_rate_while_a_queue_stands_replaces_the_per_job_estimate() -> None:
    admission = Admission("r", slots=1, budget_s=30, memory_budget_bytes=1000)
    tickets = [admission.admit() for _ in range(4)]
    # Jobs said they took 1 s each, but completed 20 ms apart while the others waited: the
    # drain is what a newcomer waits for.
    for ticket in tickets[:3]:
        time.sleep(0.02)
        ticket.close(service_s=1.0)
    assert admission.drain_interval_s is not None
    assert 0.015 < admission.drain_interval_s < 0.5
    waiting = [admission.admit() for _ in range(3)]
    # Four jobs in, one slot: four completions to wait for.
    assert admission.expected_wait_s() == pytest.approx(4 * admission.drain_interval_s)
    for ticket in [tickets[3], *waiting]:
        ticket.close(learn=False)


def test_refusals_say_why_and_when_to_retry() -> None:
    admission = Admission("pool", slots=1, budget_s=1.0, memory_budget_bytes=100)
    admission.admit().close(service_s=2.0)
    running = admission.admit()
    with pytest.raises(Overloaded) as late:
        admission.admit()
    assert late.value.headers() == {"Retry-After": "1"}
    assert late.value.details is not None
    assert late.value.details[0]["reason"] == "expected_wait"
    running.close(learn=False)
    assert admission.shed == {"expected_wait": 1, "memory": 0}


def test_bytes_past_the_memory_budget_are_refused_until_freed() -> None:
    admission = Admission("bodies", slots=4, budget_s=30, memory_budget_bytes=100)
    big = admission.admit(cost_bytes=80)
    with pytest.raises(Overloaded) as full:
        admission.admit(cost_bytes=30)
    assert full.value.details is not None
    assert full.value.details[0]["reason"] == "memory"
    big.close(learn=False)
    admission.admit(cost_bytes=30).close()
    assert admission.held_bytes == 0
    assert admission.shed == {"expected_wait": 0, "memory": 1}


def test_a_client_can_lower_its_budget_but_never_raise_it() -> None:
    admission = Admission("r", slots=1, budget_s=1.0, memory_budget_bytes=100)
    admission.admit().close(service_s=0.5)
    running = admission.admit()  # a newcomer would wait ~0.5 s
    token = set_request_budget(0.1)
    try:
        with pytest.raises(Overloaded):
            admission.admit()
    finally:
        reset_request_budget(token)
    token = set_request_budget(100.0)
    try:
        admission.admit().close(learn=False)  # 0.5 s fits the server's 1 s: admitted
        assert admission._budget(None) == 1.0
    finally:
        reset_request_budget(token)
    running.close(learn=False)


@pytest.mark.parametrize(
    ("header", "budget_s"),
    [(b"2.5", 2.5), (b"0", 0.0), (b"-1", None), (b"nan", None), (b"inf", None), (b"x", None)],
)
def test_budget_header_parsing(header: bytes, budget_s: float | None) -> None:
    assert parse_budget_header(header) == budget_s
