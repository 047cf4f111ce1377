"""`veille hotlists …` and `veille alerts …`: hotlist management and alert reports."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

import orjson
import typer

from veille.entrypoints.cli_common import DataDir, cli_actor, open_platform

hotlists_app = typer.Typer(no_args_is_help=True, help="Hotlists: lists of wanted plates.")
alerts_app = typer.Typer(no_args_is_help=True, help="Alerts: reports.")


def _fail(message: str) -> None:
    typer.echo(f"refused: {message}", err=True)
    raise typer.Exit(1)


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
    from veille.domain.hotlists import Category, Hotlist
    from veille.service import hotlists as hotlist_service

    platform = open_platform(data_dir)
    try:
        hotlist = Hotlist(
            list_id,
            name,
            Category(category),
            owner_org,
            max_edits=max_edits,
            lookalike=lookalike,
            max_wildcards=max_wildcards,
        )
        hotlist_service.save_list(
            uow=platform.uow(), hotlist=hotlist, now=platform.clock(), actor=cli_actor()
        )
    except (ValueError, hotlist_service.HotlistError) as exc:
        _fail(str(exc))
    typer.echo(f"hotlist {list_id} saved")


@hotlists_app.command("list")
def list_lists(data_dir: DataDir = None) -> None:
    """Every hotlist with its entry count."""
    with open_platform(data_dir).read_uow() as uow:
        for h in uow.hotlists.lists():
            typer.echo(
                f"{h.list_id:<20} {h.category.value:<22} owner={h.owner_org:<16}"
                f" edits={h.max_edits} lookalike={'yes' if h.lookalike else 'no'}"
                f" entries={uow.hotlists.count_entries(h.list_id)}  {h.name}"
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
    from veille.service import hotlists as hotlist_service

    platform = open_platform(data_dir)
    fmt = "csv" if file.suffix.lower() == ".csv" else "json"
    try:
        records = hotlist_service.decode_entries(file.read_text("utf-8"), fmt)
        report = hotlist_service.import_list(
            uow=platform.uow(),
            list_id=list_id,
            records=records,
            now=platform.clock(),
            actor=cli_actor(),
        )
    except hotlist_service.HotlistError as exc:
        _fail(str(exc))
    typer.echo(orjson.dumps(report.as_dict(), option=orjson.OPT_INDENT_2).decode())
    if not report.applied:
        raise typer.Exit(1)


@hotlists_app.command("entries")
def entries(list_id: str, data_dir: DataDir = None) -> None:
    """The entries of a list, as JSON."""
    from veille.service import hotlists as hotlist_service

    with open_platform(data_dir).read_uow() as uow:
        found = uow.hotlists.entries(list_id)
    typer.echo(
        orjson.dumps(hotlist_service.entries_json(found), option=orjson.OPT_INDENT_2).decode()
    )


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
    from veille.domain.hotlists import EntryInvalid
    from veille.service import hotlists as hotlist_service

    record = {
        "plate": plate,
        "country": country,
        "priority": priority,
        "valid_until": valid_until,
        "source_ref": source_ref,
        "instructions": instructions,
        "covert": covert,
    }
    platform = open_platform(data_dir)
    try:
        entry = hotlist_service.put_entry(
            uow=platform.uow(),
            list_id=list_id,
            record={k: v for k, v in record.items() if v is not None},
            now=platform.clock(),
            actor=cli_actor(),
        )
    except (EntryInvalid, hotlist_service.HotlistError) as exc:
        _fail(str(exc))
    typer.echo(f"entry {entry.entry_id} saved")


@hotlists_app.command("expire")
def expire(list_id: str, entry_id: str, data_dir: DataDir = None) -> None:
    """End an entry's validity now (it stays on record)."""
    from veille.service import hotlists as hotlist_service

    platform = open_platform(data_dir)
    try:
        hotlist_service.expire_entry(
            uow=platform.uow(),
            list_id=list_id,
            entry_id=entry_id,
            now=platform.clock(),
            actor=cli_actor(),
        )
    except hotlist_service.HotlistError as exc:
        _fail(str(exc))
    typer.echo(f"entry {entry_id} expired")


@hotlists_app.command("delete-entry")
def delete_entry(list_id: str, entry_id: str, data_dir: DataDir = None) -> None:
    """Delete one entry."""
    from veille.service import hotlists as hotlist_service

    platform = open_platform(data_dir)
    try:
        hotlist_service.delete_entry(
            uow=platform.uow(),
            list_id=list_id,
            entry_id=entry_id,
            now=platform.clock(),
            actor=cli_actor(),
        )
    except hotlist_service.HotlistError as exc:
        _fail(str(exc))
    typer.echo(f"entry {entry_id} deleted")


@hotlists_app.command("delete")
def delete(list_id: str, data_dir: DataDir = None) -> None:
    """Delete a list and its entries."""
    from veille.service import hotlists as hotlist_service

    platform = open_platform(data_dir)
    try:
        hotlist_service.delete_list(
            uow=platform.uow(), list_id=list_id, now=platform.clock(), actor=cli_actor()
        )
    except hotlist_service.HotlistError as exc:
        _fail(str(exc))
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
