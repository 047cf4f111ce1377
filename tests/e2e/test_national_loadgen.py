"""The national bench's load generator, run as its own process, against a fake ingest server.

The fake server is a real HTTP/1.1 server (asyncio, in a thread of the test) that answers
like `POST /api/v1/reads` (`{"results": [{"index", "status", "read_id"}], ...}`, duplicates
by read id) and misbehaves on purpose, deterministically by read id, the first time it sees
a read: a 503 with Retry-After, an answer stalled past the camera's timeout (after storing:
the answer is lost, so the resend must come back `duplicate`), or a dropped connection.
It also closes idle keep-alive connections quickly, as a server under load does.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from PIL import Image

from veille.adapters.decoders.native_json import parse_read
from veille.bench.national.contract import LoadPlan, Step
from veille.domain.reads import ReadRejected

pytestmark = pytest.mark.e2e

SRC = Path(__file__).resolve().parents[2] / "src"
TIMEOUT_S = 0.6
IDLE_CLOSE_S = 0.4


def fault_of(read_id: str) -> str | None:
    bucket = int(hashlib.sha256(read_id.encode()).hexdigest(), 16) % 20
    return {0: "503", 1: "stall", 2: "drop"}.get(bucket)


@dataclass
class FakeIngest:
    tokens: dict[str, str]  # token -> camera_id
    stored: dict[str, str] = field(default_factory=dict)  # read_id -> camera_id
    seen: Counter[str] = field(default_factory=Counter)  # read_id -> requests carrying it
    requests: list[list[str]] = field(default_factory=list)  # read ids per request
    connection_cameras: dict[int, set[str]] = field(default_factory=lambda: defaultdict(set))
    connections: int = 0
    inline: list[tuple[str, bytes]] = field(default_factory=list)  # (kind, jpeg)
    uris: int = 0
    plates: list[str] = field(default_factory=list)
    faults: Counter[str] = field(default_factory=Counter)
    sha_of: dict[str, tuple[str, ...]] = field(default_factory=dict)  # read_id -> images
    rejected: list[str] = field(default_factory=list)  # what the real decoder refused

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        connection = self.connections
        try:
            while True:
                try:
                    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), IDLE_CLOSE_S)
                except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
                    return
                headers = dict(
                    line.split(": ", 1) for line in head.decode().split("\r\n")[1:] if line
                )
                body = await reader.readexactly(int(headers["Content-Length"]))
                camera = self.tokens[headers["Authorization"].removeprefix("Bearer ")]
                self.connection_cameras[connection].add(camera)
                answer = await self.answer(camera, body)
                if answer is None:
                    return  # dropped
                writer.write(answer)
                await writer.drain()
        finally:
            writer.close()

    async def answer(self, camera: str, body: bytes) -> bytes | None:
        document = orjson.loads(body)
        reads = document["reads"] if isinstance(document, dict) and "reads" in document else None
        reads = reads if reads is not None else [document]
        ids = [r["read_id"] for r in reads]
        self.requests.append(ids)
        first = [i for i in ids if self.seen[i] == 0]
        for read_id in ids:
            self.seen[read_id] += 1
        fault = next((fault_of(i) for i in first if fault_of(i)), None)
        if fault == "503":
            self.faults["503"] += 1
            payload = b'{"error":{"code":"ingest_busy","message":"busy"}}'
            return (
                b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 0\r\nContent-Type: "
                b"application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(payload), payload)
            )
        if fault == "drop":
            self.faults["drop"] += 1
            return None
        results = []
        for index, read in enumerate(reads):
            try:  # the real native-format decoder: camera, time, plate, images...
                parse_read(read, camera_id=camera, now=datetime.now(UTC))
            except ReadRejected as exc:
                self.rejected.append(str(exc))
                results.append({"index": index, "status": "rejected", "read_id": read["read_id"]})
                continue
            status = "duplicate" if read["read_id"] in self.stored else "stored"
            if status == "stored":
                self.stored[read["read_id"]] = camera
                self.plates.append(read["plate"])
                shas = []
                for image in read["images"]:
                    if "data" in image:
                        jpeg = base64.b64decode(image["data"])
                        self.inline.append((image["kind"], jpeg))
                        shas.append(hashlib.sha256(jpeg).hexdigest())
                    else:
                        self.uris += 1
                        shas.append("uri:" + image["uri"])
                self.sha_of[read["read_id"]] = tuple(shas)
            results.append({"index": index, "status": status, "read_id": read["read_id"]})
        if fault == "stall":
            self.faults["stall"] += 1
            await asyncio.sleep(TIMEOUT_S * 2)  # stored, but the answer comes too late
        payload = orjson.dumps({"results": results, "stored": 0, "duplicate": 0, "rejected": 0})
        return (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
            % (len(payload), payload)
        )


class ServerThread:
    def __init__(self, fake: FakeIngest):
        self.fake = fake
        self.loop = asyncio.new_event_loop()
        self.port = 0
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            server = self.loop.run_until_complete(
                asyncio.start_server(fake.serve, "127.0.0.1", 0, backlog=1024)
            )
            self.port = server.sockets[0].getsockname()[1]
            started.set()
            self.loop.run_forever()
            server.close()
            pending = asyncio.all_tasks(self.loop)
            for task in pending:
                task.cancel()
            self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self.loop.close()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        started.wait(10)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def _run_loadgen(tmp_path: Path, plan: LoadPlan) -> Path:
    plan_path = tmp_path / "plan.json"
    plan_path.write_bytes(plan.to_json())
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    subprocess.run(
        [sys.executable, "-m", "veille.bench.national.loadgen", str(plan_path), str(out)],
        env=env,
        check=True,
        timeout=120,
    )
    return out


def _lines(path: Path) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def _setup(tmp_path: Path, cameras: int) -> tuple[FakeIngest, Path, list[str]]:
    credentials = [{"camera_id": f"CAM-{i:04d}", "token": f"vc_t{i:04d}"} for i in range(cameras)]
    cameras_file = tmp_path / "cameras.json"
    cameras_file.write_bytes(orjson.dumps(credentials))
    hits = ["1-HIT-001", "1-HIT-002", "2-HIT-003"]
    (tmp_path / "hits.txt").write_text("\n".join(hits) + "\n")
    fake = FakeIngest(tokens={c["token"]: c["camera_id"] for c in credentials})
    return fake, cameras_file, hits


def test_the_load_generator_offers_its_plan_and_behaves_like_cameras(tmp_path: Path) -> None:
    fake, cameras_file, hits = _setup(tmp_path, 50)
    server = ServerThread(fake)
    try:
        plan = LoadPlan(
            base_url=f"http://127.0.0.1:{server.port}",
            cameras_file=str(cameras_file),
            hit_plates_file=str(tmp_path / "hits.txt"),
            hit_share=0.05,
            steps=(
                Step(name="1x", rate=150.0, duration_s=3.0),
                Step(name="2x", rate=300.0, duration_s=2.0),
                Step(name="max", rate=150.0, duration_s=1.2, search=True),
            ),
            inline_image_share=0.3,
            outage_share=0.2,
            outage_s=1.0,
            request_timeout_s=TIMEOUT_S,
            image_pool=6,
            search_factor=1.5,
            search_max_tries=2,
            ack_p99_target_ms=5000.0,  # the test is about behaviour, not this machine's speed
            drain_s=15.0,
        )
        out = _run_loadgen(tmp_path, plan)
    finally:
        server.stop()

    steps = {s["step"]: s for s in _lines(out / "steps.jsonl")}
    acks = _lines(out / "acks.jsonl")
    done = orjson.loads((out / "done.json").read_bytes())
    assert set(steps) == {"1x", "2x", "max"} and done["interrupted"] is False
    assert fake.rejected == []  # every read is valid in the native format

    # The offered rate is the plan's: counted reads, within Poisson noise and start-up slack.
    for name, rate, duration in (("1x", 150.0, 3.0), ("2x", 300.0, 2.0)):
        assert 0.8 * rate * duration <= steps[name]["offered"] <= 1.2 * rate * duration
    assert 1.6 <= steps["2x"]["offered_rate"] / steps["1x"]["offered_rate"] <= 2.4
    offered_per_step = Counter(str(a["step"]) for a in acks)
    assert offered_per_step["1x"] == steps["1x"]["offered"]  # all acknowledged, late or not
    # the search starts at the step's rate and raises it by the factor after a sustainable
    # try only (whether a 1.2 s try with stalls keeps up depends on this machine's load)
    tried = steps["max"]["tried_rates"]
    assert tried[0]["rate"] == 150.0
    if tried[0]["sustainable"]:
        assert [t["rate"] for t in tried] == [150.0, 225.0]
    else:
        assert len(tried) == 1
    assert steps["max"]["sustainable"] is any(t["sustainable"] for t in tried)
    assert (steps["max"]["highest_sustainable_rate"] is None) is not steps["max"]["sustainable"]

    # Every acknowledged read is in acks.jsonl exactly once, and they are what was stored.
    ids = [str(a["read_id"]) for a in acks]
    assert len(ids) == len(set(ids))
    assert set(ids) == set(fake.stored)
    assert done["unacknowledged"] == 0
    total_offered = sum(int(s["offered"]) for s in steps.values())  # search: its best try only
    assert len(ids) >= total_offered

    # One event per request, except the catch-up batches after an outage.
    batched = [r for r in fake.requests if len(r) > 1]
    assert batched, "the cameras that lost the network sent their queued reads batched"
    assert all(len(r) <= plan.max_batch for r in batched)
    # (the search step's result holds its best try's figures only, so >= over all steps)
    batched_ids = {i for r in batched for i in r}
    assert len(batched_ids) >= sum(int(s["batched_after_outage"]) for s in steps.values()) > 0
    single = [r for r in fake.requests if len(r) == 1]
    assert len(single) > 10 * len(batched)
    # each connection carries one camera's reads only
    assert all(len(cams) == 1 for cams in fake.connection_cameras.values())
    # the server closes idle connections; the cameras reconnect and carry on
    assert fake.connections > 50

    # Resend on 503 and on timeout, and after a dropped connection, with the same read ids.
    assert fake.faults["503"] > 0 and fake.faults["stall"] > 0 and fake.faults["drop"] > 0
    faulted = [i for i in fake.stored if fault_of(i) is not None]
    assert faulted and all(fake.seen[i] >= 2 for i in faulted)
    status_of = {str(a["read_id"]): a["status"] for a in acks}
    stalled_alone = [
        i for i in fake.stored if fault_of(i) == "stall" and [i] in fake.requests
    ]  # stalled on its own request: stored, the answer lost, so the resend is a duplicate
    assert stalled_alone and all(status_of[i] == "duplicate" for i in stalled_alone)
    assert sum(int(s["status_503"]) for s in steps.values()) > 0
    assert sum(int(s["timeouts"]) for s in steps.values()) > 0
    assert sum(int(s["resends"]) for s in steps.values()) > 0

    # Images: real JPEGs of about 3 KB and 25 KB, inline for the configured share.
    assert fake.inline
    for kind, jpeg in fake.inline[:200]:
        image = Image.open(io.BytesIO(jpeg))
        image.load()
        assert image.format == "JPEG"
        low, high = (2_500, 3_600) if kind == "plate" else (22_000, 29_000)
        assert low <= len(jpeg) <= high, (kind, len(jpeg))
    assert len({hashlib.sha256(j).digest() for _, j in fake.inline}) == len(fake.inline)
    inline_reads = len(fake.inline) / 2
    share = inline_reads / (inline_reads + fake.uris / 2)
    assert 0.2 <= share <= 0.4
    for ack in acks:  # the acks name the images the server got
        assert tuple(ack["images"]) == fake.sha_of[str(ack["read_id"])]
        assert float(ack["first_sent_at"]) >= float(ack["due_at"]) - 0.001
        assert float(ack["acked_at"]) >= float(ack["first_sent_at"])

    # Traffic: a share of hits from the hotlist file, and plates that vary otherwise.
    hit_reads = sum(p in hits for p in fake.plates)
    assert 0.02 * len(fake.plates) <= hit_reads <= 0.09 * len(fake.plates)
    assert len(set(fake.plates)) > len(fake.plates) / 3

    # progress.jsonl: about one line per second, with the step in progress.
    progress = _lines(out / "progress.jsonl")
    assert {"1x", "2x", "max"} <= {str(p["step"]) for p in progress}
    assert len(progress) >= 6


def test_sigterm_ends_the_run_cleanly_across_worker_processes(tmp_path: Path) -> None:
    fake, cameras_file, _ = _setup(tmp_path, 40)
    server = ServerThread(fake)
    try:
        plan = LoadPlan(
            base_url=f"http://127.0.0.1:{server.port}",
            cameras_file=str(cameras_file),
            steps=(Step(name="long", rate=100.0, duration_s=60.0),),
            outage_share=0.0,
            request_timeout_s=TIMEOUT_S,
            image_pool=4,
            processes=2,
        )
        plan_path = tmp_path / "plan.json"
        plan_path.write_bytes(plan.to_json())
        out = tmp_path / "out"
        process = subprocess.Popen(
            [sys.executable, "-m", "veille.bench.national.loadgen", str(plan_path), str(out)],
            env={**os.environ, "PYTHONPATH": str(SRC)},
        )
        progress = out / "progress.jsonl"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (
            not progress.exists() or len(progress.read_bytes().splitlines()) < 3
        ):
            time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        server.stop()

    done = orjson.loads((out / "done.json").read_bytes())
    assert done["interrupted"] is True and done["processes"] == 2
    (step,) = _lines(out / "steps.jsonl")
    assert step["step"] == "long" and 0 < int(step["offered"]) < 100 * 60 / 2
    acks = [str(a["read_id"]) for a in _lines(out / "acks.jsonl")]
    assert len(acks) == len(set(acks))  # both workers' lines, none twice, none torn
    unacknowledged = {str(u["read_id"]) for u in _lines(out / "unacknowledged.jsonl")}
    # every read the server stored is acknowledged or listed as unacknowledged
    assert set(fake.stored) <= set(acks) | unacknowledged
    assert set(acks) <= set(fake.stored) and not set(acks) & unacknowledged
    # both workers' cameras posted: the population is split, not duplicated
    cameras = {c for cams in fake.connection_cameras.values() for c in cams}
    assert len(cameras) > 30
