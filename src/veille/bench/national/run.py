"""The orchestrator behind `veille bench national`: a store, the real server as its own
process, people, cameras and hotlists through the API, the load generator as its own
process, operators and investigators at work and the scheduled jobs running meanwhile,
the measurements, then the exactly-once check and the report (`report.py`).
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

from veille.bench.matcher import MatcherBenchConfig
from veille.bench.national import run_setup
from veille.bench.national.contract import LoadPlan, Step
from veille.bench.national.exactly_once import check_exactly_once, reads_received_since
from veille.bench.national.report import build_report
from veille.bench.national.run_monitor import Sampler, children, read_proc, stats_reader
from veille.bench.national.run_officers import Investigators, Operators
from veille.entrypoints.server_process import free_port, start_server, stop_server

NATIONAL_PEAK = 1600.0  # reads/s (DOMAIN.md)
DEFAULT_STORE_FOLDER = Path("/tmp/veille-bench-stores")
SEARCH_START_SHARE = 0.5  # the "max" step starts its search at half the national peak
SEARCH_TRIES_PER_STEP = 3  # ... each try lasting a third of a step
JOBS_DURING_STEPS = ("retention", "clone-sweep")
Log = Callable[[str], None]


def default_loadgen_memory_limit_mib() -> float:
    """A third of the machine's memory."""
    return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 3 / 2**20)


@dataclass(frozen=True)
class NationalConfig:
    out: Path
    cameras: int = 10_000
    steps: tuple[str, ...] = ("1x", "2x", "5x", "max")
    step_seconds: float = 180.0
    prefill_reads: int = 50_000_000
    store_folder: Path = DEFAULT_STORE_FOLDER
    investigators: int = 20
    operators: int = 50
    hotlist_entries: int = 1_000_000
    profile: bool = False
    generator_processes: int = 1
    investigator_pause_s: float = 1.0
    min_alerts: int = 5000  # hit_share is sized so that at least this many reads hit
    outage_s: float = 30.0
    drain_s: float = 30.0
    replace_hotlist: bool = True
    jobs: tuple[str, ...] = JOBS_DURING_STEPS  # run in the middle of each step
    peak: float = NATIONAL_PEAK  # what "1x" means, in reads/s (smaller in tests)
    image_pool: int = 256  # distinct JPEGs of each kind the load generator renders at start
    loadgen_memory_limit_mib: float = field(default_factory=default_loadgen_memory_limit_mib)
    seed: int = 7

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["out"] = str(self.out)
        data["store_folder"] = str(self.store_folder)
        data["steps"] = list(self.steps)
        data["jobs"] = list(self.jobs)
        return data


@dataclass(frozen=True)
class StoreInfo:
    data_dir: Path
    reads: int
    image_rows: int
    reused: bool
    built_s: float
    first_captured_at: str | None = None
    last_captured_at: str | None = None


def parse_steps(
    names: tuple[str, ...], *, step_seconds: float, peak: float = NATIONAL_PEAK
) -> tuple[Step, ...]:
    """`1x`, `2x`, `2.5x`: that multiple of the national peak for a step; `max`: a search
    for the highest sustainable rate, from half the peak up, each try a third of a step."""
    steps = []
    for name in names:
        if name == "max":
            steps.append(
                Step(
                    "max",
                    peak * SEARCH_START_SHARE,
                    max(step_seconds / SEARCH_TRIES_PER_STEP, 5.0),
                    search=True,
                )
            )
        elif name.endswith("x"):
            try:
                factor = float(name[:-1])
            except ValueError:
                raise ValueError(f"a step is 1x, 2x, … or max, not {name!r}") from None
            steps.append(Step(name, peak * factor, step_seconds))
        else:
            raise ValueError(f"a step is 1x, 2x, … or max, not {name!r}")
    return tuple(steps)


def expected_reads(steps: tuple[Step, ...]) -> float:
    """A low estimate of the reads the plan offers (a search counted as its first try)."""
    return sum(s.rate * s.duration_s for s in steps)


