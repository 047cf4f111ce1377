"""A/B driver for one-event-per-request ingest with inline images (issue 11, item 3).

Each variant is a source tree (and optional environment) of Veille; the runs alternate
A, B, A, B, ... on a fresh store each, so a shared, loaded machine hurts both alike.
Every request is what a real camera sends: one read, a 3 KB plate crop and a 25 KB
overview as inline base64 (JPEG magic, unique bytes per read, so content addressing
never dedupes them). Closed loop over `--concurrency` keep-alive connections, one camera
per connection; it reports acknowledged reads/s, acknowledgement p50/p99/p99.9, and the
server's CPU time per acknowledged read (event loop, other threads), which a
loaded machine changes much less than the rate. `--uri-share` sends that share of the
reads with both images as `uri` references instead of inline bytes.

    PYTHONPATH=src python scripts/ingest_ab.py --variant before=/tmp/perf-base/src \
        --variant after=src --seconds 20 --rounds 3 [--profile DIR]

What it does not cover: an open-loop schedule, a prefilled store, hotlists, searches.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_SETUP = r"""
import json, sys
from datetime import UTC, datetime
from veille.bootstrap import bootstrap
from veille.domain.audit import system_actor
from veille.service import cameras as camera_service
from veille.settings import Settings
data_dir, count = sys.argv[1], int(sys.argv[2])
platform = bootstrap(Settings(data_dir=data_dir))
platform.store.initialise()
records = [("bench", {"camera_id": f"AB-{i:05d}", "lat": 50.85, "lon": 4.35, "zone": "Bench",
            "province": "Bruxelles-Capitale", "phase": "live"}) for i in range(count)]
tokens = camera_service.import_cameras(uow=platform.uow(), records=records,
    now=datetime.now(UTC), issue_tokens="all", actor=system_actor("bench")).tokens
platform.store.close()
print(json.dumps(tokens))
"""

JPEG_MAGIC = b"\xff\xd8\xff\xe0"


def _image_b64(size: int, rng: random.Random) -> bytes:
    data = JPEG_MAGIC + rng.randbytes(size - len(JPEG_MAGIC))
    return base64.b64encode(data)


class Bodies:
    """Request bodies built from a template: unique read id and unique image bytes each.

    The 12 base64 characters after the JPEG magic's encoding are replaced by the
    request's counter (9 bytes), so every image has its own digest at no base64 cost.
    """

    def __init__(self, images: bool, seed: int = 7, uri_share: float = 0.0) -> None:
        rng = random.Random(seed)
        self.images = images
        self.uri_share = uri_share  # of the reads, those whose images are uri references
        self.plate_b64 = _image_b64(3 * 1024, rng)
        self.overview_b64 = _image_b64(25 * 1024, rng)
        self.counter = 0
        self.start = datetime.now(UTC)

    def body(self, camera_id: str) -> bytes:
        self.counter += 1
        n = self.counter
        stamp = base64.b64encode(n.to_bytes(9, "big"))
        doc: dict[str, Any] = {
            "read_id": str(uuid.uuid4()),
            "camera_id": camera_id,
            "captured_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "plate": f"{n % 9 + 1}-ABC-{n % 1000:03d}",
            "country": "BE",
            "confidence": 0.91,
            "direction": "approaching",
            "lane": 1,
            "vehicle": {"make": "VW", "colour": "grey", "type": "car"},
        }
        if not self.images:
            return json.dumps(doc).encode()
        doc["images"] = "@@IMAGES@@"
        head, _, tail = json.dumps(doc).encode().partition(b'"@@IMAGES@@"')
        if n % 100 < self.uri_share * 100:  # held by the camera's recorder, not sent
            where = f"https://nvr.example/{camera_id}/{n}".encode()
            return (
                head
                + b'[{"kind":"plate","content_type":"image/jpeg","uri":"'
                + where
                + b'/plate.jpg"},{"kind":"overview","content_type":"image/jpeg","uri":"'
                + where
                + b'/overview.jpg"}]'
                + tail
            )
        plate = self.plate_b64[:4] + stamp + self.plate_b64[16:]
        overview = self.overview_b64[:4] + stamp + self.overview_b64[16:]
        images = (
            b'[{"kind":"plate","content_type":"image/jpeg","data":"' + plate + b'"},'
            b'{"kind":"overview","content_type":"image/jpeg","data":"' + overview + b'"}]'
        )
        return head + images + tail


async def _post(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, token: str, body: bytes
) -> tuple[int, bytes]:
    head = (
        f"POST /api/v1/reads HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    writer.write(head + body)
    await writer.drain()
    status = int((await reader.readline()).split()[1])
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        if name.lower() == "content-length":
            length = int(value)
    return status, await reader.readexactly(length)


_TICK = os.sysconf("SC_CLK_TCK")


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds (user + system) of the server's threads, summed by role: the event loop
    (the main thread) and every other thread (the writer, worker threads; Python 3.11
    does not give the system its threads' names)."""
    out = {"loop": 0.0, "threads": 0.0}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:  # the thread ended meanwhile
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        seconds = (int(fields[11]) + int(fields[12])) / _TICK
        out["loop" if task.name == str(pid) else "threads"] += seconds
    return out


