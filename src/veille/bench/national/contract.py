"""What the national bench's orchestrator and its load generator share: the plan (JSON in)
and the records (files out). Plain data and its (de)serialisation, no I/O policy.

Files the load generator writes into its OUT_DIR:
- `progress.jsonl`: one `StepProgress` line per second while it runs, flushed at once, so
  the orchestrator can follow the step in progress (start/end of each step included).
- `steps.jsonl`: one `StepResult` line per finished step.
- `acks.jsonl`: one `AckRecord` line per read the server acknowledged (stored or duplicate),
  written as acknowledged; the ground truth for the exactly-once check and for the
  camera-to-screen alert latency (`first_sent_at`).
- `unacknowledged.jsonl`: written at the end, one line per read that was due and never
  acknowledged (`read_id`, `camera_id`, `step`, `first_sent_at` or null if never sent):
  such a read may or may not be stored.
- `done.json`: written last, also after SIGTERM/SIGINT (then `"interrupted": true`); its
  presence says the load generator finished writing the other files.

Latencies are measured from each read's due time (its `captured_at`), open loop. A read
still unanswered when its step ends counts with its age then (a lower bound). Reads that
fell due while their camera's network was down are left out of `ack_latency` (their
delay is the outage's) and reported in `outage_ack_latency`; they are part of `backlog`
(and of `held`), and not of the backlog the search step's verdict looks at.
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
    # Added with the load generator (defaults keep older plans valid):
    image_pool: int = 256  # distinct JPEGs of each kind rendered at start (varied per read)
    max_batch: int = 50  # reads per request in an outage catch-up
    search_factor: float = 1.25  # a search step multiplies the rate by this per try
    search_max_tries: int = 10  # ... at most this many tries (each lasts the step's duration_s)
    ack_p99_target_ms: float = 500.0  # a tried rate is sustainable under this ack p99 ...
    drain_s: float = 30.0  # after the last step, wait this long at most for the last answers

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
    held: int = 0  # part of the backlog: reads waiting for their camera's network to return


@dataclass(frozen=True, slots=True)
class StepResult:
    step: str
    started_at: float
    ended_at: float
    offered_rate: float  # reads/s due
    acknowledged_rate: float  # reads/s acknowledged during the step (whichever step's reads)
    offered: int
    acknowledged: int  # reads due in this step and acknowledged by its end
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
    # Added with the load generator (defaults keep older readers valid):
    failed: int = 0  # reads refused as a whole request (4xx other than 408/425/429)
    connection_errors: int = 0  # requests that failed on the network (then re-sent)
    reconnects: int = 0  # idle keep-alive connections the server had closed (re-sent at once)
    requests: int = 0  # requests sent, resends included
    unacknowledged_at_end: int = 0  # reads of this step still unanswered when it ended
    outage_ack_latency: Latency | None = None  # reads held by an outage, from their due time
    highest_sustainable_rate: float | None = None  # search step only
    generator_limited: bool = False  # its lag p99 > 50 ms and > ack p99 / 10: read with care


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
    due_at: float = 0.0  # epoch seconds the read fell due (= its captured_at); 0: not known


def dumps_line(record: Any) -> bytes:
    # orjson serialises (slotted, nested) dataclasses itself, as asdict would, 5x faster
    return orjson.dumps(record) + b"\n"
