"""Typed settings: one place, each with an environment variable (VEILLE_*) and a default."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from veille.domain.alerts import AlertTiming
from veille.domain.authorizations import WindowPolicy
from veille.domain.districts import CrossDistrictRule
from veille.domain.reads import ReadRules

POSTGRESQL_SCHEMES = ("postgresql://", "postgres://")


class Settings(BaseSettings):
    """Every tunable of Veille. Defaults run the embedded store out of the box."""

    model_config = SettingsConfigDict(env_prefix="VEILLE_", env_file=None, extra="ignore")

    data_dir: Path = Field(Path("var"), description="Folder for the database, images and logs.")
    database_path: Path | None = Field(
        None, description="SQLite database file; default <data_dir>/veille.db."
    )
    store: str = Field(
        "",
        description="Where the data lives: empty for the embedded SQLite file (database_path),"
        " or a PostgreSQL URI, postgresql://user@host:5432/dbname (decision 0015; give the"
        " password by PGPASSWORD or ~/.pgpass rather than in the URI).",
    )
    store_pool_size: int = Field(
        10, ge=1, description="Most PostgreSQL connections one process keeps open."
    )
    image_dir: Path | None = Field(
        None, description="Image store folder; default <data_dir>/images."
    )
    sqlite_synchronous: str = Field(
        "FULL", description="SQLite synchronous level: FULL survives power loss, NORMAL a crash."
    )
    image_fsync: bool = Field(
        True, description="fsync the image log before each group commit is acknowledged."
    )

    # The S3-compatible image store (decision 0017, docs/scale-out.md): unset, images stay
    # in the folder above.
    image_store: str | None = Field(
        None,
        description="Where image bytes go: unset, the image folder; `s3://bucket[/prefix]`,"
        " an S3-compatible bucket (the `s3` extra).",
    )
    s3_endpoint_url: str | None = Field(
        None, description="S3 endpoint, e.g. `http://seaweedfs:8333`; unset, AWS's own."
    )
    s3_region: str = Field("us-east-1", description="S3 region the requests are signed for.")
    s3_access_key_id: str | None = Field(
        None, description="S3 access key; unset, boto3's chain (environment, profile, role)."
    )
    s3_secret_access_key: SecretStr | None = Field(
        None, description="S3 secret key (never logged nor shown)."
    )
    s3_multipart_threshold_bytes: int = Field(
        8 * 1024 * 1024, ge=1, description="Images of at least this size go up in parts."
    )
    s3_part_bytes: int = Field(
        8 * 1024 * 1024, ge=5 * 1024 * 1024, description="Size of each part (S3: 5 MiB or more)."
    )
    s3_max_concurrency: int = Field(
        16, ge=1, description="Image uploads in flight at once, per process."
    )
    s3_timeout_s: float = Field(
        10.0, gt=0, description="Seconds to connect to, or wait for an answer from, S3."
    )

    host: str = Field("127.0.0.1", description="Address the HTTP API listens on.")
    port: int = Field(8600, description="Port the HTTP API listens on.")
    http_keep_alive_s: int = Field(
        30,
        gt=0,
        description="Seconds an idle HTTP connection is kept open: longer than a camera's"
        " interval between reads (~6 s at the national peak), so cameras keep their"
        " connection instead of reconnecting for each read (uvicorn's own default is 5 s).",
    )

    max_batch: int = Field(1000, description="Most reads one ingest request may carry.")
    max_body_bytes: int = Field(
        64 * 1024 * 1024, description="Largest ingest request body accepted, in bytes."
    )
    max_request_body_bytes: int = Field(
        1024 * 1024,
        description="Largest request body of any other route (sign-in, searches, edits), in"
        " bytes; larger answers 413 before it is read.",
    )
    max_import_body_bytes: int = Field(
        64 * 1024 * 1024,
        description="Largest camera or hotlist import file sent to the API, in bytes.",
    )
    max_image_bytes: int = Field(512 * 1024, description="Largest single image, in bytes.")
    max_clock_skew_s: int = Field(
        300, description="How far in the future a camera clock may be, in seconds."
    )
    writer_max_rows: int = Field(
        8000, description="Most reads the writer commits in one group transaction."
    )
    writer_max_queued_rows: int = Field(
        64_000,
        description="Reads that may wait for the writer; beyond, ingest answers 503 with"
        " Retry-After and the camera sends them again (0: no limit).",
    )
    writer_wait_s: float = Field(
        30.0,
        description="Seconds a request waits for the writer's answer; beyond, it gets 503"
        " ingest_timeout with Retry-After (its reads may or may not be stored).",
    )
    writer_stuck_s: float = Field(
        60.0,
        description="Seconds work may wait for the writer without a commit before /health"
        " reports it stuck (503).",
    )
    ingest_sink: Literal["writer", "jetstream"] = Field(
        "writer",
        description="Where the ingest API makes reads durable: writer (the embedded group-commit"
        " writer) or jetstream (a replicated NATS JetStream stream, stored by ingest workers:"
        " `python -m veille.entrypoints.ingest_worker`; see docs/scale-out.md).",
    )
    nats_url: str = Field(
        "nats://127.0.0.1:4222",
        description="NATS servers of the JetStream ingest stream, comma-separated (give every"
        " node of the cluster).",
    )
    jetstream_stream: str = Field("VEILLE_INGEST", description="Name of the ingest stream.")
    jetstream_subject_prefix: str = Field(
        "veille.ingest",
        description="Subjects of the ingest stream: <prefix>.read, <prefix>.rejected.",
    )
    jetstream_replicas: int = Field(
        3,
        ge=1,
        le=5,
        description="Replicas of the ingest stream; a read is acknowledged once a quorum has"
        " it (3: one node may fail).",
    )
    jetstream_duplicate_window_s: float = Field(
        120.0,
        gt=0,
        description="Seconds the stream answers a re-sent read id as duplicate; later resends"
        " are de-duplicated by the store.",
    )
    jetstream_max_bytes: int = Field(
        -1,
        description="Largest size of the ingest stream in bytes; when full, ingest answers 503"
        " (new reads are refused, none is dropped). -1: the servers' storage limit.",
    )
    jetstream_publish_timeout_s: float = Field(
        10.0,
        gt=0,
        description="Seconds a batch waits for the stream's acknowledgements; beyond, ingest"
        " answers 503 and the camera sends it again.",
    )
    jetstream_worker_batch: int = Field(
        1000, ge=1, description="Most stream messages a worker fetches and stores in one commit."
    )
    jetstream_ack_wait_s: float = Field(
        30.0,
        gt=0,
        description="Seconds a fetched message may stay unacknowledged before the stream gives"
        " it to another worker (the store answers a repeat as duplicate).",
    )
    jetstream_max_ack_pending: int = Field(
        20_000,
        ge=1,
        description="Messages fetched and not yet acknowledged across all workers; at least"
        " workers × batch, or fetches stall.",
    )
    gc_gen0_threshold: int = Field(
        50_000,
        description="Allocations between young-generation garbage collections in the server"
        " (Python's default of 700 cost ingest about a fifth of its request thread); 0 keeps"
        " Python's default.",
    )
    dead_letter_payload_bytes: int = Field(
        256 * 1024, description="Most bytes of a rejected request body kept as a dead letter."
    )
    analysis_slots: int = Field(
        2,
        ge=1,
        description="Searches and analyses that run at once; the others wait their turn"
        " (first come, first served), so that ingest and alerts keep the cores at the"
        " busiest hour. About one per core.",
    )
    analysis_wait_s: float = Field(
        120.0,
        gt=0,
        description="Seconds a search may wait for its turn before it is refused with"
        " 503 analyses_busy and Retry-After.",
    )
    ingest_lane: bool = Field(
        True,
        description="Serve POST /api/v1/reads by the lean ASGI lane in front of the"
        " framework (same checks and answers, a fraction of the per-request cost); false"
        " routes ingest through FastAPI like every other route.",
    )
    camera_cache_s: float = Field(
        2.0,
        description="Seconds between two looks at the camera version: a verified camera"
        " credential is trusted until the version moves, so a camera or credential change"
        " made by another process (the CLI) applies within this many seconds.",
    )

    open_window_days: int = Field(
        30, description="Days during which reads are open to designated, trained users."
    )
    max_retention_days: int = Field(
        365,
        description="Days after which reads are deleted unless a case holds them; older"
        " captures are refused at ingest.",
    )
    search_purposes: list[str] = Field(
        default_factory=lambda: [
            "judicial: investigation of an offence",
            "judicial: search for a wanted person",
            "judicial: search for a stolen vehicle or plate",
            "administrative: missing person",
            "administrative: public order and safety",
        ],
        description="Purposes a search may cite (JSON list in the environment).",
    )
    authorization_purposes: list[str] = Field(
        default_factory=lambda: [
            "judicial: investigation of an offence",
            "judicial: search for a wanted person",
            "judicial: search for a stolen vehicle or plate",
        ],
        description="Search purposes (judicial missions) an authorization may be requested"
        " for; it opens older reads only to searches citing its own purpose and case.",
    )
    district_map_file: Path | None = Field(
        None,
        description="JSON file mapping cameras, police zones and provinces to judicial"
        " districts (format in docs/audit.md); unset: Belgium's twelve districts since 2014.",
    )
    cross_district_approval: CrossDistrictRule = Field(
        CrossDistrictRule.EACH_DISTRICT,
        description="Who approves a request whose cameras span judicial districts:"
        " each_district, federal (the federal prosecutor) or each_district_or_federal.",
    )
    case_ref_pattern: str = Field(
        r"[A-Za-z0-9][A-Za-z0-9./_-]{3,63}",
        description="Regular expression a case reference must match in full.",
    )
    totp_required_roles: list[str] = Field(
        default_factory=list,
        description="Roles that must sign in with a TOTP second factor (JSON list).",
    )
    session_cookie_secure: bool = Field(
        True, description="Send the browser session cookie over HTTPS only (Secure flag)."
    )
    session_hours: int = Field(12, description="Hours a browser session lasts.")
    lockout_failures: int = Field(5, description="Wrong passwords in a row before a lock-out.")
    lockout_minutes: int = Field(15, description="Minutes an account stays locked.")

    audit_key_path: Path | None = Field(
        None,
        description="Ed25519 private key that seals audit records and signs checkpoints"
        " (created 0600 on first use); default <data_dir>/keys/audit-signing.key. Keep it"
        " off the database's disk.",
    )
    audit_public_key_path: Path | None = Field(
        None,
        description="Public key verify checks checkpoints with; default the key path + .pub.",
    )
    audit_anchor_dir: Path | None = Field(
        None,
        description="Anchor store folder for signed checkpoints (never the database);"
        " default <data_dir>/audit-anchors.",
    )
    audit_checkpoint_every_records: int = Field(
        1000, description="A signed checkpoint after at most this many new audit records."
    )
    audit_checkpoint_interval_s: float = Field(
        60.0, description="A signed checkpoint at least this often while the log grows, in seconds."
    )
    audit_checkpoint_grace_s: float = Field(
        120.0,
        description="Seconds beyond the interval verify allows records to wait for a"
        " checkpoint before it fails.",
    )
    totp_key_path: Path | None = Field(
        None,
        description="AES-256 key that encrypts TOTP secrets (created 0600 on first use);"
        " default <data_dir>/keys/totp.key.",
    )

    run_jobs: bool = Field(
        True,
        description="Run the scheduled jobs (retention, audit anchors) and the audit checkpoint"
        " writer in the server.",
    )
    hotlist_refresh_s: float = Field(
        0.5, description="Seconds between checks for hotlist changes made by any process."
    )
    mqtt_host: str | None = Field(
        None, description="MQTT broker to publish alerts to (e.g. 127.0.0.1); unset: off."
    )
    mqtt_port: int = Field(1883, description="MQTT broker port.")
    mqtt_topic_prefix: str = Field(
        "veille/alerts", description="Alerts are published under <prefix>/<province>/<zone>."
    )
    alert_late_after_s: int = Field(
        600,
        description="Seconds after capture beyond which a hit rings marked late (reads older"
        " than the open window never ring).",
    )
    alert_stream_check_s: float = Field(
        5.0,
        gt=0,
        description="Seconds between an open live alert stream's access re-checks (and idle"
        " heartbeats): how long a revocation made outside the server (the CLI) takes to end it.",
    )
    alert_stream_replay_events: int = Field(
        10_000,
        ge=1,
        description="Recent live alert events kept so a reconnecting console resumes from its"
        " Last-Event-ID.",
    )
    alert_stream_queue: int = Field(
        1000,
        ge=1,
        description="Events a slow live subscriber may fall behind before it is told of a gap.",
    )
    webhook_attempts: int = Field(5, description="Delivery attempts per webhook and alert.")
    webhook_backoff_s: float = Field(
        0.5, description="First retry delay of a webhook delivery; doubles each attempt."
    )
    webhook_allowed_targets: list[str] = Field(
        default_factory=list,
        description="Internal webhook targets allowed all the same (JSON list of host names,"
        " addresses or CIDR networks); every other loopback, private, link-local, shared,"
        " multicast or reserved target is refused.",
    )

    @field_validator("store")
    @classmethod
    def _a_known_store(cls, value: str) -> str:
        if value and not value.startswith(POSTGRESQL_SCHEMES):
            raise ValueError(
                "must be empty (the embedded SQLite store) or a PostgreSQL URI starting"
                f" with {' or '.join(POSTGRESQL_SCHEMES)}"
            )
        return value

    @property
    def uses_postgresql(self) -> bool:
        return bool(self.store)

    @property
    def store_label(self) -> str:
        """Where the data lives, fit for a log line: the SQLite file, or the PostgreSQL
        URI without its password."""
        if not self.store:
            return str(self.database)
        return re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", self.store)

    @property
    def nats_servers(self) -> tuple[str, ...]:
        return tuple(url.strip() for url in self.nats_url.split(",") if url.strip())

    @property
    def database(self) -> Path:
        return self.database_path or self.data_dir / "veille.db"

    @property
    def images(self) -> Path:
        return self.image_dir or self.data_dir / "images"

    @property
    def audit_key(self) -> Path:
        return self.audit_key_path or self.data_dir / "keys" / "audit-signing.key"

    @property
    def audit_public_key(self) -> Path:
        return self.audit_public_key_path or self.audit_key.with_name(self.audit_key.name + ".pub")

    @property
    def audit_anchors(self) -> Path:
        return self.audit_anchor_dir or self.data_dir / "audit-anchors"

    @property
    def totp_key(self) -> Path:
        return self.totp_key_path or self.data_dir / "keys" / "totp.key"

    def checkpoint_max_wait(self) -> timedelta:
        """How long a record may wait for a signed checkpoint before verify fails."""
        return timedelta(seconds=self.audit_checkpoint_interval_s + self.audit_checkpoint_grace_s)

    def window_policy(self) -> WindowPolicy:
        return WindowPolicy(
            open_window=timedelta(days=self.open_window_days),
            max_retention=timedelta(days=self.max_retention_days),
        )

    def alert_timing(self) -> AlertTiming:
        return AlertTiming(
            open_window=timedelta(days=self.open_window_days),
            late_after=timedelta(seconds=self.alert_late_after_s),
        )

    def read_rules(self) -> ReadRules:
        return ReadRules(
            max_image_bytes=self.max_image_bytes,
            max_clock_skew=timedelta(seconds=self.max_clock_skew_s),
            max_age=timedelta(days=self.max_retention_days),  # older is never kept
        )


def settings_markdown() -> str:
    """docs/configuration.md, generated from the fields above (`veille docs configuration`)."""
    lines = [
        "# Configuration",
        "",
        "Every setting lives in `src/veille/settings.py` (one typed class) and is read from an",
        "environment variable `VEILLE_<NAME>`; lists are given as JSON (for example",
        '`VEILLE_TOTP_REQUIRED_ROLES=\'["administrator","prosecutor"]\'`). The defaults run the',
        "embedded store out of the box. This page is generated by `veille docs configuration`.",
        "",
        "| variable | default | meaning |",
        "|---|---|---|",
    ]
    for name, field in Settings.model_fields.items():
        default = field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]
        shown = "—" if default is None else f"`{default}`"
        if isinstance(default, list):
            shown = "`" + ", ".join(default) + "`" if default else "`[]`"
        lines.append(f"| `VEILLE_{name.upper()}` | {shown} | {field.description} |")
    return "\n".join(lines) + "\n"
