"""The national bench's load generator: `python -m veille.bench.national.loadgen PLAN OUT`.

Runs the plan's steps against the server with the cameras of the plan (see `contract` for
the files it writes, `loadgen_population` for how the cameras behave). With
`processes > 1` the cameras are split across worker processes (this module with
`--worker N`), which this process steers over their stdin/stdout and whose figures it
merges; the search step's verdict is taken here, over all of them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol

import orjson
import uvloop

from veille.bench.national.contract import (
    CameraCredential,
    Latency,
    LoadPlan,
    Step,
    StepProgress,
    StepResult,
    dumps_line,
)
from veille.bench.national.loadgen_images import ImagePool
from veille.bench.national.loadgen_population import Population, percentile
from veille.bench.national.loadgen_traffic import ReadFactory, load_hit_plates

GENERATOR_LAG_LIMIT_MS = 50.0
STOP_DRAIN_S = 5.0


def load_cameras(path: str) -> list[CameraCredential]:
    return [CameraCredential(**c) for c in orjson.loads(Path(path).read_bytes())]


def _raise_file_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def build_population(plan: LoadPlan, out_dir: Path, worker: int, workers: int) -> Population:
    cameras = load_cameras(plan.cameras_file)[worker::workers]
    factory = ReadFactory(
        seed=plan.seed,
        worker=worker,
        hit_plates=load_hit_plates(plan.hit_plates_file),
        hit_share=plan.hit_share,
    )
    return Population(
        cameras=cameras,
        base_url=plan.base_url,
        factory=factory,
        images=ImagePool(size=plan.image_pool, seed=plan.seed, worker=worker),
        acks_path=str(out_dir / "acks.jsonl"),
        inline_image_share=plan.inline_image_share,
        outage_share=plan.outage_share,
        outage_s=plan.outage_s,
        request_timeout_s=plan.request_timeout_s,
        seed=plan.seed,
        worker=worker,
        max_batch=plan.max_batch,
    )


# ---- workers: in this process, or steered over a pipe ------------------------------------


class Worker(Protocol):
    share: float  # of the population

    async def segment(self, name: str, rate: float, duration_s: float) -> dict[str, Any]: ...
    def snapshot(self) -> dict[str, Any]: ...
    def stop(self) -> None: ...
    async def drain(self, timeout_s: float) -> dict[str, Any]: ...


class LocalWorker:
    def __init__(self, population: Population, share: float):
        self.population = population
        self.share = share

    async def segment(self, name: str, rate: float, duration_s: float) -> dict[str, Any]:
        return await self.population.run_segment(name=name, rate=rate, duration_s=duration_s)

    def snapshot(self) -> dict[str, Any]:
        return self.population.snapshot()

    def stop(self) -> None:
        self.population.stop()

    async def drain(self, timeout_s: float) -> dict[str, Any]:
        return await self.population.drain(timeout_s)


class RemoteWorker:
    """A worker process; it pushes a snapshot every second and a report per command."""

    def __init__(self, process: asyncio.subprocess.Process, share: float):
        self.process = process
        self.share = share
        self.latest: dict[str, Any] = {}
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(
        cls, plan_path: str, out_dir: Path, index: int, workers: int, share: float
    ) -> RemoteWorker:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "veille.bench.national.loadgen",
            plan_path,
            str(out_dir),
            "--worker",
            f"{index}/{workers}",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=1 << 28,  # a segment's report carries its latency samples
        )
        worker = cls(process, share)
        await worker._ready
        return worker

    async def _read(self) -> None:
        assert self.process.stdout is not None
        while line := await self.process.stdout.readline():
            message = orjson.loads(line)
            op = message.pop("op")
            if op == "ready":
                self._ready.set_result(None)
            elif op == "snapshot":
                self.latest = message
            elif op in self._waiting:
                self._waiting.pop(op).set_result(message["report"])
        error = RuntimeError(f"load generator worker exited ({await self.process.wait()})")
        if not self._ready.done():
            self._ready.set_exception(error)
        for future in self._waiting.values():
            future.set_exception(error)

    def _send(self, command: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(orjson.dumps(command) + b"\n")

    async def _call(self, op: str, command: dict[str, Any]) -> dict[str, Any]:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[op] = future
        self._send({"op": op, **command})
        return await future

    async def segment(self, name: str, rate: float, duration_s: float) -> dict[str, Any]:
        return await self._call("segment", {"name": name, "rate": rate, "duration_s": duration_s})

    def snapshot(self) -> dict[str, Any]:
        return self.latest

    def stop(self) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            self._send({"op": "stop"})

    async def drain(self, timeout_s: float) -> dict[str, Any]:
        report = await self._call("drain", {"timeout_s": timeout_s})
        await self.process.wait()
        return report


async def serve_as_worker(plan: LoadPlan, out_dir: Path, index: int, workers: int) -> None:
    """The worker side: commands on stdin, snapshots and reports on stdout."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    population = build_population(plan, out_dir, index, workers)
    loop = asyncio.get_running_loop()
    # a SIGTERM sent to the whole process group: end the segment, then wait for the drain
    loop.add_signal_handler(signal.SIGTERM, population.stop)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    out = sys.stdout.buffer

    def emit(op: str, **fields: Any) -> None:
        out.write(orjson.dumps({"op": op, **fields}) + b"\n")
        out.flush()

    async def push_snapshots() -> None:
        while True:
            await asyncio.sleep(1.0)
            emit("snapshot", **population.snapshot())

    async def run_segment(command: dict[str, Any]) -> None:
        report = await population.run_segment(
            name=command["name"], rate=command["rate"], duration_s=command["duration_s"]
        )
        emit("segment", report=report)

    pusher = asyncio.create_task(push_snapshots())
    running: set[asyncio.Task[None]] = set()
    emit("ready")
    while line := await reader.readline():
        command = orjson.loads(line)
        if command["op"] == "segment":
            task = asyncio.create_task(run_segment(command))
            running.add(task)
            task.add_done_callback(running.discard)
        elif command["op"] == "stop":
            population.stop()
        elif command["op"] == "drain":
            await asyncio.gather(*running)
            pusher.cancel()
            emit("drain", report=await population.drain(command["timeout_s"]))
            return
    population.stop()  # the parent is gone: finish the files and leave
    await asyncio.gather(*running)
    await population.drain(STOP_DRAIN_S)


