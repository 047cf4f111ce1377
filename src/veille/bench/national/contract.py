"""What the national bench's orchestrator and its load generator share: the plan (JSON in)
and the records (files out). Plain data and its (de)serialisation, no I/O policy.

Files the load generator writes into its OUT_DIR:
- `progress.jsonl`: one `StepProgress` line per second while it runs, flushed at once, so
  the orchestrator can follow the step in progress (start/end of each step included).
- `steps.jsonl`: one `StepResult` line per finished step.
- `acks.jsonl`: one `AckRecord` line per read the server acknowledged (stored or duplicate),
  written as acknowledged; the ground truth for the exactly-once check and for the
  camera-to-screen alert latency (`first_sent_at`).
- `done.json`: written last; its presence says the load generator finished cleanly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import orjson


@dataclass(frozen=True, slots=True)
class CameraCredential:
    camera_id: str
    token: str  # the camera's ingest bearer token (vc_…)


@dataclass(frozen=True, slots=True)
class Step:
    """One load step. `rate` is the offered rate in reads/s across the whole population,
    open loop: reads are due on a schedule whatever the server answers. A step with
    `search=True` looks for the highest sustainable rate instead, starting at `rate`."""

    name: str  # "1x", "2x", "5x", "max"
    rate: float
    duration_s: float
    search: bool = False


@dataclass(frozen=True, slots=True)
class LoadPlan:
    base_url: str  # e.g. http://127.0.0.1:8123
    cameras_file: str  # JSON list of CameraCredential (as dicts)
    steps: tuple[Step, ...]
    hit_plates_file: str | None = None  # newline-separated plates on the loaded hotlists
    hit_share: float = 0.004  # share of reads whose plate is drawn from the hit plates
    inline_image_share: float = 0.5  # share of reads whose images travel inline (base64)
    outage_share: float = 0.02  # share of cameras that lose the network once per step
    outage_s: float = 30.0  # how long an outage lasts; its reads are then sent batched
    request_timeout_s: float = 10.0  # a camera resends a request that takes longer
    processes: int = 1  # load generator worker processes (the population is split)
    seed: int = 7

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self), option=orjson.OPT_INDENT_2)

    @classmethod
    def from_json(cls, data: bytes | str) -> LoadPlan:
        raw: dict[str, Any] = orjson.loads(data)
        raw["steps"] = tuple(Step(**s) for s in raw["steps"])
        return cls(**raw)


@dataclass(frozen=True, slots=True)
class Latency:
    p50_ms: float | None
    p99_ms: float | None
    p999_ms: float | None
    samples: int


@dataclass(frozen=True, slots=True)
class StepProgress:
    step: str
    at: float  # epoch seconds
    offered: int  # reads due so far in this step
    acknowledged: int  # reads acknowledged so far in this step
    in_flight: int  # reads sent and not yet acknowledged
    backlog: int  # reads due and not yet acknowledged (in flight + waiting to be sent)
    send_lag_ms: float  # how late the generator itself is against its schedule (p99, last s)


@dataclass(frozen=True, slots=True)
class StepResult:
    step: str
    started_at: float
    ended_at: float
    offered_rate: float  # reads/s due
    acknowledged_rate: float  # reads/s acknowledged
    offered: int
    acknowledged: int
    stored: int
    duplicate: int
    rejected: int
    ack_latency: Latency  # from the read's scheduled send time (no coordinated omission)
    status_503: int
    timeouts: int
    resends: int
    batched_after_outage: int  # reads sent in outage catch-up batches
    backlog_start: int
    backlog_end: int
    backlog_series: list[int] = field(default_factory=list)  # one value per second
    generator_lag_p99_ms: float = 0.0  # > a few ms: the generator, not the server, limited it
    sustainable: bool | None = None  # the search step's verdict per tried rate, else None
    tried_rates: list[dict[str, Any]] = field(default_factory=list)  # search step only


@dataclass(frozen=True, slots=True)
class AckRecord:
    read_id: str
    camera_id: str
    plate: str
    first_sent_at: float  # epoch seconds of the first attempt of this read
    acked_at: float
    status: str  # "stored" or "duplicate"
    images: tuple[str, ...]  # sha256 of the inline images; "uri:" + uri for references
    step: str


def dumps_line(record: Any) -> bytes:
    return orjson.dumps(asdict(record)) + b"\n"