def hit_share_for(steps: tuple[Step, ...], min_alerts: int) -> float:
    """The share of reads carrying a listed plate so that `min_alerts` reads hit at least
    (reads whose plate is a look-alike of an entry alert too, on top)."""
    total = expected_reads(steps)
    return min(0.05, max(0.004, 1.2 * min_alerts / max(total, 1.0)))


# ---- the store ---------------------------------------------------------------------------


def prefilled_store(config: NationalConfig, log: Log) -> StoreInfo:
    """The cached prefilled store (`veille.bench.national.prefill`), reset to its state
    as built; `--prefill-reads 0`: an empty store of its own under the output folder."""
    if config.prefill_reads <= 0:
        return empty_store(config.out / "store")
    from veille.bench.national import prefill

    store = prefill.ensure_prefilled(
        folder=config.store_folder,
        reads=config.prefill_reads,
        cameras=config.cameras,
        seed=config.seed,
        log=log,
    )
    prefill.reset_to_watermark(store)
    return StoreInfo(
        data_dir=Path(store.data_dir),
        reads=int(store.reads),
        image_rows=int(store.image_rows),
        reused=bool(store.reused),
        built_s=float(store.built_s),
        first_captured_at=str(store.first_captured_at),
        last_captured_at=str(store.last_captured_at),
    )


def empty_store(data_dir: Path) -> StoreInfo:
    from veille.bootstrap import bootstrap
    from veille.settings import Settings

    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    platform = bootstrap(Settings(data_dir=data_dir))
    platform.store.initialise()
    platform.store.close()
    return StoreInfo(data_dir=data_dir, reads=0, image_rows=0, reused=False, built_s=0.0)


def camera_records(count: int, seed: int) -> list[dict[str, Any]]:
    from veille.bench.store_gen import camera_records as generate

    return generate(count, random.Random(seed))


# ---- during the run ----------------------------------------------------------------------


@dataclass
class Timeline:
    """Which step the load generator is in, followed from its progress.jsonl."""

    progress: Path
    step_started: dict[str, float] = field(default_factory=dict)  # step -> first progress at
    _offset: int = 0

    def follow(self) -> None:
        if not self.progress.exists():
            return
        with self.progress.open("rb") as f:
            f.seek(self._offset)
            data = f.read()
        end = data.rfind(b"\n") + 1
        self._offset += end
        for line in data[:end].splitlines():
            if line.strip():
                p = orjson.loads(line)
                if p["step"]:
                    self.step_started.setdefault(p["step"], float(p["at"]))


class MemoryGuard:
    """Stops the load generator if its memory passes a limit: it keeps every pending read's
    body (~37 KB with inline images), so a server that stops answering at 5× the peak
    grows it by ~300 MB/s, enough to exhaust a machine shared with others. SIGTERM
    first (it then writes its files), SIGKILL if it has not stopped 30 s later."""

    def __init__(self, *, limit_mib: float, log: Log):
        self.limit_mib = limit_mib
        self.log = log
        self.stopped_at_mib: float | None = None
        self._terminated_at: float | None = None

    def check(self, process: subprocess.Popen[bytes], pids: list[int]) -> None:
        if self._terminated_at is not None:
            if time.monotonic() - self._terminated_at > 30 and process.poll() is None:
                self.log("the load generator did not stop within 30 s: killed")
                for pid in pids:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
            return
        rss_mib = sum((read_proc(pid) or (0.0, 0))[1] for pid in pids) / 1024
        if rss_mib > self.limit_mib:
            self.stopped_at_mib = round(rss_mib)
            self.log(
                f"the load generator holds {rss_mib:,.0f} MiB (limit {self.limit_mib:,.0f}):"
                " stopping it; the steps that finished are reported"
            )
            process.terminate()
            self._terminated_at = time.monotonic()


