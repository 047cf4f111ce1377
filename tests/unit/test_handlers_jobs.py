"""Job and case-hold handlers on the in-memory store: each job idempotent and audited,
run by the scheduler through the bus."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest

from tests.contract.builders import a_camera, a_read, an_image, committed, seen
from tests.unit.fakes import FakePlatform, memory_bus
from veille.domain.audit import AuditEntry, system_actor
from veille.domain.retention import Hold
from veille.service.commands.jobs import (
    CaseHolds,
    PlaceHold,
    PurgeExpiredReads,
    ReleaseHold,
    SweepClones,
    SweepOrphanImages,
)
from veille.service.errors import Invalid, NotFound
from veille.service.handlers import audit, jobs
from veille.service.jobs import JOBS, JobScheduler, UnknownJob, job_command

pytestmark = pytest.mark.unit

D = timedelta(days=1)
ACTOR = system_actor("cli:test")


@pytest.fixture
def fake() -> FakePlatform:
    fake = memory_bus(jobs.register, audit.register)

    def cameras(uow: Any) -> None:
        uow.cameras.add(a_camera("BXL-1"))  # Brussels
        uow.cameras.add(a_camera("LGE-1", lat=50.633, lon=5.567, zone="Liège"))  # 90 km off

    committed(fake.store, cameras)
    return fake


def audit_of(fake: FakePlatform, action: str) -> list[AuditEntry]:
    return seen(
        fake.store,
        lambda uow: [r.entry for r in uow.audit.iter_all() if r.entry.action == action],
    )


def plates_stored(fake: FakePlatform) -> list[str]:
    ever = {"start": fake.now - 1000 * D, "end": fake.now + D}
    return sorted(r.plate for r in seen(fake.store, lambda uow: uow.reads.find(**ever)))


def stored_image(fake: FakePlatform, data: bytes) -> str:
    sha = hashlib.sha256(data).hexdigest()
    fake.images.put(sha, data)
    return sha


# --- retention --------------------------------------------------------------------------


def test_retention_deletes_what_is_past_the_maximum_unless_held_and_again_nothing(fake):
    old = fake.now - 400 * D
    a = stored_image(fake, b"old plate image")
    reads = [
        a_read("1OLD111", at=old, images=(an_image(a),)),
        a_read("2HELD22", at=old),
        a_read("3NEW333", at=fake.now - 10 * D),
    ]
    committed(fake.store, lambda uow: uow.reads.add_many(reads))
    fake.bus.handle(
        PlaceHold(case_ref="PV-1", plates=["2HELD22"], start=old - D, end=old + D, actor=ACTOR)
    )

    dry = fake.bus.handle(PurgeExpiredReads(dry_run=True))
    assert (dry.deleted_reads, dry.dry_run) == (1, True)
    assert len(plates_stored(fake)) == 3 and fake.images.exists(a)

    real = fake.bus.handle(PurgeExpiredReads())
    assert (real.deleted_reads, real.deleted_images, real.kept_by_holds) == (1, 1, 1)
    assert plates_stored(fake) == ["2HELD22", "3NEW333"]
    assert not fake.images.exists(a)

    again = fake.bus.handle(PurgeExpiredReads())
    assert again.deleted_reads == 0 and again.kept_by_holds == 1
    assert len(audit_of(fake, "retention.dry_run")) == 1
    purges = audit_of(fake, "retention.purge")
    assert [e.result_count for e in purges] == [1, 0]
    assert purges[0].actor.username == "job:retention"


def test_the_image_sweep_deletes_old_files_no_read_refers_to(fake):
    b = stored_image(fake, b"kept: a read refers to it")
    c = stored_image(fake, b"orphan")
    committed(fake.store, lambda uow: uow.reads.add_many([a_read(images=(an_image(b),))]))
    fake.now += timedelta(hours=2)  # both files are older than the hour a write may take
    d = stored_image(fake, b"young orphan: its read may still be on its way")

    dry = fake.bus.handle(SweepOrphanImages(dry_run=True))
    assert (dry.checked, dry.deleted) == (2, 1) and fake.images.exists(c)
    report = fake.bus.handle(SweepOrphanImages())
    assert (report.checked, report.deleted) == (2, 1)
    assert fake.images.files == {b, d}
    assert fake.bus.handle(SweepOrphanImages()).deleted == 0
    [entry_dry] = audit_of(fake, "images.sweep_dry_run")
    assert [e.result_count for e in audit_of(fake, "images.sweep")] == [1, 0]
    assert entry_dry.actor.username == "job:image-sweep"


def test_the_clone_sweep_records_an_impossible_journey_once(fake):
    committed(
        fake.store,
        lambda uow: uow.reads.add_many(
            [
                a_read("9CLONE9", camera_id="BXL-1", at=fake.now - timedelta(minutes=30)),
                a_read("9CLONE9", camera_id="LGE-1", at=fake.now - timedelta(minutes=25)),
            ]
        ),
    )
    assert fake.bus.handle(SweepClones(dry_run=True)).recorded == 0
    first = fake.bus.handle(SweepClones())
    assert (first.findings, first.recorded) == (1, 1)
    assert fake.bus.handle(SweepClones()).recorded == 0  # idempotent
    [finding] = seen(fake.store, lambda uow: uow.clone_findings.find())
    assert finding.plate == "9CLONE9"
    assert [e.result_count for e in audit_of(fake, "analysis.clone_sweep")] == [0, 1, 0]


# --- the schedule -----------------------------------------------------------------------


def test_the_scheduler_hands_each_due_job_to_the_bus_and_waits_for_its_period(fake):
    scheduler = JobScheduler(fake.bus, clock=lambda: fake.now)
    ran = scheduler.tick(fake.now)
    assert set(ran) == set(JOBS) and scheduler.last_error == {}
    assert ran["audit-anchor"].seq == seen(fake.store, lambda uow: uow.audit.last()).seq
    assert set(scheduler.tick(fake.now + timedelta(hours=1))) == {"clone-sweep", "audit-anchor"}
    assert len(audit_of(fake, "retention.purge")) == 1


def test_a_job_is_run_on_demand_by_name_and_an_unknown_name_is_not_found(fake):
    report = fake.bus.handle(job_command("retention", dry_run=True))
    assert report.dry_run and audit_of(fake, "retention.dry_run")
    with pytest.raises(NotFound) as unknown:
        job_command("nope")
    assert isinstance(unknown.value, UnknownJob) and "retention" in str(unknown.value)


# --- case holds -------------------------------------------------------------------------


def test_a_hold_is_placed_listed_and_released_each_audited(fake):
    start = fake.now - 100 * D
    hold: Hold = fake.bus.handle(
        PlaceHold(
            case_ref=" PV-7 ",
            plates=["1 abc 123"],
            camera_ids=["BXL-1"],
            start=start,
            end=fake.now,
            actor=ACTOR,
        )
    )
    assert (hold.case_ref, hold.plates, hold.camera_ids) == ("PV-7", {"1ABC123"}, {"BXL-1"})
    [placed] = audit_of(fake, "hold.place")
    assert (placed.target, placed.case_ref) == (f"hold:{hold.hold_id}", "PV-7")

    assert fake.bus.handle(CaseHolds(actor=ACTOR)) == [hold]
    released = fake.bus.handle(ReleaseHold(hold_id=hold.hold_id, actor=ACTOR))
    assert released.released_by == "cli:test" and released.released_at == fake.now
    assert fake.bus.handle(CaseHolds(actor=ACTOR)) == []
    assert fake.bus.handle(CaseHolds(actor=ACTOR, include_released=True)) == [released]
    assert [e.result_count for e in audit_of(fake, "hold.list")] == [1, 0, 1]
    assert len(audit_of(fake, "hold.release")) == 1

    with pytest.raises(NotFound):
        fake.bus.handle(ReleaseHold(hold_id=hold.hold_id, actor=ACTOR))


@pytest.mark.parametrize(
    ("plates", "cameras", "why"),
    [([], [], "at least one plate"), ([], ["NOWHERE"], "unknown camera")],
)
def test_a_hold_the_rules_refuse_is_invalid_and_stores_nothing(fake, plates, cameras, why):
    with pytest.raises(Invalid, match=why):
        fake.bus.handle(
            PlaceHold(
                case_ref="PV-8",
                plates=plates,
                camera_ids=cameras,
                start=fake.now - D,
                end=fake.now,
                actor=ACTOR,
            )
        )
    assert seen(fake.store, lambda uow: uow.holds.find(include_released=True)) == []
    assert audit_of(fake, "hold.place") == []
