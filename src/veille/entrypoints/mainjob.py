"""The main job: the platform on the embedded store, fed by a simulated camera network."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TextIO

import httpx
import orjson

from veille.bootstrap import bootstrap
from veille.domain.access import Role
from veille.domain.audit import system_actor
from veille.domain.hotlists import Category
from veille.domain.users import FEDERAL
from veille.entrypoints.server_process import start_server, stop_server
from veille.service.commands.hotlists import ImportHotlist, SaveHotlist
from veille.service.commands.users import (
    CreateFirstAdmin,
    IssueToken,
    ProvisionUser,
    RevokeToken,
    UserNamed,
    UsersPage,
)
from veille.settings import Settings
from veille.simulator.client import ClientStats
from veille.simulator.runner import (
    SimulationConfig,
    SimulationReport,
    generate_reads,
    run_simulation,
)

DEMO_SCENARIOS = ("route", "convoy", "near-point", "misread", "clone")


class ProgressLine:
    """Prints reads/s, stored and rejected about once a second (one refreshing line on a TTY)."""

    def __init__(self, out: TextIO = sys.stdout):
        self.out = out
        self.tty = out.isatty()
        self.last_acknowledged = 0
        self.last_time = time.monotonic()
        self.warned_auth = False

    def __call__(self, stats: ClientStats) -> None:
        now = time.monotonic()
        window = max(now - self.last_time, 1e-6)
        current = (stats.acknowledged - self.last_acknowledged) / window
        self.last_acknowledged, self.last_time = stats.acknowledged, now
        line = (
            f"[{stats.elapsed_s:7.1f}s] {current:8.1f} reads/s | sent {stats.generated:>9,}"
            f" | stored {stats.stored:>9,} | duplicate {stats.duplicate:>5,}"
            f" | rejected {stats.rejected:>5,} | failed {stats.failed:>3,}"
            f" | retries {stats.retries:>3,}"
        )
        if stats.auth_failed:
            line += f" | REFUSED AUTH {stats.auth_failed:,}"
        if stats.auth_failed and not self.warned_auth:
            self.warned_auth = True  # once: then the count on each line says it goes on
            first = stats.failures[0] if stats.failures else ""
            self.out.write(
                f"\nWARNING: the server refuses this simulation's cameras ({first}):"
                " their ingest tokens were replaced or revoked, e.g. by another"
                " `veille simulate --reissue-tokens`; these reads are lost to this run.\n"
            )
        if self.tty:
            self.out.write("\r" + line)
        else:
            self.out.write(line + "\n")
        self.out.flush()


def _ensure_admin_token(settings: Settings) -> tuple[str, str | None]:
    """A bearer token for the simulator; creates the first administrator if there is none.

    Returns (token, generated password or None). The password is printed once, never logged.
    """
    platform = bootstrap(settings)
    platform.open_store()
    password = None
    try:
        admins = [
            u for u in platform.bus.handle(UsersPage()) if u.role is Role.ADMINISTRATOR and u.active
        ]
        if not admins:
            password = secrets.token_urlsafe(18)
            admins = [
                platform.bus.handle(
                    CreateFirstAdmin(username="admin", password=password, actor=None)
                )
            ]
        # the demo's own "admin" when it is one, else the first administrator
        admin = next((u for u in admins if u.username == "admin"), admins[0])
        token: str = platform.bus.handle(
            IssueToken(user_id=admin.user_id, name="main job simulator", ttl=timedelta(days=1))
        )
    finally:
        platform.close_store()
    return token, password


def _revoke(settings: Settings, token: str) -> None:
    platform = bootstrap(settings)
    try:
        platform.bus.handle(RevokeToken(token=token, actor=system_actor("main-job")))
        platform.checkpoints.write(force=True)  # the server is stopped: vouch for it here
    finally:
        platform.close_store()


async def _simulate(
    config: SimulationConfig,
    *,
    base_url: str,
    admin_token: str,
    progress: ProgressLine,
    operator_token: str | None = None,
    on_cancelled: Callable[[SimulationReport], None] | None = None,
) -> SimulationReport:
    watcher = None
    if operator_token:
        watcher = asyncio.create_task(_show_alerts(base_url, operator_token, progress.out))
    try:
        return await run_simulation(
            config,
            base_url=base_url,
            admin_token=admin_token,
            progress=progress,
            on_cancelled=on_cancelled,
        )
    finally:
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await watcher


RECONNECTS = 3  # attempts in a row that get no further, before giving up


async def _show_alerts(
    base_url: str,
    token: str,
    out: TextIO,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    retry_pause_s: float = 1.0,
) -> None:
    """Follow the live alert channel as an operator and print each alert as it arrives.

    A channel that breaks (the network, a restarted server) is opened again and resumes
    after the last alert printed (`Last-Event-ID`), so none is lost; the server says so
    with a gap when it cannot resume. When the server ends the channel (the operator's
    password was changed, its token revoked, the account deleted) the main job says so:
    alerts must never stop appearing silently.
    """
    reason = "the server closed the live alert channel"
    position = _StreamPosition()
    attempts = 0
    async with httpx.AsyncClient(base_url=base_url, timeout=None, transport=transport) as client:
        while True:
            headers = {"Authorization": f"Bearer {token}"}
            if position.last_id is not None:
                headers["Last-Event-ID"] = position.last_id
            seen = position.last_id
            closed = None
            try:
                async with client.stream("GET", "/api/v1/alerts/stream", headers=headers) as resp:
                    if resp.status_code != 200:
                        reason = (
                            f"the server refused the live alert channel (HTTP {resp.status_code})"
                        )
                        break
                    closed = await _print_alerts(resp, out, position)
            except httpx.HTTPError as exc:
                reason = f"the live alert channel failed ({type(exc).__name__})"
            if closed is not None:
                reason = closed
                break
            attempts = 0 if position.last_id != seen else attempts + 1  # got further: fine
            if attempts > RECONNECTS:
                break
            await asyncio.sleep(retry_pause_s * attempts)
    out.write(
        f"\nAlerts are no longer printed: {reason}. A changed password, a revoked token or a"
        " withdrawn designation of the 'operator' account closes its channel; restart"
        " `make run` to follow the alerts again.\n"
    )
    out.flush()


@dataclass
class _StreamPosition:
    """Where a followed stream got to: the id of the last alert printed."""

    last_id: str | None = None


async def _print_alerts(resp: httpx.Response, out: TextIO, position: _StreamPosition) -> str | None:
    """Print the stream's alerts; return why the server closed it, if it said."""
    event, event_id = "message", None
    async for line in resp.aiter_lines():
        if line.startswith("event: "):
            event = line[7:].strip()
            continue
        if line.startswith("id: "):
            event_id = line[4:].strip()
            continue
        if not line.startswith("data: "):
            if not line:
                event, event_id = "message", None  # a blank line ends an event
            continue
        document = orjson.loads(line[6:])
        if event == "closed":
            return f"the server closed the live alert channel ({document.get('reason', '?')})"
        if event == "gap":  # alerts were missed: say so, never pretend the list is whole
            out.write(
                f"\n  Some alerts were not shown ({document.get('reason', '?')}): see"
                " `GET /api/v1/alerts` for every open alert.\n"
            )
            out.flush()
            continue
        _print_alert(document, out)
        if event_id is not None:
            position.last_id = event_id
    return None


