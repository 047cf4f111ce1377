"""The `veille audit` commands: verify the hash chain, export the log, anchor its head."""

from __future__ import annotations

import os
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from veille.entrypoints.cli_common import (
    DataDir,
    cli_actor,
    handled,
    opened_platform,
    settings_for,
)

if TYPE_CHECKING:
    from veille.service import audit as audit_service

audit_app = typer.Typer(
    no_args_is_help=True,
    help="Audit log: verify the chain, export it, sign checkpoints, manage the key.",
)

AnchorsDir = Annotated[
    Path | None,
    typer.Option(
        "--anchors",
        help="Anchor store folder (default: $VEILLE_AUDIT_ANCHOR_DIR or <data-dir>/audit-anchors).",
    ),
]
PublicKey = Annotated[
    Path | None,
    typer.Option(
        "--public-key",
        help="Public key to check checkpoints with (default: $VEILLE_AUDIT_PUBLIC_KEY_PATH).",
    ),
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
def verify(
    data_dir: DataDir = None, anchors: AnchorsDir = None, public_key: PublicKey = None
) -> None:
    """Check every record's hash and link, and the chain against the signed checkpoints.

    Needs the public key only. Exit 0 when intact and vouched for; 1 when a record was
    edited, deleted, inserted, reordered or truncated, when the anchor store is missing
    or empty or lacks a checkpoint the log names, or when records have waited too long
    for a checkpoint. The verification is recorded in the log after it has answered.
    """
    from veille.adapters.keys import PublicKeyError
    from veille.service.commands.audit import RecordAuditVerification, VerifyAuditLog

    with opened_platform(data_dir) as platform:
        try:
            report = platform.bus.handle(VerifyAuditLog(anchor_dir=anchors, public_key=public_key))
        except PublicKeyError as exc:  # here a verdict, as a broken chain is: exit 1
            typer.echo(f"audit log NOT verified: {exc}", err=True)
            raise typer.Exit(1) from None
        _print_report(report)
        if not platform.audit_keys.exists():
            # A copy checked elsewhere with the public key: sealing a record here would
            # need (and create) a signing key of its own. Leave the copy as it is.
            typer.echo("note: no signing key here, so this verification is not recorded", err=True)
            return _exit(report)
        try:  # after the answer: a log that cannot take a record is still reported on
            # Where the signing key is at hand, vouch for that record at once, so that a
            # verification never leaves the log waiting for a server that may be stopped.
            platform.bus.handle(
                RecordAuditVerification(report=report, actor=cli_actor(), vouch=True)
            )
        except Exception as exc:
            typer.echo(f"note: this verification could not be recorded in the log: {exc}", err=True)
    _exit(report)


def _exit(report: audit_service.VerifyReport) -> None:
    if not report.ok:
        raise typer.Exit(1)


def _print_report(report: audit_service.VerifyReport) -> None:
    newest = report.newest_checkpoint
    if newest is not None:
        age = report.checkpoint_age_s or 0.0
        coverage = (
            f"newest checkpoint: record {newest.seq}, signed {newest.at.isoformat()}"
            f" ({age:.0f} s ago); {report.uncovered} records after it not yet covered"
        )
    else:
        coverage = "no signed checkpoint"
    if report.ok:
        seq, head_hash = report.head
        typer.echo(f"audit log intact: {report.records} records, head seq {seq} hash {head_hash}")
        typer.echo(
            f"checked against {report.anchors_checked} signed checkpoints from"
            f" {report.anchor_store} (public key {report.key_id})"
        )
        typer.echo(coverage)
        return
    for problem in report.problems:
        typer.echo(str(problem))
    typer.echo(coverage)
    typer.echo(f"audit log NOT intact: {len(report.problems)} problems in {report.records} records")


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
    from veille.service.commands.audit import AuditFilters, ExportAuditLog

    query = ExportAuditLog(
        actor=cli_actor(),
        fmt=fmt.value,
        filters=AuditFilters(
            since=_instant(since, "--since"),
            until=_instant(until, "--until"),
            username=user,
            action=action,
            case_ref=case,
        ),
    )
    with opened_platform(data_dir) as platform:
        text: str = handled(platform, query)
    if output is None:
        typer.echo(text, nl=not text.endswith("\n"))
        return
    fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
    typer.echo(f"audit export written to {output}", err=True)


@audit_app.command("anchor")
def anchor(data_dir: DataDir = None) -> None:
    """Sign a checkpoint of the chain head now and note it in the log.

    The server does this by itself (a checkpoint every minute or N records, a note every
    hour); run it when the server is stopped, or before copying the anchor store away.
    A head the checkpoint writer will not vouch for is refused (exit 1).
    """
    from veille.service.commands.audit import AnchorAuditHead

    with opened_platform(data_dir) as platform:
        written = handled(platform, AnchorAuditHead(actor=cli_actor()))
        location = platform.anchors.location
    typer.echo(
        f"checkpoint: seq {written.seq} hash {written.hash} at {written.at.isoformat()}"
        f" -> {location}"
    )


@audit_app.command("keygen")
def keygen(data_dir: DataDir = None) -> None:
    """Create the audit signing key (0600) and its public key, unless they exist."""
    from veille.adapters.keys import AuditKeyring, KeyFileError

    settings = settings_for(data_dir)
    keys = AuditKeyring(settings.audit_key, settings.audit_public_key)
    try:
        created = keys.create()
    except KeyFileError as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(2) from None
    state = "created" if created else "already exists, kept"
    typer.echo(f"audit signing key {settings.audit_key}: {state}")
    typer.echo(f"public key {settings.audit_public_key} (key id {keys.key_id})")


@audit_app.command("public-key")
def public_key_command(
    data_dir: DataDir = None,
    output: Annotated[Path | None, typer.Option(help="Write the PEM here.")] = None,
) -> None:
    """Print the public key (PEM) to give to the data-protection officer, and its key id."""
    from veille.adapters.keys import AuditKeyring, KeyFileError, public_pem

    settings = settings_for(data_dir)
    keys = AuditKeyring(settings.audit_key, settings.audit_public_key)
    if not keys.exists():
        typer.echo(
            f"no audit signing key at {settings.audit_key} (run `veille audit keygen`)", err=True
        )
        raise typer.Exit(2)
    try:
        pem = public_pem(keys.public_key())
    except KeyFileError as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(2) from None
    if output is not None:
        output.write_bytes(pem)
        typer.echo(f"public key {keys.key_id} written to {output}", err=True)
        return
    typer.echo(pem.decode("ascii"), nl=False)
    typer.echo(f"key id {keys.key_id}", err=True)