async def _drive(
    port: int,
    tokens: dict[str, str],
    bodies: Bodies,
    seconds: float,
    warmup: float,
    server_pid: int | None = None,
) -> dict[str, Any]:
    latencies: list[float] = []
    counts = {"stored": 0, "busy": 0, "other": 0}
    begin = time.perf_counter()
    measure_from = begin + warmup
    end = measure_from + seconds
    cpu: list[dict[str, float]] = []

    async def sample_cpu() -> None:  # the server's CPU over the measured window
        if server_pid is None:
            return
        await asyncio.sleep(warmup)
        cpu.append(thread_cpu(server_pid))
        await asyncio.sleep(seconds)
        cpu.append(thread_cpu(server_pid))

    async def camera(camera_id: str, token: str) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while (now := time.perf_counter()) < end:
                body = bodies.body(camera_id)
                status, content = await _post(reader, writer, token, body)
                done = time.perf_counter()
                if now < measure_from:
                    continue
                if status == 200 and b'"stored":1' in content:
                    counts["stored"] += 1
                    latencies.append(done - now)
                elif status == 503:
                    counts["busy"] += 1
                    await asyncio.sleep(1.0)
                else:
                    counts["other"] += 1
                    print(status, content[:200], file=sys.stderr)
        finally:
            writer.close()

    await asyncio.gather(sample_cpu(), *(camera(c, t) for c, t in tokens.items()))
    latencies.sort()
    n = len(latencies)
    per_read: dict[str, float] = {}
    if len(cpu) == 2 and counts["stored"]:
        # server CPU-ms per acknowledged read: what the machine's load does not change
        # much, unlike reads/s (2 cores at 1,600 reads/s leave 1.25 ms a read, all in)
        per_read = {
            f"cpu_ms_{role}": round((cpu[1][role] - cpu[0][role]) * 1000 / counts["stored"], 3)
            for role in cpu[0]
        }
        per_read["cpu_ms_per_read"] = round(sum(per_read.values()), 3)

    def q(p: float) -> float:
        return round(latencies[min(n - 1, int(n * p))] * 1000, 1) if n else float("nan")

    return {
        "reads_per_s": round(counts["stored"] / seconds, 1),
        "p50_ms": q(0.5),
        "p99_ms": q(0.99),
        "p999_ms": q(0.999),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 1) if n else None,
        **counts,
        **per_read,
    }


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_variant(
    name: str, src: str, env: dict[str, str], args: argparse.Namespace, round_no: int
) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix=f"veille-ab-{name}-"))
    child_env = {**os.environ, "PYTHONPATH": str(Path(src).resolve()), **env}
    try:
        out = subprocess.run(
            [sys.executable, "-c", _SETUP, str(work), str(args.concurrency)],
            env=child_env,
            check=True,
            capture_output=True,
        )
        tokens: dict[str, str] = json.loads(out.stdout)
        port = _free_port()
        log = open(work / "server.log", "wb")  # noqa: SIM115
        server = subprocess.Popen(
            [sys.executable, "-m", "veille", "serve", "--port", str(port)],
            env={**child_env, "VEILLE_DATA_DIR": str(work)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        import httpx

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        spy = None
        if args.profile:
            folder = Path(args.profile)
            folder.mkdir(parents=True, exist_ok=True)
            spy = subprocess.Popen(
                [
                    args.py_spy,
                    "record",
                    "-p",
                    str(server.pid),
                    "-d",
                    str(int(args.seconds + args.warmup)),
                    "-r",
                    "50",
                    "-f",
                    args.profile_format,
                    *args.py_spy_flags.split(),
                    "-o",
                    str(folder / f"{name}-{round_no}.{args.profile_format}"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        load_before = os.getloadavg()[0]
        result = asyncio.run(
            _drive(
                port,
                tokens,
                Bodies(args.images, uri_share=args.uri_share),
                args.seconds,
                args.warmup,
                server.pid,
            )
        )
        if spy is not None:
            spy.wait(60)
        server.terminate()
        server.wait(30)
        result.update(variant=name, round=round_no, load1=round(load_before, 2))
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variant", action="append", required=True, help="name=src[,K=V...]")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--no-images", dest="images", action="store_false")
    parser.add_argument(
        "--uri-share",
        type=float,
        default=0.0,
        help="share of the reads whose two images are uri references, not inline bytes",
    )
    parser.add_argument("--profile", help="folder for py-spy profiles of each run")
    parser.add_argument("--profile-format", default="raw")
    parser.add_argument("--py-spy", default=str(Path(sys.executable).parent / "py-spy"))
    parser.add_argument("--py-spy-flags", default="")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    variants = []
    for spec in args.variant:
        name, _, rest = spec.partition("=")
        src, *pairs = rest.split(",")
        variants.append((name, src, dict(p.split("=", 1) for p in pairs)))
    results = []
    for round_no in range(args.rounds):
        for name, src, env in variants:
            result = run_variant(name, src, env, args, round_no)
            results.append(result)
            print(json.dumps(result), flush=True)
    print(
        "\nvariant   round  reads/s   p50 ms   p99 ms  p99.9 ms  503s  load1"
        "  CPU ms/read (loop, threads)"
    )
    for r in results:
        print(
            f"{r['variant']:<9} {r['round']:>5} {r['reads_per_s']:>8} {r['p50_ms']:>8}"
            f" {r['p99_ms']:>8} {r['p999_ms']:>9} {r['busy']:>5} {r['load1']:>6}"
            f"  {r.get('cpu_ms_per_read', '-')} ({r.get('cpu_ms_loop', '-')},"
            f" {r.get('cpu_ms_threads', '-')})"
        )
    by: dict[str, list[float]] = {}
    cpu_by: dict[str, list[float]] = {}
    for r in results:
        by.setdefault(r["variant"], []).append(r["reads_per_s"])
        if "cpu_ms_per_read" in r:
            cpu_by.setdefault(r["variant"], []).append(r["cpu_ms_per_read"])
    base = statistics.fmean(by[variants[0][0]])
    for name, rates in by.items():
        mean = statistics.fmean(rates)
        cpu_ms = cpu_by.get(name)
        cpu_text = (
            f", server CPU {statistics.median(cpu_ms):.2f} ms/read (median)" if cpu_ms else ""
        )
        print(f"{name}: mean {mean:.0f} reads/s, x{mean / base:.2f}{cpu_text}")


if __name__ == "__main__":
    main()