def _print_alert(alert: dict[str, Any], out: TextIO) -> None:
    received = alert.get("read", {}).get("received_at")
    lag = ""
    if received:
        sent = datetime.fromisoformat(received).timestamp()
        lag = f" {1000 * (alert['published_at'] - sent):.0f} ms after receipt"
    camera = alert.get("read", {}).get("camera_id", alert["camera_id"])
    if alert["event"] == "new":
        out.write(
            f"\n  ALERT #{alert['alert_id']} {alert['plate']} — {alert['category']}"
            f" [{alert['match']['kind']}] at {camera} ({alert['zone']}){lag}:"
            f" {alert['entry'].get('instructions') or '-'}\n"
        )
    else:  # a repeat hit joins the open alert: shown, not rung again
        out.write(
            f"\n    alert #{alert['alert_id']} {alert['plate']} seen again at {camera}"
            f" (hit {alert['hit_count']}){lag}\n"
        )
    out.flush()


def _prepare_demo(settings: Settings, config: SimulationConfig) -> str:
    """A demo hotlist of vehicles the simulation will drive past cameras, and an operator
    account whose live channel the main job follows; returns the operator's token."""
    platform = bootstrap(settings)
    platform.open_store()
    actor = system_actor("main-job")
    now = platform.clock()
    try:
        preview = Counter(payload["plate"] for _, payload in generate_reads(config, now, 3000))
        plates = [plate for plate, _ in preview.most_common(8)]
        platform.bus.handle(
            SaveHotlist(
                list_id="demo-stolen",
                name="Demo: stolen vehicles",
                category=Category.STOLEN_VEHICLE,
                owner_org=FEDERAL.org_id,
                actor=actor,
                org_id=None,
            )
        )
        demo_entries = [
            {
                "plate": plate,
                "priority": 1 + i % 3,
                "source_ref": f"DEMO-{i:03d}",
                "instructions": "Demo entry: compare the image, then decide.",
            }
            for i, plate in enumerate(plates)
        ]
        platform.bus.handle(  # an import file, as a hotlist manager would send one
            ImportHotlist(
                list_id="demo-stolen",
                text=orjson.dumps(demo_entries).decode(),
                fmt="json",
                actor=actor,
                org_id=None,
            )
        )
        operator = platform.bus.handle(UserNamed("operator"))
        if operator is None:
            operator = platform.bus.handle(
                ProvisionUser(
                    username="operator",
                    password=secrets.token_urlsafe(18),
                    role=Role.OPERATOR,
                    org_id=FEDERAL.org_id,
                    designated=True,
                    training_expires=now + timedelta(days=365),
                    actor=actor,
                    display_name="Demo control-room operator",
                )
            )
        token: str = platform.bus.handle(
            IssueToken(
                user_id=operator.user_id, name="main job live channel", ttl=timedelta(days=1)
            )
        )
    finally:
        platform.close_store()
    return token


