"""The simulator's HTTP client against a fake server that follows the ingest contract."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import pytest

from veille.adapters.decoders.native_json import parse_read
from veille.domain.cameras import camera_from_record
from veille.domain.reads import ReadRejected
from veille.simulator.client import ClientStats, RetryPolicy, SimulatorError, stream_reads
from veille.simulator.runner import SimulationConfig, build_simulation, run_simulation
from veille.simulator.traffic import SimRead

pytestmark = pytest.mark.integration

ADMIN = "admin-secret"
FAST_RETRY = RetryPolicy(initial_s=0.001, max_s=0.01)


@dataclass
class FakeServer:
    """The contract of /api/v1/cameras/import and /api/v1/reads, with injectable faults."""

    max_batch: int = 1000
    fail_first: int = 0  # answer 503 without storing
    lose_answers: int = 0  # then: store, but answer 503 (the answer is lost)
    drop_connections: int = 0  # then: raise a connection error without storing
    tokens: dict[str, str] = field(default_factory=dict)  # token -> camera_id
    stored: dict[str, str] = field(default_factory=dict)  # read_id -> camera_id
    requests: list[tuple[str, list[str], int]] = field(default_factory=list)
    imports: int = 0
    arrivals: list[tuple[datetime, datetime]] = field(default_factory=list)  # captured, arrived

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        auth = request.headers.get("authorization", "")
        token = auth.removeprefix("Bearer ")
        if request.url.path == "/api/v1/cameras/import":
            return self._import(request, token)
        if request.url.path == "/api/v1/reads":
            return self._reads(request, token)
        return httpx.Response(404)

    def _import(self, request: httpx.Request, token: str) -> httpx.Response:
        if token != ADMIN:
            return httpx.Response(401, json={"code": "unauthorized"})
        reissue = request.url.params["issue_tokens"]
        assert reissue in ("new", "all")
        body = orjson.loads(request.content)
        assert body["format"] == "records"
        issued = {}
        for record in body["cameras"]:
            camera = camera_from_record(record, now=datetime.now(UTC))
            held = [t for t, c in self.tokens.items() if c == camera.camera_id]
            if held and reissue == "new":
                continue  # a registered camera keeps its token
            for old in held:  # one token per camera: a new one revokes the old
                del self.tokens[old]
            issued[camera.camera_id] = f"tok-{camera.camera_id}-{self.imports}-{len(self.tokens)}"
            self.tokens[issued[camera.camera_id]] = camera.camera_id
        self.imports += 1
        return httpx.Response(200, json={"created": len(issued), "updated": 0, "tokens": issued})

    def _reads(self, request: httpx.Request, token: str) -> httpx.Response:
        camera_id = self.tokens.get(token)
        if camera_id is None:
            return httpx.Response(401, json={"code": "unauthorized"})
        try:
            items = orjson.loads(request.content)["reads"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return httpx.Response(400, json={"code": "malformed_json"})
        if not 1 <= len(items) <= self.max_batch:
            return httpx.Response(413, json={"code": "batch_too_large"})
        ids = [str(item.get("read_id")) for item in items]
        if self.fail_first > 0:
            self.fail_first -= 1
            self.requests.append((camera_id, ids, 503))
            return httpx.Response(503, headers={"Retry-After": "0"})
        if self.drop_connections > 0 and self.lose_answers == 0:
            self.drop_connections -= 1
            self.requests.append((camera_id, ids, 0))
            raise httpx.ConnectError("connection reset", request=request)
        results, counts = [], Counter()
        now = datetime.now(UTC)
        for index, item in enumerate(items):
            try:
                read = parse_read(item, camera_id=camera_id, now=now).read
                self.arrivals.append((read.captured_at, now))
            except ReadRejected as exc:
                status = "rejected"
                errors = [e.as_dict() for e in exc.errors]
                results.append({"index": index, "status": status, "errors": errors})
            else:
                read_id = str(read.read_id)
                status = "duplicate" if read_id in self.stored else "stored"
                self.stored.setdefault(read_id, camera_id)
                results.append({"index": index, "status": status, "read_id": read_id})
            counts[status] += 1
        if self.lose_answers > 0:
            self.lose_answers -= 1
            self.requests.append((camera_id, ids, 503))
            return httpx.Response(503)
        self.requests.append((camera_id, ids, 200))
        return httpx.Response(
            200,
            json={
                "results": results,
                "stored": counts["stored"],
                "duplicate": counts["duplicate"],
                "rejected": counts["rejected"],
            },
        )


def run(config: SimulationConfig, server: FakeServer, **kwargs):
    return asyncio.run(
        run_simulation(
            config,
            base_url="http://veille.test",
            admin_token=ADMIN,
            transport=server.transport(),
            **kwargs,
        )
    )


def fast(total: int, **kwargs) -> SimulationConfig:
    kwargs.setdefault("retry", FAST_RETRY)
    kwargs.setdefault("batch_size", 25)
    return SimulationConfig(
        cameras=30, rate=50, seed=3, total=total, realtime=False, concurrency=4, **kwargs
    )


def test_fast_run_stores_every_read_once_in_single_camera_batches():
    server = FakeServer()
    report = run(
        fast(1500, scenarios=("route", "convoy", "near-point", "misread", "clone")), server
    )
    stats = report.stats
    assert (stats.stored, stats.duplicate, stats.rejected, stats.failed) == (1500, 0, 0, 0)
    assert stats.pending == 0 and stats.finished
    assert len(server.stored) == 1500
    assert server.imports == 1 and len(server.tokens) == 30
    for camera_id, ids, _ in server.requests:  # the fake checked token vs payload camera
        assert 1 <= len(ids) <= 25
        assert {server.stored[i] for i in ids} == {camera_id}
    truth_ids = {i for t in report.ground_truth for i in t.read_ids}
    assert truth_ids and truth_ids <= set(server.stored)
    document = report.as_dict()
    assert document["stored"] == 1500 and len(document["ground_truth"]) == 5
    orjson.dumps(document)


def test_503_and_lost_answers_lose_nothing_and_count_nothing_twice():
    server = FakeServer(fail_first=4, lose_answers=3, drop_connections=3)
    report = run(fast(800), server)
    stats = report.stats
    assert len(server.stored) == 800  # nothing lost
    assert stats.failed == 0 and stats.pending == 0
    # Reads stored by an attempt whose answer was lost come back as duplicates on retry.
    assert stats.stored + stats.duplicate == 800
    assert stats.stored + stats.duplicate_after_retry == len(server.stored)
    assert stats.duplicate == stats.duplicate_after_retry > 0
    assert stats.retries == 4 + 3 + 3
    # Every failed attempt was followed by the very same batch, same read ids.
    for n, (camera_id, ids, status) in enumerate(server.requests):
        if status != 200:
            assert (camera_id, ids) in [(c, i) for c, i, _ in server.requests[n + 1 :]]


def test_oversized_batches_are_split():
    server = FakeServer(max_batch=4)
    report = run(fast(300, batch_size=50), server)
    assert report.stats.stored == 300 and report.stats.failed == 0
    assert all(len(ids) <= 4 for _, ids, status in server.requests if status == 200)


def test_bad_credentials_fail_without_retrying():
    server = FakeServer()
    with pytest.raises(SimulatorError, match="401"):
        asyncio.run(
            run_simulation(
                fast(10),
                base_url="http://veille.test",
                admin_token="wrong",
                transport=server.transport(),
            )
        )

    async def main() -> ClientStats:
        sim = build_simulation(fast(40), start=datetime.now(UTC) - timedelta(hours=1))
        async with httpx.AsyncClient(
            base_url="http://veille.test", transport=server.transport()
        ) as http:
            tokens = {r["camera_id"]: "revoked" for r in sim.records}
            return await stream_reads(http, sim.reads(count=40), tokens=tokens, retry=FAST_RETRY)

    stats = asyncio.run(main())
    assert stats.failed == 40 and stats.retries == 0 and "401" in stats.failures[0]
    assert stats.auth_failed == 40 and stats.as_dict()["auth_failed"] == 40  # told apart
    assert not server.stored


def test_generating_reads_does_not_hold_the_event_loop():
    """Planning traffic (a network's warm-up can take seconds) runs beside the event loop."""
    server = FakeServer()
    sim = build_simulation(fast(30), start=datetime.now(UTC) - timedelta(hours=1))
    server.tokens = {f"tok-{r['camera_id']}": r["camera_id"] for r in sim.records}
    loop_ran = threading.Event()
    seen: dict[str, bool] = {}

    def planned_reads() -> Iterator[SimRead]:
        deadline = time.monotonic() + 10  # reached only if the loop cannot run meanwhile
        while not loop_ran.is_set() and time.monotonic() < deadline:
            pass  # CPU-bound planning before the first read, as a warm-up is
        seen["loop ran while planning"] = loop_ran.is_set()
        yield from sim.reads(count=30)

    async def main() -> ClientStats:
        async def heartbeat() -> None:
            while True:
                await asyncio.sleep(0.01)
                loop_ran.set()

        beat = asyncio.create_task(heartbeat())
        async with httpx.AsyncClient(
            base_url="http://veille.test", transport=server.transport()
        ) as http:
            tokens = {camera: token for token, camera in server.tokens.items()}
            stats = await stream_reads(http, planned_reads(), tokens=tokens, retry=FAST_RETRY)
        beat.cancel()
        return stats

    stats = asyncio.run(main())
    assert seen == {"loop ran while planning": True}
    assert stats.stored == len(server.stored) == 30


def test_a_second_simulation_keeps_the_cameras_of_a_running_one_unless_told():
    server = FakeServer()
    first = run(fast(20), server)
    assert first.stats.stored == 20
    held = dict(server.tokens)
    with pytest.raises(SimulatorError, match="--reissue-tokens"):
        run(fast(20), server)
    assert server.tokens == held  # nothing was taken from the first simulation
    second = run(fast(20, reissue_tokens=True), server)
    assert second.stats.stored == 20 and server.tokens.keys().isdisjoint(held)


def test_retries_can_be_bounded():
    server = FakeServer(fail_first=10_000)
    report = run(fast(20, retry=RetryPolicy(initial_s=0.001, max_s=0.001, max_attempts=3)), server)
    assert report.stats.failed == 20 and report.stats.stored == 0
    assert "gave up after 3 attempts" in report.stats.failures[0]


# Pacing waits are rounded (sleeps under 2 ms are skipped, stamps kept to the millisecond)
PACE_SLACK = timedelta(milliseconds=50)


def test_realtime_paces_reads_to_the_rate_and_stamps_them_now():
    server = FakeServer()
    config = SimulationConfig(
        cameras=12, rate=60, seed=1, duration_s=1.0, flush_interval_s=0.1, retry=FAST_RETRY
    )
    before = datetime.now(UTC)
    report = run(config, server)
    after = datetime.now(UTC)
    # Stamped now: the run's clock starts during the run, and its reads span the duration.
    assert before <= report.start <= after
    captured = sorted(c for c, _ in server.arrivals)
    assert report.start - PACE_SLACK <= captured[0]
    assert captured[-1] <= report.start + timedelta(seconds=config.duration_s)
    # Paced: no read reaches the server before the moment it is stamped with. A loaded
    # machine only makes reads later, so this holds however slow it is (no upper bound).
    assert all(arrived >= at - PACE_SLACK for at, arrived in server.arrivals)
    # To the rate: about rate x duration reads (a seeded, virtual count, not a timing).
    assert 30 <= report.stats.stored <= 100
    assert len(server.stored) == report.stats.stored == len(server.arrivals)


def test_cancellation_flushes_what_is_in_flight():
    server = FakeServer()
    snapshots: list[ClientStats] = []
    config = SimulationConfig(
        cameras=60, rate=200, seed=2, flush_interval_s=5.0, batch_size=1000, retry=FAST_RETRY
    )  # runs until cancelled

    async def main() -> None:
        task = asyncio.create_task(
            run_simulation(
                config,
                base_url="http://veille.test",
                admin_token=ADMIN,
                transport=server.transport(),
                progress=snapshots.append,
            )
        )
        async with asyncio.timeout(20):  # cancel once reads are flowing (progress ticks)
            while not snapshots or snapshots[-1].generated < 50:
                await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    final = snapshots[-1]
    assert final.cancelled and not final.finished
    # Batches were still buffering (flush interval 5 s) when cancelled: all were flushed.
    assert final.generated > 50
    assert final.pending == 0 and final.failed == 0
    assert final.stored == len(server.stored) == final.generated


def test_progress_reports_growing_counts_and_a_complete_final_report():
    server = FakeServer()
    ticks: list[ClientStats] = []
    config = SimulationConfig(
        cameras=10, rate=30, seed=1, duration_s=2.2, flush_interval_s=0.1, progress_interval_s=0.1
    )
    run(config, server, progress=ticks.append)
    # How many ticks arrive while running depends on the machine's load, which a test
    # must not assert; what is asserted: the final report is complete and the reports
    # never go backwards.
    assert ticks and ticks[-1].finished and not any(t.finished for t in ticks[:-1])
    assert ticks[-1].stored == len(server.stored) == ticks[-1].generated
    assert [t.generated for t in ticks] == sorted(t.generated for t in ticks)
    assert all(a < b for a, b in itertools.pairwise(t.elapsed_s for t in ticks))