def run_job(name: str, data_dir: Path, step: str, log: Log) -> dict[str, Any]:
    """One scheduled job run now, as `veille jobs run NAME` does, in its own process."""
    began = time.time()
    env = {**os.environ, "VEILLE_DATA_DIR": str(data_dir)}
    done = subprocess.run(
        [sys.executable, "-m", "veille", "jobs", "run", name],
        env=env,
        capture_output=True,
        check=False,
    )
    seconds = round(time.time() - began, 2)
    log(f"job {name} during {step}: {seconds} s, exit {done.returncode}")
    report: Any = None
    try:
        report = orjson.loads(done.stdout) if done.stdout.strip() else None
    except orjson.JSONDecodeError:
        report = done.stdout.decode(errors="replace")[-500:]
    return {
        "name": name,
        "step": step,
        "started_at": began,
        "seconds": seconds,
        "returncode": done.returncode,
        "report": report,
        "stderr": done.stderr.decode(errors="replace")[-500:] if done.returncode else "",
    }


def _start_profiler(server_pid: int, out: Path, log: Log) -> subprocess.Popen[bytes] | None:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        log("--profile: py-spy is not on PATH nor in the virtualenv; no profile taken")
        return None
    with (out / "py-spy.log").open("wb") as spy_log:  # the child keeps its own copy
        return subprocess.Popen(
            [py_spy, "record", "--pid", str(server_pid), "--rate", "50", "--output",
             str(out / "server-profile.svg")],
            stdout=subprocess.DEVNULL,
            stderr=spy_log,
        )  # fmt: skip


def _load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _acks_by_step(path: Path) -> dict[str, dict[str, float]]:
    by_step: dict[str, dict[str, float]] = {}
    if path.exists():
        with path.open("rb") as f:
            for line in f:
                if line.strip():
                    a = orjson.loads(line)
                    by_step.setdefault(a["step"], {})[a["read_id"]] = float(a["first_sent_at"])
    return by_step


