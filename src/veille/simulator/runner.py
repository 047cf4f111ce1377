"""Simulation configuration, the pure read generator, and the HTTP run (`veille simulate`)."""

from __future__ import annotations

import asyncio
import heapq
import random
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from veille.simulator.client import (
    ClientStats,
    ProgressCallback,
    RetryPolicy,
    register_cameras,
    stream_reads,
)
from veille.simulator.network import CameraSite, build_network, camera_records, nearest_neighbours
from veille.simulator.scenarios import (
    GroundTruth,
    Injection,
    Scenario,
    ScenarioContext,
    scenario_from_name,
)
from veille.simulator.traffic import PlateRegistry, SimRead, TrafficGenerator, TrafficModel

# In as-fast-as-possible mode the history ends this long before "now", so that no read
# lands in the future even if the Poisson traffic runs a little ahead of its mean rate.
HISTORY_MARGIN = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class SimulationConfig:
    """One simulation; fields map one to one onto `veille simulate` flags."""

    cameras: int = 450  # --cameras
    rate: float = 200.0  # --rate, reads per second (virtual time in fast mode)
    seed: int = 1  # --seed
    duration_s: float | None = None  # --duration
    total: int | None = None  # --total, reads including scenario reads
    batch_size: int = 200  # --batch-size, reads per request at most (one camera each)
    concurrency: int = 8  # --concurrency, parallel HTTP connections
    scenarios: tuple[str | Scenario, ...] = ()  # --scenario NAME, repeatable
    realtime: bool = True  # --fast sets False: as fast as possible, history before now
    start: datetime | None = None  # --start, virtual clock start (fast mode only)
    flush_interval_s: float = 0.5  # a camera's partial batch leaves after this long
    progress_interval_s: float = 1.0  # how often `progress` receives the counts
    model: TrafficModel = field(default_factory=TrafficModel)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    # --reissue-tokens: take over cameras that already hold an ingest token. Off by default,
    # since replacing a token cuts off whatever posts with it (another simulation).
    reissue_tokens: bool = False

    def __post_init__(self) -> None:
        if self.cameras < 1:
            raise ValueError("cameras must be at least 1")
        if self.rate <= 0:
            raise ValueError("rate must be positive")
        if self.duration_s is not None and self.duration_s <= 0:
            raise ValueError("duration_s must be positive")
        if self.total is not None and self.total < 0:
            raise ValueError("total must be zero or more")
        if not 1 <= self.batch_size <= 1000:
            raise ValueError("batch_size must be 1 to 1000")
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if self.realtime and self.start is not None:
            raise ValueError("start is for as-fast-as-possible mode; real time starts now")
        if self.start is not None and self.start.tzinfo is None:
            raise ValueError("start must carry a time zone")