# ---- the controller ----------------------------------------------------------------------


def latency(samples: list[float]) -> Latency:
    ordered = sorted(samples)
    return Latency(
        p50_ms=_round(percentile(ordered, 50)),
        p99_ms=_round(percentile(ordered, 99)),
        p999_ms=_round(percentile(ordered, 99.9)),
        samples=len(ordered),
    )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def generator_limited(lag_p99_ms: float, ack_p99_ms: float | None) -> bool:
    """Whether the generator's own lateness, not the server, may have set the figures: its
    lag p99 over 50 ms and over a tenth of the ack p99 (a server that answers in 18 s while
    the generator is 200 ms late, starved of CPU by it, is still the server's limit)."""
    return lag_p99_ms > GENERATOR_LAG_LIMIT_MS and lag_p99_ms > 0.1 * (ack_p99_ms or 0.0)


def merge_snapshots(snapshots: Sequence[dict[str, Any]]) -> dict[str, Any]:
    keys = ("offered", "acknowledged", "in_flight", "backlog", "held")
    merged: dict[str, Any] = {k: sum(int(s.get(k, 0)) for s in snapshots) for k in keys}
    merged["send_lag_ms"] = max((float(s.get("send_lag_ms", 0.0)) for s in snapshots), default=0)
    return merged


def backlog_grows(net_backlog: Sequence[int], rate: float) -> bool:
    """Whether the backlog (outage-held reads left out) grew over the segment: the mean of
    its last third against that of its middle third, with a slack of a tenth of a second
    of reads or half the middle level, whichever is larger (Poisson noise, not growth)."""
    if len(net_backlog) < 3:
        return False
    third = len(net_backlog) // 3
    middle = net_backlog[third : 2 * third]
    last = net_backlog[2 * third :]
    middle_mean = sum(middle) / len(middle)
    last_mean = sum(last) / len(last)
    return last_mean > middle_mean + max(0.1 * rate, 0.5 * middle_mean)