def _lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def run_national(
    config: NationalConfig,
    *,
    store: Callable[[NationalConfig, Log], StoreInfo] = prefilled_store,
    log: Log = print,
) -> dict[str, Any]:
    """Run the whole bench; write everything into `config.out`; return the report."""
    from veille.bench.ingest import machine_description

    out = config.out
    out.mkdir(parents=True, exist_ok=True)
    load_before = _load_average()
    began = time.monotonic()
    info = store(config, log)
    log(f"store: {info.data_dir} ({info.reads:,} reads, reused {info.reused})")
    records = camera_records(config.cameras, config.seed)
    officers, orgs = run_setup.plan_officers(
        cameras=records, investigators=config.investigators, operators=config.operators
    )
    run_setup.create_people(data_dir=info.data_dir, officers=officers, orgs=orgs)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    server_log = (out / "server.log").open("wb")
    env = {
        "VEILLE_RUN_JOBS": "true",  # the server's own schedule, as in production
        "VEILLE_HTTP_KEEP_ALIVE_S": "60",
        # a national list of ~940,000 entries as CSV is ~120 MB, over the 64 MiB default
        "VEILLE_MAX_IMPORT_BODY_BYTES": str(512 * 1024 * 1024),
    }
    server = start_server(info.data_dir, port, env, timeout=600, stderr=server_log.fileno())
    loadgen: subprocess.Popen[bytes] | None = None
    profiler: subprocess.Popen[bytes] | None = None
    sampler: Sampler | None = None
    operators: Operators | None = None
    investigators: Investigators | None = None
    try:
        http = httpx.Client(base_url=base_url, timeout=httpx.Timeout(900.0))
        run_setup.sign_in(http, officers)
        admin_token = officers.tokens[officers.admin.username]
        cameras_file = out / "cameras.json"
        setup_began = time.monotonic()
        run_setup.register_cameras(
            base_url=base_url, records=records, admin_token=admin_token, path=cameras_file
        )
        cameras_s = round(time.monotonic() - setup_began, 1)
        log(f"{len(records):,} cameras imported with fresh ingest tokens in {cameras_s} s")
        matcher_config = MatcherBenchConfig(entries=config.hotlist_entries, seed=3)
        hit_plates = out / "hit-plates.txt"
        hotlists = run_setup.load_hotlists(
            http, officers=officers, config=matcher_config, hit_plates=hit_plates, log=log
        )
        replacement_entries = (
            run_setup.replacement_entries(
                matcher_config, keep={p.split()[0] for p in hit_plates.read_text().split()}
            )
            if config.replace_hotlist
            else []
        )
        # the server rebuilds its index off to the side after each import: give it time
        # before the first step, so the first hits ring (≈ 5 s per million entries)
        time.sleep(2.0 + config.hotlist_entries / 200_000)
        steps = parse_steps(config.steps, step_seconds=config.step_seconds, peak=config.peak)
        hit_share = hit_share_for(steps, config.min_alerts)
        plan = LoadPlan(
            base_url=base_url,
            cameras_file=str(cameras_file),
            steps=steps,
            hit_plates_file=str(hit_plates),
            hit_share=hit_share,
            outage_s=min(config.outage_s, config.step_seconds / 3),
            processes=config.generator_processes,
            seed=config.seed,
            drain_s=config.drain_s,
            image_pool=config.image_pool,
        )
        plan_path = out / "plan.json"
        plan_path.write_bytes(plan.to_json())
        loadgen_dir = out / "loadgen"
        for name in ("progress.jsonl", "done.json"):
            (loadgen_dir / name).unlink(missing_ok=True)

        def loadgen_pids() -> list[int]:
            if loadgen is None or loadgen.poll() is not None:
                return []
            return [loadgen.pid, *children(loadgen.pid)]

        roles: dict[str, Callable[[], list[int]]] = {
            "server": lambda: [server.pid] if server.poll() is None else [],
            "loadgen": loadgen_pids,
            "orchestrator": lambda: [os.getpid()],
            "profiler": lambda: [profiler.pid] if profiler and profiler.poll() is None else [],
        }
        sampler = Sampler(roles=roles, stats=stats_reader(base_url, admin_token))
        sampler.start()
        operators = Operators(
            base_url=base_url, operators=officers.operators, tokens=officers.tokens
        )
        operators.start()
        deadline = time.monotonic() + 30
        while len(operators.connected) < len(officers.operators) and time.monotonic() < deadline:
            time.sleep(0.2)
        investigators = Investigators(
            base_url=base_url,
            investigators=officers.investigators,
            tokens=officers.tokens,
            cameras=records,
            plates=hit_plates.read_text().split("\n")[:-1],
            pause_s=config.investigator_pause_s,
            seed=config.seed,
        )
        if config.profile:
            profiler = _start_profiler(server.pid, out, log)
        run_started = time.time()
        with (out / "loadgen.log").open("wb") as loadgen_log:  # the child keeps its copy
            loadgen = subprocess.Popen(
                [sys.executable, "-m", "veille.bench.national.loadgen", str(plan_path),
                 str(loadgen_dir)],
                stdout=loadgen_log,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        investigators.start()
        log(
            f"load generator started: steps {', '.join(s.name for s in steps)},"
            f" hit share {hit_share:.4f}"
        )
        timeline = Timeline(loadgen_dir / "progress.jsonl")
        jobs: list[dict[str, Any]] = []
        job_threads: list[threading.Thread] = []
        replacement: dict[str, Any] = {}
        replacement_thread: threading.Thread | None = None
        jobs_done: set[str] = set()
        first_step = steps[0].name

        def replace() -> None:
            token = officers.tokens[officers.managers["fed"].username]
            at = time.time()
            got = run_setup.import_list(
                http, token=token, list_id=run_setup.NATIONAL_LIST, entries=replacement_entries
            )
            replacement.update(
                list_id=run_setup.NATIONAL_LIST,
                step=first_step,
                started_at=at,
                answered_at=time.time(),
                **got,
            )
            log(f"hotlist {run_setup.NATIONAL_LIST} replaced whole in {got['seconds']} s")

        def run_jobs(step: str) -> None:
            for name in config.jobs:
                jobs.append(run_job(name, info.data_dir, step, log))

        guard = MemoryGuard(limit_mib=config.loadgen_memory_limit_mib, log=log)
        while loadgen.poll() is None:
            time.sleep(0.5)
            guard.check(loadgen, loadgen_pids())
            timeline.follow()
            now = time.time()
            for step in steps:
                started = timeline.step_started.get(step.name)
                if started is None:
                    continue
                length = step.duration_s
                if (
                    step.name == first_step
                    and replacement_entries
                    and replacement_thread is None
                    and now >= started + length / 3
                ):
                    replacement_thread = threading.Thread(target=replace, daemon=True)
                    replacement_thread.start()
                if config.jobs and step.name not in jobs_done and now >= started + length / 2:
                    jobs_done.add(step.name)
                    thread = threading.Thread(target=run_jobs, args=(step.name,), daemon=True)
                    thread.start()
                    job_threads.append(thread)
        log(f"load generator finished (exit {loadgen.returncode})")
        time.sleep(2.0)  # the last alerts on their way to the screens
        investigators.stop()
        operators.stop()
        for thread in [*job_threads, *([replacement_thread] if replacement_thread else [])]:
            thread.join(900)
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(120)
        sampler.stop()
        http.close()
    finally:
        for part in (investigators, operators):
            if part is not None:
                part.stop(5)
        if sampler is not None:
            sampler.stop()
        if loadgen is not None and loadgen.poll() is None:
            loadgen.terminate()
            loadgen.wait(60)
        if profiler is not None and profiler.poll() is None:
            profiler.kill()
        stop_server(server, timeout=120)
        server_log.close()
    log("checking that every acknowledged read is stored exactly once, with its images")
    from veille.bootstrap import bootstrap
    from veille.settings import Settings

    platform = bootstrap(Settings(data_dir=info.data_dir))
    exactly = check_exactly_once(
        database=platform.settings.database,
        images=platform.images,
        acks=loadgen_dir / "acks.jsonl",
        unacknowledged=loadgen_dir / "unacknowledged.jsonl",
        seed=config.seed,
    )
    received = reads_received_since(platform.settings.database, run_started)
    done_file = loadgen_dir / "done.json"
    done: dict[str, Any] = (
        orjson.loads(done_file.read_bytes())
        if done_file.exists()
        else {"missing": True, "loadgen_returncode": loadgen.returncode if loadgen else None}
    )
    done["stopped_for_memory"] = guard.stopped_at_mib
    machine = {**machine_description(), "load_average_before": load_before,
               "load_average": _load_average()}  # fmt: skip
    report = build_report(
        config=config.as_dict(),
        steps=_lines(loadgen_dir / "steps.jsonl"),
        acks_by_step=_acks_by_step(loadgen_dir / "acks.jsonl"),
        arrivals=[(a.read_id, a.at) for a in operators.arrivals],
        stats=sampler.stats_samples,
        samples=[asdict(s) for s in sampler.samples],
        searches=[asdict(s) for s in investigators.searches],
        jobs=jobs,
        replacement=replacement or None,
        exactly_once={**exactly.as_dict(), "reads_received_during_run": received},
        done=done,
        setup={
            "store": str(info.data_dir),
            "store_reads": info.reads,
            "store_image_rows": info.image_rows,
            "store_reused": info.reused,
            "store_built_s": info.built_s,
            "store_first_captured_at": info.first_captured_at,
            "store_last_captured_at": info.last_captured_at,
            "cameras_import_s": cameras_s,
            "hotlist_entries": hotlists.entries,
            "hotlist_load_s": hotlists.seconds,
            "hotlists": hotlists.per_list,
            "hit_share": hit_share,
            "operators_connected": len(operators.connected),
            "operator_streams_ended": operators.reconnects,
            "operator_gaps": operators.gaps,
            "stats_errors": sampler.stats_errors,
            "plan": orjson.loads(plan.to_json()),
            "server_pid": server.pid,
            "run_started_at": datetime.fromtimestamp(run_started, UTC).isoformat(),
            "total_s": round(time.monotonic() - began, 1),
        },
        machine=machine,
    )
    (out / "report.json").write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    return report
