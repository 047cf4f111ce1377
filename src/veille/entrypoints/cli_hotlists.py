"""`veille hotlists …` and `veille alerts …`: hotlist management and alert reports.

A refused hotlist command (no such list or entry, a bad entry, a bad file) is one line on
stderr and its kind's exit code, as every command's (`cli_common.run_refusing`).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from veille.entrypoints.cli_common import (
    EXIT_REFUSED,
    DataDir,
    cli_actor,
    echo_json,
    open_platform,
)

hotlists_app = typer.Typer(no_args_is_help=True, help="Hotlists: lists of wanted plates.")
alerts_app = typer.Typer(no_args_is_help=True, help="Alerts: reports.")


@hotlists_app.command("create")
def create(
    list_id: Annotated[str, typer.Argument(help="Short id, e.g. stolen-be.")],
    name: Annotated[str, typer.Option(help="Full name.")],
    category: Annotated[
        str,
        typer.Option(
            help="stolen_vehicle, stolen_plate, wanted_person, "
            "missing_person, schengen_alert, uninsured, "
            "no_roadworthiness_test, traffic_ban, investigation"
        ),
    ],
    owner_org: Annotated[str, typer.Option(help="Owning organisation id.")] = "federal",
    max_edits: Annotated[int, typer.Option(help="Differences tolerated (0–2).")] = 0,
    lookalike: Annotated[bool, typer.Option(help="Match look-alike characters.")] = True,
    max_wildcards: Annotated[int, typer.Option(help="Wildcard entries allowed.")] = 10,
    data_dir: DataDir = None,
) -> None:
    """Create or change a hotlist."""
    from veille.service.commands.hotlists import SaveHotlist

    open_platform(data_dir).bus.handle(
        SaveHotlist(
            list_id=list_id,
            name=name,
            category=category,
            owner_org=owner_org,
            actor=cli_actor(),
            org_id=None,
            max_edits=max_edits,
            lookalike=lookalike,
            max_wildcards=max_wildcards,
        )
    )
    typer.echo(f"hotlist {list_id} saved")


@hotlists_app.command("list")
def list_lists(data_dir: DataDir = None) -> None:
    """Every hotlist with its entry count."""
    from veille.service.commands.hotlists import HotlistsOfOrg

    for found in open_platform(data_dir).bus.handle(HotlistsOfOrg(org_id=None)):
        h = found.hotlist
        typer.echo(
            f"{h.list_id:<20} {h.category.value:<22} owner={h.owner_org:<16}"
            f" edits={h.max_edits} lookalike={'yes' if h.lookalike else 'no'}"
            f" entries={found.entries}  {h.name}"
        )


@hotlists_app.command("import")
def import_file(
    list_id: str,
    file: Annotated[
        Path, typer.Argument(help="A .csv or .json file: the whole list.", exists=True)
    ],
    data_dir: DataDir = None,
) -> None:
    """Replace the whole list from a file, atomically; prints added/changed/removed."""
    from veille.service.commands.hotlists import ImportHotlist
    from veille.service.errors import Invalid

    try:
        text = file.read_text("utf-8")
    except UnicodeDecodeError:
        raise Invalid(f"{file} is not UTF-8: import files must be", code="bad_encoding") from None
    report = open_platform(data_dir).bus.handle(
        ImportHotlist(
            list_id=list_id,
            text=text,
            fmt="csv" if file.suffix.lower() == ".csv" else "json",
            actor=cli_actor(),
            org_id=None,
        )
    )
    echo_json(report.as_dict())
    if not report.applied:
        raise typer.Exit(EXIT_REFUSED)


@hotlists_app.command("entries")
def entries(list_id: str, data_dir: DataDir = None) -> None:
    """The entries of a list, as JSON."""
    from veille.service import hotlists as hotlist_service
    from veille.service.commands.hotlists import HotlistEntriesPage

    found = open_platform(data_dir).bus.handle(HotlistEntriesPage(list_id=list_id, org_id=None))
    echo_json(hotlist_service.entries_json(found))


@hotlists_app.command("add")
def add(
    list_id: str,
    plate: Annotated[str, typer.Option(help="Plate, or a pattern with ? and *.")],
    country: Annotated[str | None, typer.Option(help="Two-letter country.")] = None,
    priority: Annotated[int | None, typer.Option(help="1 (highest) to 5.")] = None,
    valid_until: Annotated[str | None, typer.Option(help="ISO date-time with zone.")] = None,
    source_ref: Annotated[str, typer.Option(help="Reference in the source system.")] = "",
    instructions: Annotated[str, typer.Option(help="What the officer must do.")] = "",
    covert: Annotated[bool, typer.Option(help="Alert only the owning organisation.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Add or edit one entry; every process picks it up within a second."""
    from veille.service.commands.hotlists import PutHotlistEntry

    record = {
        "plate": plate,
        "country": country,
        "priority": priority,
        "valid_until": valid_until,
        "source_ref": source_ref,
        "instructions": instructions,
        "covert": covert,
    }
    entry = open_platform(data_dir).bus.handle(
        PutHotlistEntry(
            list_id=list_id,
            record={k: v for k, v in record.items() if v is not None},
            actor=cli_actor(),
            org_id=None,
        )
    )
    typer.echo(f"entry {entry.entry_id} saved")


@hotlists_app.command("expire")
def expire(list_id: str, entry_id: str, data_dir: DataDir = None) -> None:
    """End an entry's validity now (it stays on record)."""
    from veille.service.commands.hotlists import ExpireHotlistEntry

    open_platform(data_dir).bus.handle(
        ExpireHotlistEntry(list_id=list_id, entry_id=entry_id, actor=cli_actor(), org_id=None)
    )
    typer.echo(f"entry {entry_id} expired")


@hotlists_app.command("delete-entry")
def delete_entry(list_id: str, entry_id: str, data_dir: DataDir = None) -> None:
    """Delete one entry."""
    from veille.service.commands.hotlists import DeleteHotlistEntry

    open_platform(data_dir).bus.handle(
        DeleteHotlistEntry(list_id=list_id, entry_id=entry_id, actor=cli_actor(), org_id=None)
    )
    typer.echo(f"entry {entry_id} deleted")


@hotlists_app.command("delete")
def delete(list_id: str, data_dir: DataDir = None) -> None:
    """Delete a list and its entries."""
    from veille.service.commands.hotlists import DeleteHotlist

    open_platform(data_dir).bus.handle(
        DeleteHotlist(list_id=list_id, actor=cli_actor(), org_id=None)
    )
    typer.echo(f"hotlist {list_id} deleted")


@alerts_app.command("report")
def report(
    days: Annotated[int, typer.Option(help="Period: the last N days.")] = 30,
    data_dir: DataDir = None,
) -> None:
    """Hits by list, zone and outcome, and the misread rate per camera (JSON).

    Every zone, but no covert list: on the command line nobody is a list's owner."""
    from veille.entrypoints.api.schemas.alerts import report_json
    from veille.entrypoints.cli_common import echo_json
    from veille.service.commands.alerts import HitsReport

    platform = open_platform(data_dir)
    until = platform.clock()
    found = platform.bus.handle(HitsReport(since=until - timedelta(days=days), until=until))
    echo_json(report_json(found))