def _run_until_interrupted(
    coro_factory: Callable[[], Coroutine[Any, Any, SimulationReport]],
) -> SimulationReport | None:
    """Run the simulation; Ctrl-C (or SIGTERM) cancels it cleanly and returns None."""
    loop = asyncio.new_event_loop()
    task = loop.create_task(coro_factory())
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    try:
        return loop.run_until_complete(task)
    except asyncio.CancelledError:
        return None
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        loop.close()


def run_main_job(
    settings: Settings,
    *,
    cameras: int = 450,
    rate: float = 200.0,
    seed: int = 1,
    duration: float | None = None,
    out: TextIO = sys.stdout,
) -> int:
    """Start the API, register the simulated cameras, stream traffic, show progress."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    token, password = _ensure_admin_token(settings)
    if password:
        out.write(
            f"First administrator created: username 'admin', password '{password}'"
            " (shown once; change it or create your own accounts).\n"
        )
    log_path = settings.data_dir / "server.log"
    base_url = f"http://{settings.host}:{settings.port}"
    out.write(
        f"Audit log: records sealed and checkpoints signed with {settings.audit_key}"
        f" (give {settings.audit_public_key} to the data-protection officer); signed"
        f" checkpoints in {settings.audit_anchors}. TOTP secrets encrypted with"
        f" {settings.totp_key}. Keys are created on first use; keep them off this disk.\n"
    )
    out.write(f"Starting Veille on {base_url} (store: {settings.store_label}, log: {log_path})\n")
    with open(log_path, "ab") as log:
        # In a session of its own, the server does not get the terminal's Ctrl-C: it is
        # stopped below, only once the simulator has flushed every read in flight.
        server = start_server(
            settings.data_dir,
            settings.port,
            {"VEILLE_HOST": settings.host},
            stderr=log.fileno(),
            own_session=True,
        )
    report = None
    cancelled: list[SimulationReport] = []
    operator_token: str | None = None
    try:
        config = SimulationConfig(
            cameras=cameras,
            rate=rate,
            seed=seed,
            duration_s=duration,
            scenarios=DEMO_SCENARIOS,
            reissue_tokens=True,  # the main job owns its cameras, from one run to the next
        )
        operator_token = _prepare_demo(settings, config)
        out.write(
            "Demo hotlist 'demo-stolen' loaded with vehicles the simulation drives past"
            " cameras; their alerts are printed below as the operator's live channel"
            " receives them.\n"
        )
        out.write(
            f"Simulating {cameras} cameras over Brussels' six police zones at {rate:g}"
            f" reads/s (seed {seed}); scenarios: {', '.join(DEMO_SCENARIOS)}. Ctrl-C stops.\n"
        )
        progress = ProgressLine(out)
        report = _run_until_interrupted(
            lambda: _simulate(
                config,
                base_url=base_url,
                admin_token=token,
                progress=progress,
                operator_token=operator_token,
                on_cancelled=cancelled.append,
            )
        )
    finally:
        out.write("\nStopping: the server finishes its last commits...\n")
        code = stop_server(server)
        with contextlib.suppress(Exception):
            _revoke(settings, token)
            if operator_token:
                _revoke(settings, operator_token)
    report = report or (cancelled[0] if cancelled else None)
    if report is not None:
        truth = settings.data_dir / "ground-truth.json"
        truth.write_bytes(orjson.dumps(report.as_dict(), option=orjson.OPT_INDENT_2))
        out.write(f"Ground truth of the injected scenarios: {truth}\n")
        stats = report.stats
        out.write(
            f"Done: {stats.stored:,} stored, {stats.duplicate:,} duplicate,"
            f" {stats.rejected:,} rejected, {stats.failed:,} failed,"
            f" {stats.pending:,} unacknowledged.\n"
        )
    # uvicorn ends a graceful shutdown by re-raising the SIGTERM it was stopped with
    clean = code in (0, -signal.SIGTERM)
    out.write("Server stopped cleanly.\n" if clean else f"Server stopped (exit code {code}).\n")
    return 0 if clean else 1


def simulate_against(
    *,
    url: str,
    admin_token: str,
    cameras: int,
    rate: float,
    seed: int,
    duration: float | None,
    total: int | None,
    scenarios: list[str],
    realtime: bool = True,
    batch_size: int = 200,
    concurrency: int = 8,
    reissue_tokens: bool = False,
) -> int:
    """`veille simulate`: drive the cameras against a server that is already running."""
    config = SimulationConfig(
        cameras=cameras,
        rate=rate,
        seed=seed,
        duration_s=duration,
        total=total,
        scenarios=tuple(scenarios),
        realtime=realtime,
        batch_size=batch_size,
        concurrency=concurrency,
        reissue_tokens=reissue_tokens,
    )
    # Progress goes to stderr, so stdout is the report alone: `veille simulate > sim.json`.
    progress = ProgressLine(sys.stderr)
    report = _run_until_interrupted(
        lambda: _simulate(config, base_url=url, admin_token=admin_token, progress=progress)
    )
    sys.stderr.write("\n")
    if report is None:
        return 130
    sys.stdout.write(orjson.dumps(report.as_dict(), option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0 if report.stats.failed == 0 else 1