def _to_ms(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("start must carry a time zone")
    moment = moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _scenario_label(scenario: Scenario, counts: Counter[str]) -> str:
    counts[scenario.kind] += 1
    return scenario.label or f"{scenario.kind}-{counts[scenario.kind]}"


class Simulation:
    """A built simulation: cameras, injected scenarios with their truth, and the read stream."""

    def __init__(
        self,
        config: SimulationConfig,
        *,
        start: datetime,
        sites: Sequence[CameraSite] | None = None,
    ):
        self.config = config
        self.start = _to_ms(start)
        self.sites = (
            list(sites)
            if sites is not None
            else build_network(cameras=config.cameras, seed=config.seed)
        )
        self.registry = PlateRegistry()
        self.injections: list[Injection] = []
        neighbours = nearest_neighbours(self.sites, k=config.model.neighbours)
        counts: Counter[str] = Counter()
        for index, item in enumerate(config.scenarios):
            scenario = scenario_from_name(item) if isinstance(item, str) else item
            label = _scenario_label(scenario, counts)
            ctx = ScenarioContext(
                sites=self.sites,
                neighbours=neighbours,
                start=self.start,
                model=config.model,
                registry=self.registry,
                rng=random.Random(f"veille-scenario:{config.seed}:{index}:{label}"),
                id_rng=random.Random(
                    f"veille-scenario-ids:{config.seed}:{index}:{self.start.isoformat()}"
                ),
                label=label,
            )
            self.injections.append(scenario.inject(ctx))
        self._streamed = False

    @property
    def records(self) -> list[dict[str, Any]]:
        return camera_records(self.sites)

    @property
    def ground_truth(self) -> list[GroundTruth]:
        return [i.truth for i in self.injections]

    def reads(
        self, *, count: int | None = None, until: datetime | None = None
    ) -> Iterator[SimRead]:
        """Traffic and scenario reads merged in captured_at order (single use).

        Stops after `count` reads or before the first read captured at or after `until`;
        with neither, never ends. Scenario reads count towards `count`.
        """
        if self._streamed:
            raise RuntimeError("a Simulation streams once: build a new one to start over")
        self._streamed = True
        traffic = TrafficGenerator(
            self.sites,
            start=self.start,
            rate=self.config.rate,
            seed=self.config.seed,
            model=self.config.model,
            registry=self.registry,
        )
        injected = sorted(
            (r for i in self.injections for r in i.reads), key=lambda r: r.captured_at
        )
        observers = [i.observe for i in self.injections if i.observe is not None]
        merged = heapq.merge(injected, traffic.reads(), key=lambda r: r.captured_at)
        for emitted, read in enumerate(merged):
            if count is not None and emitted >= count:
                return
            if until is not None and read.captured_at >= until:
                return
            for observe in observers:
                observe(read)
            yield read


def build_simulation(
    config: SimulationConfig, *, start: datetime, sites: Sequence[CameraSite] | None = None
) -> Simulation:
    """Build the cameras and scenarios of `config` with its virtual clock at `start`."""
    return Simulation(config, start=start, sites=sites)


def generate_reads(
    config: SimulationConfig, start: datetime, count: int
) -> Iterator[tuple[str, dict[str, Any]]]:
    """`count` reads as (camera_id, native JSON read), deterministic for config and start."""
    for read in build_simulation(config, start=start).reads(count=count):
        yield read.camera_id, read.payload


def fast_mode_start(config: SimulationConfig, *, now: datetime) -> datetime:
    """Where the virtual clock starts in fast mode: `config.start`, else so the run ends now."""
    if config.start is not None:
        return config.start
    if config.total is not None:
        span = config.total / config.rate
        if config.duration_s is not None:
            span = min(span, config.duration_s)
    elif config.duration_s is not None:
        span = config.duration_s
    else:
        raise ValueError("as fast as possible needs a total or a duration")
    return now - timedelta(seconds=span) - HISTORY_MARGIN


@dataclass(slots=True)
class SimulationReport:
    """What a run sent, what the server answered, and the ground truth of its scenarios."""

    config: SimulationConfig
    start: datetime
    cameras: int
    stats: ClientStats
    ground_truth: list[GroundTruth]

    def as_dict(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat().replace("+00:00", "Z"),
            "cameras": self.cameras,
            "seed": self.config.seed,
            "target_rate": self.config.rate,
            "realtime": self.config.realtime,
            **self.stats.as_dict(),
            "ground_truth": [t.as_dict() for t in self.ground_truth],
        }


async def run_simulation(
    config: SimulationConfig,
    *,
    base_url: str,
    admin_token: str,
    progress: ProgressCallback | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    timeout_s: float = 30.0,
    on_cancelled: Callable[[SimulationReport], None] | None = None,
) -> SimulationReport:
    """Register the cameras, then post reads until `total`, `duration_s` or cancellation.

    Real-time mode stamps reads with the current time and paces them to `rate`; without
    total or duration it runs until cancelled. Fast mode posts a history ending about now
    as fast as the server takes it. On cancellation the in-flight batches are flushed and
    the cancellation propagates; `progress` receives the final counts first, and
    `on_cancelled` the report of what was sent (scenarios are planned before the first
    read leaves and their reads come first, so their ground truth holds).
    """
    if not config.realtime:
        fast_mode_start(config, now=datetime.now(UTC))  # fail early without total/duration
    sites = build_network(cameras=config.cameras, seed=config.seed)
    limits = httpx.Limits(
        max_connections=config.concurrency, max_keepalive_connections=config.concurrency
    )
    async with httpx.AsyncClient(
        base_url=base_url, transport=transport, limits=limits, timeout=timeout_s
    ) as http:
        tokens = await register_cameras(
            http,
            records=camera_records(sites),
            admin_token=admin_token,
            reissue_tokens=config.reissue_tokens,
        )
        now = datetime.now(UTC)
        start = now if config.realtime else fast_mode_start(config, now=now)
        simulation = build_simulation(config, start=start, sites=sites)
        until = None
        if config.duration_s is not None:
            until = simulation.start + timedelta(seconds=config.duration_s)
        last: list[ClientStats] = []

        def report_progress(stats: ClientStats) -> None:
            last[:] = [stats]
            if progress is not None:
                progress(stats)

        def report(stats: ClientStats) -> SimulationReport:
            return SimulationReport(
                config=config,
                start=simulation.start,
                cameras=len(sites),
                stats=stats,
                ground_truth=simulation.ground_truth,
            )

        try:
            stats = await stream_reads(
                http,
                simulation.reads(count=config.total, until=until),
                tokens=tokens,
                pace_from=simulation.start if config.realtime else None,
                batch_size=config.batch_size,
                flush_interval_s=config.flush_interval_s,
                progress_interval_s=config.progress_interval_s,
                concurrency=config.concurrency,
                retry=config.retry,
                progress=report_progress,
            )
        except (asyncio.CancelledError, KeyboardInterrupt):
            if on_cancelled is not None and last:  # the streamer's final counts
                on_cancelled(report(last[0]))
            raise
    return report(stats)