class Controller:
    def __init__(self, plan: LoadPlan, out_dir: Path, workers: Sequence[Worker]):
        self.plan = plan
        self.out_dir = out_dir
        self.workers = list(workers)
        self.step_name = ""
        self.series: list[tuple[int, int]] = []  # (backlog, held) per second
        self.stopped = False
        self._progress = (out_dir / "progress.jsonl").open("ab")
        self._steps = (out_dir / "steps.jsonl").open("ab")

    def stop(self) -> None:
        if not self.stopped:
            self.stopped = True
            for worker in self.workers:
                worker.stop()

    def write_progress(self) -> dict[str, Any]:
        merged = merge_snapshots([w.snapshot() for w in self.workers])
        self._progress.write(
            dumps_line(
                StepProgress(
                    step=self.step_name,
                    at=time.time(),
                    offered=merged["offered"],
                    acknowledged=merged["acknowledged"],
                    in_flight=merged["in_flight"],
                    backlog=merged["backlog"],
                    send_lag_ms=round(merged["send_lag_ms"], 2),
                    held=merged["held"],
                )
            )
        )
        self._progress.flush()
        return merged

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            merged = self.write_progress()
            self.series.append((merged["backlog"], merged["held"]))

    async def run(self) -> dict[str, Any]:
        ticker = asyncio.create_task(self._ticker())
        try:
            for step in self.plan.steps:
                if self.stopped:
                    break
                result = await (self._search(step) if step.search else self._step(step))
                self._steps.write(dumps_line(result))
                self._steps.flush()
        finally:
            ticker.cancel()
        drain_s = STOP_DRAIN_S if self.stopped else self.plan.drain_s
        reports = await asyncio.gather(*(w.drain(drain_s) for w in self.workers))
        self.write_progress()
        self._progress.close()
        self._steps.close()
        return self._finish(reports)

    async def _segment(self, name: str, rate: float, duration_s: float) -> tuple[Any, ...]:
        self.step_name = name
        self.series = []
        start = merge_snapshots([w.snapshot() for w in self.workers])
        reports = await asyncio.gather(
            *(w.segment(name, rate * w.share, duration_s) for w in self.workers)
        )
        end = self.write_progress()
        return reports, start, end, list(self.series)

    def _result(
        self,
        name: str,
        reports: Sequence[dict[str, Any]],
        start: dict[str, Any],
        end: dict[str, Any],
        series: list[tuple[int, int]],
    ) -> StepResult:
        def total(key: str) -> int:
            return sum(int(r[key]) for r in reports)

        started = min(r["started_at"] for r in reports)
        ended = max(r["ended_at"] for r in reports)
        elapsed = max(ended - started, 1e-9)
        lags = sorted(x for r in reports for x in r["lags_ms"])
        lag_p99 = round(percentile(lags, 99) or 0.0, 2)
        held = [x for r in reports for x in r["held_latencies_ms"]]
        ack_latency = latency([x for r in reports for x in r["latencies_ms"]])
        return StepResult(
            step=name,
            started_at=started,
            ended_at=ended,
            offered_rate=round(total("offered") / elapsed, 1),
            acknowledged_rate=round(total("acknowledged_in_window") / elapsed, 1),
            offered=total("offered"),
            acknowledged=total("acknowledged"),
            stored=total("stored"),
            duplicate=total("duplicate"),
            rejected=total("rejected"),
            ack_latency=ack_latency,
            status_503=total("status_503"),
            timeouts=total("timeouts"),
            resends=total("resends"),
            batched_after_outage=total("batched_after_outage"),
            backlog_start=start["backlog"],
            backlog_end=end["backlog"],
            backlog_series=[b for b, _ in series],
            generator_lag_p99_ms=lag_p99,
            failed=total("failed"),
            connection_errors=total("connection_errors"),
            reconnects=total("reconnects"),
            requests=total("requests"),
            unacknowledged_at_end=total("unacknowledged_at_end"),
            outage_ack_latency=latency(held) if held else None,
            generator_limited=generator_limited(lag_p99, ack_latency.p99_ms),
        )

    async def _step(self, step: Step) -> StepResult:
        return self._result(step.name, *await self._segment(step.name, step.rate, step.duration_s))

    async def _search(self, step: Step) -> StepResult:
        """Raise the rate by `search_factor` per try while the server keeps up; the result
        holds the figures of the highest sustainable try (of the first if none was)."""
        tried: list[dict[str, Any]] = []
        best: StepResult | None = None
        first: StepResult | None = None
        rate = step.rate
        for _ in range(self.plan.search_max_tries):
            reports, start, end, series = await self._segment(step.name, rate, step.duration_s)
            result = self._result(step.name, reports, start, end, series)
            first = first or result
            p99 = result.ack_latency.p99_ms
            grows = backlog_grows([b - h for b, h in series], rate)
            keeps_up = result.acknowledged_rate >= 0.95 * result.offered_rate
            ok = p99 is not None and p99 <= self.plan.ack_p99_target_ms and keeps_up and not grows
            tried.append(
                {
                    "rate": round(rate, 1),
                    "offered_rate": result.offered_rate,
                    "acknowledged_rate": result.acknowledged_rate,
                    "ack_p99_ms": p99,
                    "backlog_start": result.backlog_start,
                    "backlog_end": result.backlog_end,
                    "backlog_grows": grows,
                    "status_503": result.status_503,
                    "generator_lag_p99_ms": result.generator_lag_p99_ms,
                    "generator_limited": result.generator_limited,
                    "sustainable": ok,
                }
            )
            if not ok or self.stopped:
                break
            best = result
            rate *= self.plan.search_factor
        chosen = best or first
        assert chosen is not None
        fields = asdict(chosen)
        fields["ack_latency"] = chosen.ack_latency
        fields["outage_ack_latency"] = chosen.outage_ack_latency
        fields.update(
            sustainable=best is not None,
            tried_rates=tried,
            highest_sustainable_rate=None if best is None else round(best.offered_rate, 1),
        )
        return StepResult(**fields)

    def _finish(self, reports: Sequence[dict[str, Any]]) -> dict[str, Any]:
        unacknowledged = [u for r in reports for u in r["unacknowledged"]]
        with (self.out_dir / "unacknowledged.jsonl").open("wb") as out:
            for item in unacknowledged:
                out.write(orjson.dumps(item) + b"\n")
        late: dict[str, int] = {}
        for report in reports:
            for step, count in report["late_acknowledged"].items():
                late[step] = late.get(step, 0) + count
        return {
            "finished_at": time.time(),
            "interrupted": self.stopped,
            "processes": len(self.workers),
            "unacknowledged": len(unacknowledged),
            "late_acknowledged": late,  # per step: acknowledged after the step's result
            "hits_offered": sum(int(r["hits"]) for r in reports),
            "connections_opened": sum(int(r["connections_opened"]) for r in reports),
        }


