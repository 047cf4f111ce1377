"""WriteTurns: first come, first served, handed over, re-entrant, with a time-out."""

from __future__ import annotations

import threading
import time

import pytest

from veille.adapters.sqlite.write_turns import WriteTurns

pytestmark = pytest.mark.unit


def _wait_until(condition) -> None:  # events, not time: poll until the state is reached
    while not condition():
        time.sleep(0.001)


def test_waiters_get_their_turn_in_the_order_they_asked():
    turns = WriteTurns()
    assert turns.acquire()
    order: list[int] = []

    def waiter(n: int) -> None:
        turns.acquire()
        order.append(n)
        turns.release()

    threads = []
    for n in range(5):
        thread = threading.Thread(target=waiter, args=(n,))
        thread.start()
        _wait_until(lambda n=n: turns.waiting == n + 1)  # queued in this order
        threads.append(thread)
    turns.release()
    for thread in threads:
        thread.join()
    assert order == [0, 1, 2, 3, 4]
    assert turns.acquire(timeout=0) is True  # free again


def test_a_thread_that_keeps_coming_back_goes_behind_the_waiters():
    turns = WriteTurns()
    turns.acquire()
    got = threading.Event()

    def other() -> None:
        turns.acquire()
        got.set()
        turns.release()

    thread = threading.Thread(target=other)
    thread.start()
    _wait_until(lambda: turns.waiting == 1)
    turns.release()
    turns.acquire()  # asks again at once: the waiter was handed the turn first
    assert got.is_set()
    turns.release()
    thread.join()


def test_a_time_out_leaves_the_queue_and_never_blocks_the_next_waiter():
    turns = WriteTurns()
    turns.acquire()
    result: list[bool] = []
    thread = threading.Thread(target=lambda: result.append(turns.acquire(timeout=0.01)))
    thread.start()
    thread.join()
    assert result == [False] and turns.waiting == 0
    turns.release()
    assert turns.acquire(timeout=0)  # nobody is left owning it


def test_turns_are_re_entrant_per_thread_and_only_the_owner_releases():
    turns = WriteTurns()
    assert turns.acquire() and turns.acquire()
    errors: list[Exception] = []

    def stranger() -> None:
        try:
            turns.release()
        except RuntimeError as exc:
            errors.append(exc)

    thread = threading.Thread(target=stranger)
    thread.start()
    thread.join()
    assert len(errors) == 1
    turns.release()
    turns.release()
    with pytest.raises(RuntimeError):
        turns.release()
