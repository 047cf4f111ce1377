"""Server CPU per ingested read, measured in-process and load-independently (issue 10).

`veille bench ingest` times a real server over HTTP; on this shared 2-core machine its
spread between runs (±20%) hides a 10–15% change. This driver measures what the server
itself spends: it runs a source tree's real ASGI application (its own `create_app`, its
own platform, writer thread and SQLite store) in one process, hands it HTTP requests
straight through ASGI (no sockets, no client in the process), and reports:
- `cpu_us_per_read`: the process's CPU time (all threads: event loop and writer) per
  stored read, over alternated rounds of each tree;
- with `--callgrind`, instructions per read counted by valgrind (the difference between
  a run that sends N requests and one that builds the same N bodies and sends none, so
  that start-up and the client's own work cancel out): the same count on a quiet or a
  loaded machine.

    python scripts/ingest_cpu.py --variant before=/tmp/before/src --variant after=src \
        --shape bulk --rounds 5 [--callgrind]

Shapes: `bulk` (1,000 reads per request, no images, as `bench ingest --batch 1000`) and
`one` (one read per request, no images). What it does not cover: HTTP parsing and the
socket layer (uvicorn), images, matching against loaded hotlists, a prefilled store.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

_CHILD = r"""
import asyncio, json, sys, time, uuid
from datetime import UTC, datetime
import orjson
from veille.bootstrap import bootstrap
from veille.domain.audit import system_actor
from veille.entrypoints.api.app import create_app
from veille.service import cameras as camera_service
from veille.settings import Settings

data_dir, shape, requests, warmup = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
send = sys.argv[5] == "send"  # "build": the same bodies, not sent (callgrind baseline)
per_request = 1000 if shape == "bulk" else 1
cameras = 50 if shape == "bulk" else 500
platform = bootstrap(Settings(data_dir=data_dir))
platform.store.initialise()
records = [("bench", {"camera_id": f"CPU-{i:05d}", "lat": 50.85, "lon": 4.35, "zone": "Bench",
            "province": "Bruxelles-Capitale", "phase": "live"}) for i in range(cameras)]
tokens = camera_service.import_cameras(uow=platform.uow(), records=records,
    now=datetime.now(UTC), issue_tokens="all", actor=system_actor("bench")).tokens
camera_ids = sorted(tokens)
app = create_app(platform)

def body(n: int, camera_id: str) -> bytes:
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    reads = [{"read_id": str(uuid.uuid4()), "camera_id": camera_id, "captured_at": now,
              "plate": f"{(n + k) % 9 + 1}-ABC-{(n + k) % 1000:03d}", "country": "BE",
              "confidence": 0.91, "direction": "approaching", "lane": 1,
              "vehicle": {"make": "VW", "colour": "grey", "type": "car"}}
             for k in range(per_request)]
    return orjson.dumps(reads if per_request > 1 else reads[0])

async def call(scope: dict, payload: bytes) -> tuple[int, bytes]:
    sent = False
    async def receive() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": payload, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}
    status, chunks = 0, []
    async def send(message: dict) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
    await app(scope, receive, send)
    return status, b"".join(chunks)

def scope_for(camera_id: str, payload: bytes) -> dict:
    headers = [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"),
               (b"authorization", f"Bearer {tokens[camera_id]}".encode()),
               (b"content-length", str(len(payload)).encode())]
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
            "scheme": "http", "path": "/api/v1/reads", "raw_path": b"/api/v1/reads",
            "query_string": b"", "root_path": "", "headers": headers,
            "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000)}

