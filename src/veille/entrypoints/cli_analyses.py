"""The `veille analyse` commands: the investigation analyses over the HTTP API, and verify."""

from __future__ import annotations

import inspect
import json
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from veille.entrypoints.cli_common import talking_to
from veille.service.analysis_exports import verify_document

analyses_app = typer.Typer(
    no_args_is_help=True,
    help="Investigation analyses through the API: each needs a purpose and a case reference.",
)


class Format(StrEnum):
    json = "json"
    csv = "csv"
    geojson = "geojson"
    html = "html"
    pdf = "pdf"


Url = Annotated[
    str, typer.Option("--url", envvar="VEILLE_URL", help="The Veille server (or $VEILLE_URL).")
]
Token = Annotated[
    str,
    typer.Option("--token", envvar="VEILLE_TOKEN", help="Your bearer token (or $VEILLE_TOKEN)."),
]
Purpose = Annotated[str, typer.Option("--purpose", help="One of the configured purposes.")]
Case = Annotated[str, typer.Option("--case", help="The case or notice reference.")]
Start = Annotated[
    str, typer.Option("--start", help="ISO 8601 with a time zone, 'now', or relative: -7d, -24h.")
]
End = Annotated[str, typer.Option("--end", help="As --start; default now.")]
Fmt = Annotated[Format, typer.Option("--format", help="json, or an audited export.")]
Output = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write the answer to this file.")
]
Lat = Annotated[float | None, typer.Option("--lat", help="Centre latitude (WGS84).")]
Lon = Annotated[float | None, typer.Option("--lon", help="Centre longitude (WGS84).")]
Radius = Annotated[float | None, typer.Option("--radius", help="Radius in metres.")]
Cameras = Annotated[
    list[str] | None, typer.Option("--camera", help="A camera id (repeat for several).")
]

Body = dict[str, Any]  # a request body; options left None are not sent
BodyOf = Callable[..., Body]

_RELATIVE = re.compile(r"-(\d+(?:\.\d+)?)([dhm])")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def instant(text: str, *, now: datetime | None = None) -> str:
    """An ISO 8601 moment from 'now', '-7d' / '-24h' / '-30m', or ISO 8601 with a zone."""
    now = now or datetime.now(UTC)
    if text == "now":
        moment = now
    elif match := _RELATIVE.fullmatch(text):
        moment = now - timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})
    else:
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise typer.BadParameter(f"not a time: {text!r}") from None
        if moment.tzinfo is None:
            raise typer.BadParameter(f"{text!r} needs a time zone (Z or an offset)")
    return moment.isoformat().replace("+00:00", "Z")


def http_client(url: str, token: str) -> httpx.Client:
    """The HTTP client of every command (tests swap in an in-process one)."""
    return httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=httpx.Timeout(300.0)
    )


def _call(
    kind: str,
    body: dict[str, Any],
    *,
    url: str,
    token: str,
    purpose: str,
    case: str,
    start: str,
    end: str,
    fmt: Format,
    output: Path | None,
) -> None:
    if not token:
        raise typer.BadParameter("a bearer token is needed: --token or $VEILLE_TOKEN")
    if fmt is Format.pdf and output is None:
        raise typer.BadParameter("a PDF needs --output FILE", param_hint="--output")
    payload = {
        **{k: v for k, v in body.items() if v is not None},
        "purpose": purpose,
        "case_ref": case,
        "start": instant(start),
        "end": instant(end),
        "format": fmt.value,
    }
    with talking_to(url), http_client(url, token) as client:
        answer = client.post(f"/api/v1/analyses/{kind}", json=payload)
    if answer.status_code != 200:
        try:
            problem = answer.json().get("error", {})
        except ValueError:
            problem = {"message": answer.text[:500]}
        typer.echo(f"refused ({answer.status_code}): {json.dumps(problem)}", err=True)
        raise typer.Exit(1)
    content = answer.content
    if fmt is Format.json:
        result = answer.json()
        content = (json.dumps(result, indent=2, ensure_ascii=False) + "\n").encode()
        for note in partial_notes(result):
            typer.echo(f"note: {note}", err=True)
    digest = answer.headers.get("x-veille-result-sha256", "")
    if output is not None:
        output.write_bytes(content)
        typer.echo(f"wrote {output} ({len(content)} bytes), result SHA-256 {digest}", err=True)
    else:
        sys.stdout.write(content.decode("utf-8"))


