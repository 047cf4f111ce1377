"""The load generator's own ceiling: it against a trivial server, its CPU per step.

`python -m veille.bench.national.loadgen_ceiling --cameras 10000 --rate 1600 --duration 30`
starts a trivial HTTP server (a uvloop protocol that answers every read `stored` without
looking at it) and the load generator as the national bench runs it, and prints, per
step, the offered and acknowledged rates, the generator's lag and the CPU seconds per
second the generator (and the trivial server) used during the step, with the load average.
It measures the generator, not Veille: what the generator can offer on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import uvloop

from veille.bench.national.contract import LoadPlan, Step

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class _TrivialIngest(asyncio.Protocol):
    """HTTP/1.1 keep-alive; each request answered with one `stored` result per read."""

    def __init__(self) -> None:
        self.buffer = b""
        self.transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # uvloop's: an asyncio.Transport in all but its class

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            start = self.buffer.find(b"Content-Length: ", 0, end) + 16
            length = int(self.buffer[start : self.buffer.find(b"\r", start)])
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            reads = body.count(b'"read_id"')
            results = b",".join(b'{"index":%d,"status":"stored"}' % i for i in range(reads))
            payload = b'{"results":[' + results + b'],"stored":%d}' % reads
            self.transport.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d"
                b"\r\n\r\n%s" % (len(payload), payload)
            )


async def _serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_TrivialIngest, "127.0.0.1", port, backlog=4096)
    print("ready", flush=True)
    await server.serve_forever()


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of `pid` and its descendants (alive ones)."""
    total = 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                total += _cpu_s(int(child))
    except (FileNotFoundError, ProcessLookupError):
        pass
    return total


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def measure(args: argparse.Namespace) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="veille-loadgen-ceiling-") as tmp:
        return _measure(args, Path(tmp))


def _measure(args: argparse.Namespace, work: Path) -> list[dict[str, Any]]:
    cameras = [{"camera_id": f"CAM-{i:05d}", "token": f"vc_{i:05d}"} for i in range(args.cameras)]
    (work / "cameras.json").write_bytes(orjson.dumps(cameras))
    server = subprocess.Popen(
        [sys.executable, "-m", "veille.bench.national.loadgen_ceiling", "--serve", str(args.port)],
        stdout=subprocess.PIPE,
    )
    assert server.stdout is not None
    server.stdout.readline()
    rates = [float(r) for r in args.rate.split(",")]
    plan = LoadPlan(
        base_url=f"http://127.0.0.1:{args.port}",
        cameras_file=str(work / "cameras.json"),
        steps=tuple(Step(name=f"{r:g}/s", rate=r, duration_s=args.duration) for r in rates),
        inline_image_share=args.inline_share,
        outage_share=args.outage_share,
        processes=args.processes,
    )
    (work / "plan.json").write_bytes(plan.to_json())
    out = work / "out"
    generator = subprocess.Popen(
        [sys.executable, "-m", "veille.bench.national.loadgen", str(work / "plan.json"), str(out)]
    )
    rows: list[dict[str, Any]] = []
    marks: dict[str, tuple[float, float, float]] = {}  # step -> (time, gen cpu, server cpu)
    try:
        seen = 0
        while generator.poll() is None:
            time.sleep(0.2)
            progress = out / "progress.jsonl"
            if progress.exists():
                for line in progress.read_bytes().splitlines():
                    step = orjson.loads(line)["step"]
                    if step and step not in marks:
                        marks[step] = (time.time(), _cpu_s(generator.pid), _cpu_s(server.pid))
            steps = out / "steps.jsonl"
            done_steps = steps.read_bytes().splitlines() if steps.exists() else []
            for line in done_steps[seen:]:
                result = orjson.loads(line)
                at, gen0, srv0 = marks[result["step"]]
                elapsed = time.time() - at
                rows.append(
                    {
                        "step": result["step"],
                        "cameras": args.cameras,
                        "processes": args.processes,
                        "offered_rate": result["offered_rate"],
                        "acknowledged_rate": result["acknowledged_rate"],
                        "ack_p99_ms": result["ack_latency"]["p99_ms"],
                        "generator_lag_p99_ms": result["generator_lag_p99_ms"],
                        "generator_cpu": round((_cpu_s(generator.pid) - gen0) / elapsed, 2),
                        "server_cpu": round((_cpu_s(server.pid) - srv0) / elapsed, 2),
                        "load_average": _loadavg(),
                    }
                )
            seen = len(done_steps)
    finally:
        generator.wait()
        server.terminate()
        server.wait()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m veille.bench.national.loadgen_ceiling")
    parser.add_argument("--cameras", type=int, default=10_000)
    parser.add_argument("--rate", default="1600", help="reads/s, comma-separated for steps")
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--inline-share", type=float, default=0.5)
    parser.add_argument("--outage-share", type=float, default=0.0)
    parser.add_argument("--port", type=int, default=18_555)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        uvloop.run(_serve(args.serve))
        return 0
    rows = measure(args)
    if args.json:
        print(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
        return 0
    columns = list(rows[0]) if rows else []
    print(" | ".join(columns))
    for row in rows:
        print(" | ".join(str(row[c]) for c in columns))
    return 0


if __name__ == "__main__":
    sys.exit(main())