async def main() -> None:
    queue: asyncio.Queue = asyncio.Queue()
    events: asyncio.Queue = asyncio.Queue()
    async def lreceive() -> dict:
        return await queue.get()
    async def lsend(message: dict) -> None:
        await events.put(message)
    life = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}},
                                   lreceive, lsend))
    await queue.put({"type": "lifespan.startup"})
    started = await events.get()
    assert started["type"] == "lifespan.startup.complete", started
    # bodies are built before the clock starts: the client is not the server's cost
    total = warmup + requests
    owners = [camera_ids[n % len(camera_ids)] for n in range(total)]
    bodies = [(owner, body(n * per_request, owner)) for n, owner in enumerate(owners)]
    concurrency = 8 if shape == "bulk" else 64
    stored = 0
    async def run(chunk: list) -> int:
        count = 0
        for camera_id, payload in chunk:
            status, answer = await call(scope_for(camera_id, payload), payload)
            assert status == 200, (status, answer[:300])
            count += orjson.loads(answer)["stored"]
        return count
    def split(items: list) -> list:
        return [items[i::concurrency] for i in range(concurrency)]
    await asyncio.gather(*(run(c) for c in split(bodies[:warmup])))
    cpu0, wall0 = time.process_time(), time.perf_counter()
    counts = await asyncio.gather(*(run(c) for c in split(bodies[warmup:] if send else [])))
    cpu1, wall1 = time.process_time(), time.perf_counter()
    stored = sum(counts)
    await queue.put({"type": "lifespan.shutdown"})
    await events.get()
    await life
    print(json.dumps({"stored": stored, "cpu_s": cpu1 - cpu0, "wall_s": wall1 - wall0}))

asyncio.run(main())
platform.store.close()
"""


def _run_child(
    src: str, shape: str, requests: int, warmup: int, callgrind: bool, send: bool = True
) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="veille-cpu-"))
    env = {**os.environ, "PYTHONPATH": str(Path(src).resolve()), "VEILLE_DATA_DIR": str(work)}
    command = [
        sys.executable,
        "-c",
        _CHILD,
        str(work),
        shape,
        str(requests),
        str(warmup),
        "send" if send else "build",
    ]
    out_file = work / "callgrind.out"
    if callgrind:
        command = [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out_file}",
            "--dump-instr=no",
            *command,
        ]
    try:
        done = subprocess.run(command, env=env, capture_output=True, check=False, text=True)
        if done.returncode != 0:
            raise SystemExit(f"child failed ({done.returncode}):\n{done.stderr[-3000:]}")
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        if callgrind:
            match = re.search(r"Collected\s*:\s*(\d+)", done.stderr)
            if match is None:
                raise SystemExit(f"no instruction count in valgrind's output:\n{done.stderr}")
            result["instructions"] = int(match.group(1))
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variant", action="append", required=True, help="name=src")
    parser.add_argument("--shape", choices=("bulk", "one"), default="bulk")
    parser.add_argument("--requests", type=int, default=0, help="default: 60 bulk, 6000 one")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--callgrind", action="store_true", help="also count instructions")
    args = parser.parse_args()
    requests = args.requests or (60 if args.shape == "bulk" else 6000)
    warmup = 5 if args.shape == "bulk" else 200
    variants = [spec.split("=", 1) for spec in args.variant]
    cpu: dict[str, list[float]] = {name: [] for name, _ in variants}
    for round_no in range(args.rounds):
        for name, src in variants:
            r = _run_child(src, args.shape, requests, warmup, callgrind=False)
            per_read = r["cpu_s"] / r["stored"] * 1e6
            cpu[name].append(per_read)
            load = os.getloadavg()[0]
            print(
                f"round {round_no} {name:<8} {per_read:7.2f} µs CPU/read"
                f" ({r['stored']} reads, load {load:.2f})",
                flush=True,
            )
    instructions: dict[str, float] = {}
    if args.callgrind:
        small = max(1, requests // 6)
        for name, src in variants:
            with_work = _run_child(src, args.shape, small, warmup, callgrind=True)
            without = _run_child(src, args.shape, small, warmup, callgrind=True, send=False)
            instructions[name] = (with_work["instructions"] - without["instructions"]) / with_work[
                "stored"
            ]
    base = variants[0][0]
    print(f"\nshape {args.shape}; median of {args.rounds} rounds (load1 {os.getloadavg()[0]:.2f})")
    print("variant   CPU µs/read (median)  vs first   instructions/read   vs first")
    for name, _ in variants:
        median = statistics.median(cpu[name])
        ratio = median / statistics.median(cpu[base])
        line = f"{name:<9} {median:>20.2f}  {ratio:>8.3f}"
        if instructions:
            line += (
                f"   {instructions[name]:>17,.0f}   {instructions[name] / instructions[base]:>8.3f}"
            )
        print(line)


if __name__ == "__main__":
    main()