async def run_plan(plan_path: str, out_dir: Path) -> dict[str, Any]:
    """Run the plan, writing the contract's files into `out_dir`; return done.json's data."""
    plan = LoadPlan.from_json(Path(plan_path).read_bytes())
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in ("progress.jsonl", "steps.jsonl", "acks.jsonl", "unacknowledged.jsonl"):
        (out_dir / name).write_bytes(b"")
    (out_dir / "done.json").unlink(missing_ok=True)
    cameras = len(load_cameras(plan.cameras_file))
    processes = max(1, min(plan.processes, cameras))
    counts = [len(range(i, cameras, processes)) for i in range(processes)]
    workers: list[Worker]
    if processes == 1:
        workers = [LocalWorker(build_population(plan, out_dir, 0, 1), 1.0)]
    else:
        workers = list(
            await asyncio.gather(
                *(
                    RemoteWorker.start(plan_path, out_dir, i, processes, counts[i] / cameras)
                    for i in range(processes)
                )
            )
        )
    controller = Controller(plan, out_dir, workers)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, controller.stop)
    done = await controller.run()
    (out_dir / "done.json").write_bytes(orjson.dumps(done, option=orjson.OPT_INDENT_2))
    return done


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m veille.bench.national.loadgen")
    parser.add_argument("plan", help="the LoadPlan as JSON")
    parser.add_argument("out_dir", help="where progress, steps, acks and done.json go")
    parser.add_argument("--worker", help="INDEX/COUNT: run as a worker of a parent process")
    args = parser.parse_args(argv)
    _raise_file_limit()
    out_dir = Path(args.out_dir)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        if args.worker:
            index, count = (int(x) for x in args.worker.split("/"))
            plan = LoadPlan.from_json(Path(args.plan).read_bytes())
            runner.run(serve_as_worker(plan, out_dir, index, count))
        else:
            done = runner.run(run_plan(args.plan, out_dir))
            print(orjson.dumps(done).decode(), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
