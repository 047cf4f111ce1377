"""`veille jobs` (scheduled jobs on demand) and `veille holds` (case holds) commands."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from veille.domain.retention import Hold
from veille.domain.times import iso, iso_or_none
from veille.entrypoints.cli_common import (
    DataDir,
    cli_actor,
    echo_json,
    handled,
    opened_platform,
)
from veille.service.commands.jobs import CaseHolds, PlaceHold, ReleaseHold

jobs_app = typer.Typer(no_args_is_help=True, help="Scheduled jobs: list them, run one now.")
holds_app = typer.Typer(
    no_args_is_help=True, help="Case holds: keep reads past the maximum retention for a case."
)

AsJson = Annotated[bool, typer.Option("--json", help="JSON output.")]


def parse_moment(text: str) -> datetime:
    """An ISO 8601 date or date-time; without an offset it is taken as UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"not an ISO 8601 date or date-time: {text!r}") from None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def hold_to_json(hold: Hold) -> dict[str, Any]:
    return {
        "hold_id": hold.hold_id,
        "case_ref": hold.case_ref,
        "plates": sorted(hold.plates),
        "camera_ids": sorted(hold.camera_ids),
        "period_start": iso(hold.period_start),
        "period_end": iso(hold.period_end),
        "auth_id": hold.auth_id,
        "created_by": hold.created_by,
        "created_at": iso_or_none(hold.created_at),
        "released_at": iso_or_none(hold.released_at),
        "released_by": hold.released_by,
    }


# ---- jobs ----------------------------------------------------------------------------


@jobs_app.command("list")
def jobs_list(as_json: AsJson = False) -> None:
    """The schedule table."""
    from veille.service.jobs import JOBS

    if as_json:
        echo_json(
            [
                {"name": j.name, "every_s": j.every.total_seconds(), "description": j.description}
                for j in JOBS.values()
            ]
        )
        return
    typer.echo(f"{'job':<14} {'every':<10} description")
    for job in JOBS.values():
        typer.echo(f"{job.name:<14} {_every(job.every.total_seconds()):<10} {job.description}")


def _every(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


@jobs_app.command("run")
def jobs_run(
    name: Annotated[str, typer.Argument(help="Job name (see `veille jobs list`).")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report what would be done; change nothing.")
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Run one job now, whatever its schedule (idempotent, audited). Prints its report."""
    from veille.service.jobs import UnknownJob, job_command

    try:
        command = job_command(name, dry_run=dry_run)
    except UnknownJob as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None  # a name not in the table is bad usage
    with opened_platform(data_dir) as platform:
        report = handled(platform, command)
    echo_json(report.as_dict() if report is not None else {"dry_run": True, "done": None})


# ---- holds ---------------------------------------------------------------------------


@holds_app.command("add")
def holds_add(
    case: Annotated[str, typer.Option("--case", help="Case reference the hold serves.")],
    start: Annotated[str, typer.Option("--start", help="Period start, ISO 8601 (UTC if bare).")],
    end: Annotated[str, typer.Option("--end", help="Period end (excluded), ISO 8601.")],
    plate: Annotated[
        list[str] | None, typer.Option("--plate", help="A plate to keep (repeat for more).")
    ] = None,
    camera: Annotated[
        list[str] | None, typer.Option("--camera", help="A camera id to keep (repeat).")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Place a case hold: reads of these plates and/or cameras in [start, end) are kept."""
    command = PlaceHold(
        case_ref=case,
        plates=plate or (),
        camera_ids=camera or (),
        start=parse_moment(start),
        end=parse_moment(end),
        actor=cli_actor(),
    )
    with opened_platform(data_dir) as platform:
        hold = handled(platform, command)
    typer.echo(f"hold {hold.hold_id} placed for case {hold.case_ref}")


@holds_app.command("list")
def holds_list(
    include_released: Annotated[
        bool, typer.Option("--all", help="Include released holds.")
    ] = False,
    as_json: AsJson = False,
    data_dir: DataDir = None,
) -> None:
    """List case holds (audited: they name plates under investigation)."""
    with opened_platform(data_dir) as platform:
        holds: list[Hold] = handled(
            platform, CaseHolds(actor=cli_actor(), include_released=include_released)
        )
    if as_json:
        echo_json([hold_to_json(h) for h in holds])
        return
    for h in holds:
        state = f"released {h.released_at:%Y-%m-%d}" if h.released_at else "active"
        typer.echo(
            f"#{h.hold_id:<5} {h.case_ref:<20} {h.period_start:%Y-%m-%d %H:%M}"
            f" → {h.period_end:%Y-%m-%d %H:%M}  plates: {','.join(sorted(h.plates)) or 'any'}"
            f"  cameras: {','.join(sorted(h.camera_ids)) or 'any'}  {state}"
        )
    typer.echo(f"{len(holds)} holds")


@holds_app.command("release")
def holds_release(
    hold_id: Annotated[int, typer.Argument(help="Hold id.")],
    data_dir: DataDir = None,
) -> None:
    """Release a hold: its reads fall under the normal retention at the next run."""
    with opened_platform(data_dir) as platform:
        hold = handled(platform, ReleaseHold(hold_id=hold_id, actor=cli_actor()))
    typer.echo(f"hold {hold.hold_id} (case {hold.case_ref}) released")