def partial_notes(result: dict[str, Any]) -> list[str]:
    """What makes an answer partial, said on stderr so stdout stays the JSON answer."""
    notes = []
    if result.get("truncated"):
        caps = ", ".join(result.get("limits_reached") or []) or "a limit"
        notes.append(f"the result was capped ({caps}): narrow the search to see the rest")
    if clip := result.get("period_clipped"):
        since = clip.get("visible_from")
        notes.append(
            "the period was clipped to what you may see"
            + (f" (visible from {since})" if since else " (none of it is open to you)")
            + "; older reads open only through an authorization"
        )
    return notes


# The options every analysis shares, declared once: `analysis` adds them to each command
# and `_call` forwards them (purpose, case, period, format, server, token, output).
_SHARED = [
    inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default)
    for name, annotation, default in (
        ("purpose", Purpose, inspect.Parameter.empty),
        ("case", Case, inspect.Parameter.empty),
        ("start", Start, inspect.Parameter.empty),
        ("end", End, "now"),
        ("url", Url, "http://127.0.0.1:8600"),
        ("token", Token, ""),
        ("fmt", Fmt, Format.json),
        ("output", Output, None),
    )
]


def analysis(kind: str) -> Callable[[BodyOf], BodyOf]:
    """Register `veille analyse <kind>`: the decorated function turns the command's own
    arguments into the request body; the shared options are added to it here and sent
    with the body by `_call`."""

    def register(body_of: BodyOf) -> BodyOf:
        own = inspect.signature(body_of, eval_str=True)

        def command(**options: Any) -> None:
            shared = {p.name: options.pop(p.name) for p in _SHARED}
            _call(kind, body_of(**options), **shared)

        command.__signature__ = own.replace(  # type: ignore[attr-defined]
            parameters=[*own.parameters.values(), *_SHARED], return_annotation=None
        )
        command.__doc__ = body_of.__doc__
        analyses_app.command(kind)(command)
        return body_of

    return register


@analysis("plate")
def plate(
    plate: Annotated[str, typer.Argument(help="Plate, or a pattern with ? and * (wildcard).")],
    mode: Annotated[str, typer.Option(help="exact, wildcard, lookalike or edit.")] = "exact",
    max_edits: Annotated[int, typer.Option(help="For --mode edit: 0–2.")] = 1,
    country: Annotated[str | None, typer.Option(help="Two-letter country code.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many passages.")] = 1000,
) -> Body:
    """Passages of a plate: exact, wildcard, look-alike or within a few edits."""
    return {
        "plate": plate,
        "mode": mode,
        "max_edits": max_edits,
        "country": country,
        "limit": limit,
    }


def _polygon(path: Path | None) -> list[Any] | None:
    if path is None:
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("type") == "FeatureCollection":
        data = data["features"][0]
    if data.get("type") == "Feature":
        data = data["geometry"]
    if data.get("type") != "Polygon":
        raise typer.BadParameter("the file must hold a GeoJSON Polygon", param_hint="--polygon")
    coordinates: list[Any] = data["coordinates"]
    return coordinates


@analysis("area")
def area(
    lat: Lat = None,
    lon: Lon = None,
    radius: Radius = None,
    polygon: Annotated[
        Path | None, typer.Option(help="A GeoJSON file holding a Polygon (lon, lat).")
    ] = None,
    camera: Cameras = None,
) -> Body:
    """Vehicles seen in an area (circle, polygon or cameras) during a period."""
    return {
        "lat": lat,
        "lon": lon,
        "radius_m": radius,
        "polygon": _polygon(polygon),
        "camera_ids": camera or None,
    }


