"""The live alert bus: event ids, replay after a Last-Event-ID, gaps, closing streams."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import orjson
import pytest

from veille.adapters.live import AlertBus, Closed, Gap, LiveEvent, Recheck

pytestmark = pytest.mark.unit


@dataclass(frozen=True)
class FakeAlert:
    zone: str


@dataclass(frozen=True)
class FakeEvent:
    alert: FakeAlert
    number: int
    kind: str = "new"


def events(*zones: str, start: int = 1) -> list[FakeEvent]:
    return [FakeEvent(FakeAlert(zone), start + i) for i, zone in enumerate(zones)]


def make_bus(**kw: int) -> AlertBus:
    return AlertBus(lambda event: {"number": event.number, "zone": event.alert.zone}, **kw)


def numbers(items) -> list[int]:
    return [orjson.loads(item.payload)["number"] for item in items]


def everyone(alert: FakeAlert) -> bool:
    return True


async def take_all(sub, limit: int = 100) -> list:
    """Everything the subscriber has to send now, in order."""
    out = []
    for _ in range(limit):
        item = await sub.next(0)
        if item is None:
            return out
        out.append(item)
    return out


def run(coro):
    return asyncio.run(coro)


def test_a_slow_subscriber_is_told_of_the_gap_once_it_has_caught_up():
    async def scenario():
        bus = make_bus(queue_limit=2)
        sub, _ = bus.subscribe(everyone)
        bus.publish(events(*"abcde"))
        await asyncio.sleep(0)  # the offers handed to this loop run
        got = await take_all(sub)
        bus.publish(events("f", start=6))
        await asyncio.sleep(0)
        return bus, got, await take_all(sub)

    bus, got, after = run(scenario())
    assert numbers(got[:2]) == [1, 2]
    assert got[2] == Gap("overflow", 3, 5)  # the missed events, by sequence number
    assert len(got) == 3
    assert numbers(after) == [6] and isinstance(after[0], LiveEvent)  # then live again
    assert bus.stats()["live_events_dropped"] == 3 and bus.stats()["live_overflows"] == 1


def test_replay_after_an_id_gives_the_visible_buffered_events_then_live_without_duplicates():
    async def scenario():
        bus = make_bus()
        watcher, _ = bus.subscribe(everyone)
        bus.publish(events("midi", "other", "midi", "other"))
        await asyncio.sleep(0)
        first = (await take_all(watcher))[0]
        sub, replay = bus.subscribe(
            lambda alert: alert.zone == "midi", last_event_id=bus.event_id(first.seq)
        )
        bus.publish(events("midi", start=5))
        await asyncio.sleep(0)
        return replay, await take_all(sub)

    replay, live = run(scenario())
    assert numbers(replay) == [3]  # after #1, only what this principal may see
    assert numbers(live) == [5]


@pytest.mark.parametrize(
    ("last_event_id", "reason"),
    [
        ("0badc0de-1", "unknown"),  # another process's epoch
        ("nonsense", "unknown"),
        ("{epoch}-99", "unknown"),  # newer than anything published
        ("{epoch}-1", "no longer buffered"),  # fell out of the ring buffer
    ],
)
def test_a_last_event_id_that_cannot_be_resumed_is_a_gap(last_event_id, reason):
    async def scenario():
        bus = make_bus(replay_events=2)
        bus.publish(events(*"abcd"))
        _, replay = bus.subscribe(everyone, last_event_id=last_event_id.format(epoch=bus.epoch))
        return replay

    replay = run(scenario())
    assert isinstance(replay, Gap) and reason in replay.reason


def test_the_newest_id_resumes_with_nothing_to_replay_and_ids_carry_the_epoch():
    async def scenario():
        bus = make_bus(replay_events=2)
        bus.publish(events(*"abc"))
        return bus, bus.subscribe(everyone, last_event_id=bus.event_id(3))[1]

    bus, replay = run(scenario())
    assert replay == []
    assert bus.event_id(3) == f"{bus.epoch}-3" and bus.epoch != make_bus().epoch


def test_closing_a_user_or_a_credential_ends_only_their_streams_before_queued_events():
    async def scenario():
        bus = make_bus()
        mine, _ = bus.subscribe(everyone, user_id=1, credential="aaa")
        my_other, _ = bus.subscribe(everyone, user_id=1, credential="bbb")
        theirs, _ = bus.subscribe(everyone, user_id=2, credential="ccc")
        bus.publish(events("a"))
        await asyncio.sleep(0)
        assert bus.close_credential("aaa", "signed out") == 1
        assert bus.recheck_user(2) == 1
        await asyncio.sleep(0)
        after_sign_out = (await mine.next(0), await my_other.next(0), await theirs.next(0))
        bus.close_user(1, "account deleted")
        await asyncio.sleep(0)
        return after_sign_out, await my_other.next(0), await theirs.next(0)

    (mine, my_other, theirs), other_after, theirs_after = run(scenario())
    assert mine == Closed("signed out")  # at once, before the queued alert
    assert isinstance(my_other, LiveEvent)  # another token of the same user runs on
    assert theirs == Recheck()
    assert other_after == Closed("account deleted")
    assert isinstance(theirs_after, LiveEvent)


def test_a_waiting_subscriber_wakes_for_a_close():
    async def scenario():
        bus = make_bus()
        sub, _ = bus.subscribe(everyone, user_id=7)
        waiting = asyncio.create_task(sub.next(600))
        await asyncio.sleep(0)
        bus.close_user(7, "account deleted")
        return await asyncio.wait_for(waiting, 10)

    assert run(scenario()) == Closed("account deleted")
