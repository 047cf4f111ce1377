"""Scope property: no alert channel ever carries a read outside its recipient's scope, and
every recipient whose scope covers a camera receives every hit there that it may see."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import make_read
from veille.adapters.decoders.native_json import validate_batch
from veille.adapters.dispatch import MqttPublisher, topic_segment
from veille.bootstrap import Platform, bootstrap
from veille.domain.access import Principal, Role, Scope, ScopeKind
from veille.domain.audit import system_actor
from veille.domain.hotlists import Category, Hotlist
from veille.entrypoints.api.schemas.alerts import detail_json
from veille.service import alerts as alert_service
from veille.service import cameras as camera_service
from veille.service import hotlists as hotlist_service
from veille.service.events import HotlistHit
from veille.settings import Settings

pytestmark = pytest.mark.integration
WINDOW = timedelta(days=30)

ACTOR = system_actor("test")
# Two zones share a name in different provinces, so grouping by zone name alone would mix
# provinces and show a province scope a read of another province.
PLACES = [
    ("Midi", "Bruxelles-Capitale"),
    ("Polbruno", "Bruxelles-Capitale"),
    ("Centrum", "Antwerpen"),
    ("Centrum", "Oost-Vlaanderen"),
]
PLATES = ["1ABC123", "2XYZ999", "3DEF456"]
PREFIX = "veille/alerts"

scopes = st.one_of(
    st.just(Scope(ScopeKind.NATIONAL)),
    st.sampled_from(sorted({Scope(ScopeKind.ZONE, z) for z, _ in PLACES}, key=str)),
    st.sampled_from(sorted({Scope(ScopeKind.PROVINCE, p) for _, p in PLACES}, key=str)),
)


@dataclass(frozen=True)
class Entry:
    list_index: int
    plate: str
    covert: bool


world = st.fixed_dictionaries(
    {
        "cameras": st.lists(st.sampled_from(PLACES), min_size=2, max_size=4),
        "org_scopes": st.lists(scopes, min_size=1, max_size=4),
        "list_owners": st.lists(st.integers(0, 3), min_size=1, max_size=3),
        "entries": st.lists(
            st.tuples(st.integers(0, 2), st.sampled_from(PLATES), st.booleans()),
            min_size=1,
            max_size=6,
        ),
        "webhooks": st.lists(scopes, max_size=3),
        # each read: camera (index), plate (now and then one that is on no list)
        "reads": st.lists(
            st.tuples(st.integers(0, 3), st.sampled_from([*PLATES, *PLATES, "9NOT000"])),
            min_size=2,
            max_size=12,
        ),
    }
)


def topic_filter(scope: Scope) -> str:
    """The MQTT subscription a recipient of this scope uses (docs/alerts.md)."""
    slug = topic_segment
    if scope.kind is ScopeKind.NATIONAL:
        return f"{PREFIX}/#"
    if scope.kind is ScopeKind.PROVINCE:
        return f"{PREFIX}/{slug(scope.value or '')}/#"
    # a zone name is not unique across provinces: a zone subscribes under its province
    return f"{PREFIX}/+/{slug(scope.value or '')}"


def set_up(platform: Platform, w: dict, cameras: list[tuple[str, str]]) -> None:
    now = platform.clock()
    camera_service.import_cameras(
        uow=platform.uow(),
        records=[
            (
                f"camera {i}",
                {
                    "camera_id": f"CAM-{i}",
                    "lat": 50.85,
                    "lon": 4.35,
                    "zone": zone,
                    "province": province,
                    "phase": "live",
                },
            )
            for i, (zone, province) in enumerate(cameras)
        ],
        now=now,
        actor=ACTOR,
    )
    for i, owner in enumerate(w["list_owners"]):
        hotlist_service.save_list(
            uow=platform.uow(),
            now=now,
            actor=ACTOR,
            hotlist=Hotlist(f"list-{i}", f"List {i}", Category.INVESTIGATION, f"org-{owner}"),
        )
    by_list: dict[int, dict[str, bool]] = defaultdict(dict)
    for list_index, plate, covert in w["entries"]:
        if list_index < len(w["list_owners"]):
            by_list[list_index].setdefault(plate, covert)  # one entry per plate and list
    for list_index, plates in by_list.items():
        hotlist_service.import_list(
            uow=platform.uow(),
            snapshot=platform.read_uow,
            list_id=f"list-{list_index}",
            now=now,
            actor=ACTOR,
            records=[
                (f"line {n}", {"plate": p, "covert": "yes" if c else ""})
                for n, (p, c) in enumerate(plates.items())
            ],
        )
    with platform.uow() as uow:
        for i, scope in enumerate(w["webhooks"]):
            uow.alerts.add_webhook(
                name=f"hook-{i}",
                url=f"https://hook-{i}.example/",
                secret="s",
                scope_kind=scope.kind.value,
                scope_value=scope.value,
                now=now,
            )
        uow.commit()
    platform.matcher.refresh(platform.read_uow)
    w["by_list"] = by_list


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(w=world)
def test_every_channel_carries_exactly_the_hits_in_each_recipients_scope(w):
    cameras = w["cameras"]
    with tempfile.TemporaryDirectory() as tmp:
        platform = bootstrap(Settings(data_dir=Path(tmp), image_fsync=False, run_jobs=False))
        platform.store.initialise()
        try:
            check(platform, w, cameras)
        finally:
            platform.stop()


def check(platform: Platform, w: dict, cameras: list[tuple[str, str]]) -> None:
    set_up(platform, w, cameras)
    users = {
        f"org-{i}": Principal(
            user_id=i + 1,
            username=f"op-{i}",
            role=Role.OPERATOR,
            org_id=f"org-{i}",
            scope=scope,
            designated=True,
            training_expires=platform.clock() + timedelta(days=30),
        )
        for i, scope in enumerate(w["org_scopes"])
    }
    hooks = {f"hook-{i}": scope for i, scope in enumerate(w["webhooks"])}

    # the reads, each with an image of its own; which hits they must make
    place_of: dict[str, tuple[str, str]] = {}  # read id -> (zone, province)
    image_of: dict[str, str] = {}  # read id -> sha256
    expected: list[tuple[str, str, bool, str]] = []  # (read id, list id, covert, owner)
    batches = []
    for n, (camera_index, plate) in enumerate(w["reads"]):
        camera_index %= len(cameras)
        data = f"image {n}".encode() * 8
        item = make_read(
            f"CAM-{camera_index}",
            plate=plate,
            images=[
                {
                    "kind": "plate",
                    "content_type": "image/jpeg",
                    "data": base64.b64encode(data).decode(),
                }
            ],
        )
        rid = item["read_id"]
        place_of[rid] = cameras[camera_index]
        image_of[rid] = hashlib.sha256(data).hexdigest()
        for list_index, plates in w["by_list"].items():
            if plate in plates:
                owner = f"org-{w['list_owners'][list_index]}"
                expected.append((rid, f"list-{list_index}", plates[plate], owner))
        batches.append(
            validate_batch(
                [item],
                camera_id=f"CAM-{camera_index}",
                now=platform.clock(),
                rules=platform.read_rules,
                images=platform.images,
                encode=platform.encode_read,
            )
        )

    def may_see(user: Principal, rid: str, covert: bool, owner: str) -> bool:
        zone, province = place_of[rid]
        in_scope = user.scope.covers(zone=zone, province=province)
        return in_scope and (not covert or user.org_id == owner)

    def due(user: Principal) -> set[tuple[str, str]]:
        return {
            (rid, lid) for rid, lid, covert, owner in expected if may_see(user, rid, covert, owner)
        }

    live, events, published = asyncio.run(ingest(platform, batches, users))
    assert len(events) == len(expected)
    assert len(published) == sum(1 for _, _, covert, _ in expected if not covert)

    for name, user in users.items():
        # live channel: exactly the hits due, each payload's read in scope
        got = live[name]
        assert sorted((p["read"]["read_id"], p["list_id"]) for p in got) == sorted(due(user))
        for p in got:
            assert (p["zone"], p["province"]) == place_of[p["read"]["read_id"]]

        # alert list and details: every hit due, and no other
        seen: set[tuple[str, str]] = set()
        openable: set[str] = set()
        for alert in alert_service.alerts_for(
            uow=platform.read_uow(), principal=user, statuses=None, limit=1000
        ):
            detail = detail_json(  # as the API answers it
                alert_service.alert_detail(
                    uow=platform.read_uow(),
                    alert_id=alert.alert_id,
                    principal=user,
                    now=platform.clock(),
                    open_window=WINDOW,
                )
            )
            assert place_of[detail["read"]["read_id"]] == (alert.zone, alert.province)
            hits = {(h["read_id"], alert.list_id) for h in detail["hits"]}
            assert len(hits) == detail["hit_count"] == alert.hit_count
            seen |= hits
            # images: only those of the alert's own reads in scope, every such one
            for rid, sha in image_of.items():
                try:
                    alert_service.open_image(
                        uow=platform.uow(),
                        alert_id=alert.alert_id,
                        sha256=sha,
                        principal=user,
                        actor=ACTOR,
                        now=platform.clock(),
                        open_window=WINDOW,
                    )
                except alert_service.ImageNotFound:
                    assert (rid, alert.list_id) not in hits
                else:
                    assert (rid, alert.list_id) in hits
                    openable.add(rid)
        assert seen == due(user)
        assert openable == {rid for rid, _ in due(user)}
        # the alerts not listed for them do not exist for them, nor do their images
        listed = {
            a.alert_id
            for a in alert_service.alerts_for(
                uow=platform.read_uow(), principal=user, statuses=None, limit=1000
            )
        }
        for alert_id in {e.alert.alert_id for e in events} - listed:
            with pytest.raises(alert_service.AlertNotFound):
                alert_service.alert_detail(
                    uow=platform.read_uow(),
                    alert_id=alert_id,
                    principal=user,
                    now=platform.clock(),
                    open_window=WINDOW,
                )
            for sha in image_of.values():
                with pytest.raises(alert_service.AlertNotFound):
                    alert_service.open_image(
                        uow=platform.uow(),
                        alert_id=alert_id,
                        sha256=sha,
                        principal=user,
                        actor=ACTOR,
                        now=platform.clock(),
                        open_window=WINDOW,
                    )

        # MQTT: what the recipient's topic filter receives
        mqtt_got = [
            (orjson.loads(payload)["read"]["read_id"], orjson.loads(payload)["list_id"])
            for topic, payload in published
            if mqtt.topic_matches_sub(topic_filter(user.scope), topic)
        ]
        covert = {(rid, lid) for rid, lid, is_covert, _ in expected if is_covert}
        assert sorted(mqtt_got) == sorted(due(user) - covert)

    # webhooks: each non-covert hit goes to exactly the hooks whose scope covers its camera
    targeted: set[tuple[str, str, str]] = set()
    for event in events:
        rid = str(event.read.read_id)
        for hook in alert_service.webhook_targets(uow=platform.read_uow(), alert=event.alert):
            zone, province = place_of[rid]
            assert hooks[hook.name].covers(zone=zone, province=province)
            targeted.add((hook.name, rid, event.alert.list_id))
    assert targeted == {
        (name, rid, lid)
        for name, scope in hooks.items()
        for rid, lid, covert, _ in expected
        if not covert and scope.covers(zone=place_of[rid][0], province=place_of[rid][1])
    }


async def ingest(
    platform: Platform, batches: list, users: dict[str, Principal]
) -> tuple[dict[str, list[dict]], list, list[tuple[str, bytes]]]:
    """Store the reads through the real writer, with one live subscriber per user; return
    what each subscriber received, the committed events and the MQTT messages."""
    bus = platform.alert_bus
    subscribers = {
        name: bus.subscribe(lambda alert, who=user: alert_service.visible_to(alert, who))[0]
        for name, user in users.items()
    }
    events: list = []
    platform.bus.subscribe(HotlistHit, lambda hit, raised: events.append(hit))
    platform.writer.start()
    futures = [platform.writer.submit(batch) for batch in batches]
    # stopping finishes every queued batch and its publishing, on the writer's thread
    await asyncio.to_thread(platform.writer.stop)
    assert all(f.result().stored == 1 for f in futures)
    await asyncio.sleep(0)  # let the offers the writer handed to this loop run
    live = {
        name: [orjson.loads(payload) for payload in sub.drain()]
        for name, sub in subscribers.items()
    }
    publisher = MqttPublisher(
        host="127.0.0.1", port=1, prefix=PREFIX, to_json=alert_service.event_json
    )
    return live, events, publisher.messages(events)