@analysis("journey")
def journey(
    plate: Annotated[str, typer.Argument(help="The plate.")],
    gap_minutes: Annotated[float, typer.Option(help="Unseen longer than this: a gap.")] = 30.0,
) -> Body:
    """A plate's journey: passages in order, legs, gaps, direction (geojson: a map)."""
    return {"plate": plate, "gap_minutes": gap_minutes}


@analysis("convoy")
def convoy(
    plate: Annotated[str, typer.Argument(help="The target plate.")],
    window: Annotated[float, typer.Option(help="± seconds around each passage.")] = 60.0,
    min_cameras: Annotated[int, typer.Option(help="Distinct cameras shared, at least.")] = 3,
    limit: Annotated[int, typer.Option(help="At most this many companions.")] = 50,
) -> Body:
    """Vehicles travelling with a target, ranked; busy places and times count less."""
    return {"plate": plate, "window_s": window, "min_cameras": min_cameras, "limit": limit}


def _scene(text: str) -> dict[str, Any]:
    parts = text.split(",")
    if len(parts) != 5:
        raise typer.BadParameter(f"a scene is LAT,LON,RADIUS_M,START,END, got {text!r}")
    lat, lon, radius, start, end = parts
    return {
        "lat": float(lat),
        "lon": float(lon),
        "radius_m": float(radius),
        "start": instant(start),
        "end": instant(end),
    }


@analysis("scenes")
def scenes(
    scene: Annotated[
        list[str], typer.Option(help="LAT,LON,RADIUS_M,START,END (repeat: two or more).")
    ],
    min_scenes: Annotated[int, typer.Option(help="Seen at this many scenes at least.")] = 2,
) -> Body:
    """Plates seen at several scenes (each a circle and a period)."""
    return {"scenes": [_scene(s) for s in scene], "min_scenes": min_scenes}


@analysis("rare-visitors")
def rare_visitors(
    baseline_start: Annotated[str, typer.Option(help="Start of the baseline period.")],
    baseline_end: Annotated[str, typer.Option(help="End of the baseline period.")],
    lat: Lat = None,
    lon: Lon = None,
    radius: Radius = None,
    camera: Cameras = None,
) -> Body:
    """Plates seen at a place in the period and never there in the baseline."""
    return {
        "lat": lat,
        "lon": lon,
        "radius_m": radius,
        "camera_ids": camera or None,
        "baseline_start": instant(baseline_start),
        "baseline_end": instant(baseline_end),
    }


@analysis("clones")
def clones(
    plate: Annotated[str | None, typer.Option(help="One plate; default: every plate.")] = None,
    max_speed: Annotated[float, typer.Option(help="km/h one vehicle cannot exceed.")] = 180.0,
    min_distance: Annotated[float, typer.Option(help="Ignore passages closer (m).")] = 2000.0,
) -> Body:
    """Cloned plates: one plate at two places too far apart for the time between."""
    return {"plate": plate, "max_speed_kmh": max_speed, "min_distance_m": min_distance}


@analyses_app.command("verify")
def verify(
    file: Annotated[Path, typer.Argument(help="A JSON answer, an HTML report, or result.json.")],
    sha256: Annotated[
        str | None, typer.Option(help="The hash to check against (from a PDF or the log).")
    ] = None,
) -> None:
    """Recompute a result's SHA-256 and compare it with the one the report carries.

    Exit 0 when they match, 1 otherwise, 2 when the file is not one Veille can check
    (a PDF: verify the result.json attached to it).
    """
    data = file.read_bytes()
    if data.startswith(b"%PDF"):
        typer.echo(
            "a PDF is verified through its attachment: save result.json from the PDF reader's"
            " attachments pane, then run `veille analyse verify result.json --sha256 HASH`"
            " with the hash printed on the report",
            err=True,
        )
        raise typer.Exit(2)
    try:
        claimed, computed = verify_document(data.decode("utf-8"), sha256)
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        typer.echo(
            f"{file} is not a Veille JSON answer, HTML report or result.json: {exc}", err=True
        )
        raise typer.Exit(2) from None
    if claimed and claimed == computed:
        typer.echo(f"ok {computed}")
        return
    typer.echo(f"MISMATCH: claimed {claimed or '(none)'}, computed {computed}", err=True)
    raise typer.Exit(1)
