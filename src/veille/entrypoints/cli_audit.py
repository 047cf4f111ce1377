"""The `veille audit` commands: verify the hash chain, export the log, anchor its head."""

from __future__ import annotations

import os
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from veille.entrypoints.cli_common import DataDir, cli_actor, open_platform

if TYPE_CHECKING:
    pass

audit_app = typer.Typer(
    no_args_is_help=True, help="Audit log: verify the chain, export it, anchor its head."
)

AnchorsFile = Annotated[
    Path | None,
    typer.Option("--anchors", help="Anchor file (default: <data-dir>/audit-anchors.jsonl)."),
]


class Format(StrEnum):
    csv = "csv"
    json = "json"


def _instant(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"not an ISO 8601 time: {value!r}", param_hint=option) from None


@audit_app.command("verify")
def verify(data_dir: DataDir = None, anchors: AnchorsFile = None) -> None:
    """Check every record's hash and link, and the chain head against the anchors.

    Exit 0 when intact, 1 when any record was edited, deleted, inserted, reordered or
    the tail truncated.
    """
    from veille.service import audit as audit_service

    platform = open_platform(data_dir)
    path = anchors or audit_service.default_anchor_path(platform.settings.data_dir)
    if anchors is not None and not path.exists():
        typer.echo(f"no anchor file {path}", err=True)
        raise typer.Exit(2)
    try:
        known = audit_service.read_anchors(path) if path.exists() else []
        report = audit_service.verify(
            uow=platform.uow(),
            read_uow=platform.read_uow(),
            actor=cli_actor(),
            now=platform.clock(),
            anchors=known,
        )
    except audit_service.AnchorFileError as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(2) from None
    finally:
        platform.store.close()
    if report.ok:
        seq, head_hash = report.head
        typer.echo(f"audit log intact: {report.records} records, head seq {seq} hash {head_hash}")
        typer.echo(f"checked against {report.anchors_checked} anchors from {path}")
        return
    for problem in report.problems:
        typer.echo(str(problem))
    typer.echo(f"audit log NOT intact: {len(report.problems)} problems in {report.records} records")
    raise typer.Exit(1)


@audit_app.command("export")
def export(
    fmt: Annotated[Format, typer.Option("--format", help="csv or json.")],
    since: Annotated[str | None, typer.Option(help="From this time (ISO 8601).")] = None,
    until: Annotated[str | None, typer.Option(help="Before this time (ISO 8601).")] = None,
    user: Annotated[str | None, typer.Option(help="Only this username.")] = None,
    action: Annotated[str | None, typer.Option(help="Only this action.")] = None,
    case: Annotated[str | None, typer.Option(help="Only this case reference.")] = None,
    output: Annotated[
        Path | None, typer.Option(help="Write here (mode 600) instead of standard output.")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Export every matching record with every field; the export is itself audited."""
    from veille.service import audit as audit_service

    start, end = _instant(since, "--since"), _instant(until, "--until")
    platform = open_platform(data_dir)
    try:
        text = audit_service.export(
            uow=platform.uow(),
            read_uow=platform.read_uow(),
            actor=cli_actor(),
            now=platform.clock(),
            fmt=fmt.value,
            since=start,
            until=end,
            username=user,
            action=action,
            case_ref=case,
        )
    finally:
        platform.store.close()
    if output is None:
        typer.echo(text, nl=not text.endswith("\n"))
        return
    fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
    typer.echo(f"audit export written to {output}", err=True)


@audit_app.command("anchor")
def anchor(data_dir: DataDir = None, anchors: AnchorsFile = None) -> None:
    """Append the chain head to the anchor file; run it on a schedule and copy the file away."""
    from veille.service import audit as audit_service

    platform = open_platform(data_dir)
    path = anchors or audit_service.default_anchor_path(platform.settings.data_dir)
    try:
        written = audit_service.write_anchor(
            uow=platform.uow(), path=path, now=platform.clock(), actor=cli_actor()
        )
    finally:
        platform.store.close()
    typer.echo(
        f"anchor: seq {written.seq} hash {written.hash} at {written.at.isoformat()} -> {path}"
    )
