"""Exports of analysis results: CSV, GeoJSON, HTML and PDF reports with a result hash,
and the check of a report's hash (`verify_document`)."""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

import orjson

from veille.domain.audit import AuditEntry
from veille.domain.times import iso
from veille.service.analyses import AnalysisError, Result, point_feature
from veille.service.ports import UnitOfWork
from veille.service.queries import QueryContext

# format → (media type, file extension); `json` is the result itself
MEDIA_TYPES = {
    "csv": ("text/csv; charset=utf-8", "csv"),
    "geojson": ("application/geo+json", "geojson"),
    "html": ("text/html; charset=utf-8", "html"),
    "pdf": ("application/pdf", "pdf"),
}


@dataclass(frozen=True)
class AnalysisResult:
    """What an analysis answered (once its audit record was committed), and its hash."""

    kind: str
    result: Result

    @cached_property
    def sha256(self) -> str:
        return result_sha256(self.result)


@dataclass(frozen=True)
class ExportDocument:
    """An audited export: the bytes, how to serve them, and the SHA-256 of the result."""

    content: bytes
    media_type: str
    filename: str
    sha256: str


def check_format(fmt: str) -> None:
    """An export format this service renders (checked before the analysis runs)."""
    if fmt not in MEDIA_TYPES:
        raise AnalysisError(
            f"format must be one of {', '.join(MEDIA_TYPES)}",
            problems=[{"field": "format", "reason": f"one of {', '.join(MEDIA_TYPES)}"}],
        )


def export_filename(kind: str, case_ref: str | None, at: datetime, ext: str) -> str:
    case = re.sub(r"[^A-Za-z0-9._-]+", "_", case_ref or "nocase")[:64]
    return f"veille-{kind}-{case}-{at:%Y%m%dT%H%M%SZ}.{ext}"


def export_result(
    *,
    uow_factory: Callable[[], UnitOfWork],
    ctx: QueryContext,
    now: datetime,
    analysed: AnalysisResult,
    fmt: str,
    query: dict[str, Any],
) -> ExportDocument:
    """Render a result in `fmt`, then audit the export (`record_export`); the document is
    answered only once that record is committed. `query` is what the report says was
    asked (the analysis's audited parameters and period)."""
    kind, result, sha256 = analysed.kind, analysed.result, analysed.sha256
    content: bytes
    if fmt == "csv":
        content = export_csv(result, kind).encode("utf-8")
    elif fmt == "geojson":
        content = orjson.dumps(export_geojson(result, kind, sha256=sha256))
    else:
        principal = ctx.principal
        render = report_html if fmt == "html" else report_pdf
        rendered = render(
            result=result,
            kind=kind,
            query=query,
            purpose=ctx.purpose,
            case_ref=ctx.case_ref,
            user=f"{principal.username} ({principal.role.value}, {principal.org_id})",
            generated_at=now,
        )
        content = rendered.encode("utf-8") if isinstance(rendered, str) else rendered
    record_export(
        uow_factory=uow_factory,
        ctx=ctx,
        now=now,
        kind=kind,
        fmt=fmt,
        sha256=sha256,
        count=int(result.get("count", 0)),
        params=query,
    )
    media_type, ext = MEDIA_TYPES[fmt]
    return ExportDocument(
        content, media_type, export_filename(kind, ctx.case_ref, now, ext), sha256
    )


def record_export(
    *,
    uow_factory: Callable[[], UnitOfWork],
    ctx: QueryContext,
    now: datetime,
    kind: str,
    fmt: str,
    sha256: str,
    count: int,
    params: dict[str, Any],
) -> None:
    """Audit an export as its own action, with the hash of the exported result."""
    with uow_factory() as uow:
        uow.audit.append(
            AuditEntry(
                at=now,
                actor=ctx.actor(),
                action="analysis.export",
                target=kind,
                params={**params, "analysis": kind, "format": fmt, "sha256": sha256},
                result_count=count,
                purpose=ctx.purpose,
                case_ref=ctx.case_ref,
            )
        )
        uow.commit()


def canonical_json(result: Result) -> bytes:
    """The canonical JSON of a result: sorted keys, no spaces, UTF-8 (what the hash covers).

    Python's standard library reproduces it:
    `json.dumps(r, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()`.
    """
    text = json.dumps(
        result, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return text.encode("utf-8")


def result_sha256(result: Result) -> str:
    return hashlib.sha256(canonical_json(result)).hexdigest()


def _images(passage: dict[str, Any]) -> str:
    return " ".join(i.get("sha256") or i.get("uri") or "" for i in passage.get("images", []))


_PASSAGE_COLUMNS = (
    "captured_at",
    "plate",
    "plate_raw",
    "country",
    "camera_id",
    "camera_name",
    "zone",
    "lat",
    "lon",
    "confidence",
    "direction",
)


def table(result: Result, kind: str) -> tuple[list[str], list[list[Any]]]:
    """The result as one table (header, rows): what CSV, HTML and PDF show."""
    if kind == "plate":
        header = [*_PASSAGE_COLUMNS, "images", "read_id"]
        rows = [
            [*(p[c] for c in _PASSAGE_COLUMNS), _images(p), p["read_id"]]
            for p in result["passages"]
        ]
    elif kind in ("area", "rare-visitors"):
        header = ["plate", "count", "first_at", "first_camera", "last_at", "last_camera", "cameras"]
        key = "vehicles" if kind == "area" else "visitors"
        rows = [
            [
                v["plate"],
                v["count"],
                v["first"]["captured_at"],
                v["first"]["camera_id"],
                v["last"]["captured_at"],
                v["last"]["camera_id"],
                " ".join(v["cameras"]),
            ]
            for v in result[key]
        ]
    elif kind == "journey":
        header = [
            "seq",
            "captured_at",
            "camera_id",
            "camera_name",
            "lat",
            "lon",
            "distance_m",
            "seconds",
            "speed_kmh",
            "direction",
            "gap",
        ]
        legs = [None, *result["legs"]]
        rows = [
            [p["seq"], p["captured_at"], p["camera_id"], p["camera_name"], p["lat"], p["lon"]]
            + (
                [leg[k] for k in ("distance_m", "seconds", "speed_kmh", "direction", "gap")]
                if leg
                else [None] * 5
            )
            for p, leg in zip(result["passages"], legs, strict=False)
        ]
    elif kind == "convoy":
        header = ["rank", "plate", "score", "cameras", "co_occurrences", "camera_ids"]
        rows = [
            [
                c["rank"],
                c["plate"],
                c["score"],
                c["cameras"],
                c["co_occurrences"],
                " ".join(c["camera_ids"]),
            ]
            for c in result["companions"]
        ]
    elif kind == "scenes":
        header = ["plate", "scenes", "scene_indexes", "passages"]
        rows = [
            [r["plate"], r["count"], " ".join(str(s) for s in r["scenes"]), len(r["passages"])]
            for r in result["plates"]
        ]
    elif kind == "clones":
        header = [
            "plate",
            "first_at",
            "first_camera",
            "second_at",
            "second_camera",
            "distance_m",
            "seconds",
            "implied_kmh",
            "first_images",
            "second_images",
            "first_read_id",
            "second_read_id",
        ]
        rows = [
            [
                f["plate"],
                f["first"]["captured_at"],
                f["first"]["camera_id"],
                f["second"]["captured_at"],
                f["second"]["camera_id"],
                f["distance_m"],
                f["seconds"],
                f["implied_kmh"],
                _images(f["first"]),
                _images(f["second"]),
                f["first"]["read_id"],
                f["second"]["read_id"],
            ]
            for f in result["findings"]
        ]
    else:
        raise AnalysisError(f"unknown analysis {kind!r}")
    return header, rows


def _cell(value: Any) -> Any:
    # A spreadsheet runs a cell starting with = + - @ as a formula: camera names are free text.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def export_csv(result: Result, kind: str) -> str:
    """The result table as CSV (RFC 4180, header row, CRLF line ends)."""
    header, rows = table(result, kind)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows([_cell(v) for v in row] for row in rows)
    return out.getvalue()


def export_geojson(result: Result, kind: str, *, sha256: str | None = None) -> dict[str, Any]:
    """The result on a map: a FeatureCollection (coordinates [lon, lat]) whose `veille`
    member names the analysis and the SHA-256 of the result."""
    features: list[dict[str, Any]] = []
    if kind == "plate":
        features = [point_feature(p) for p in result["passages"] if p["lat"] is not None]
    elif kind in ("area", "rare-visitors"):
        for v in result["vehicles" if kind == "area" else "visitors"]:
            for role in ("first", "last"):
                if v[role]["lat"] is not None:
                    features.append(point_feature(v[role], role=role, count=v["count"]))
    elif kind == "journey":
        features = list(result["geojson"]["features"])
    elif kind == "convoy":
        features = [
            point_feature(p, seq=p["seq"]) for p in result.get("target", []) if p["lat"] is not None
        ]
        features += [
            {
                "type": "Feature",
                "geometry": None,
                "properties": {k: v for k, v in c.items() if k != "passages"},
            }
            for c in result["companions"]
        ]
    elif kind == "scenes":
        features = [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [s["lon"], s["lat"]]},
                "properties": {
                    "kind": "scene",
                    **{k: v for k, v in s.items() if k not in ("lat", "lon")},
                },
            }
            for s in result["scenes"]
        ]
        features += [
            point_feature(p, scene=p["scene"])
            for r in result["plates"]
            for p in r["passages"]
            if p["lat"] is not None
        ]
    elif kind == "clones":
        for f in result["findings"]:
            a, b = f["first"], f["second"]
            features.append(
                {
                    "type": "Feature",
                    "geometry": {
                        "type": "LineString",
                        "coordinates": [[a["lon"], a["lat"]], [b["lon"], b["lat"]]],
                    },
                    "properties": {
                        "plate": f["plate"],
                        "first_at": a["captured_at"],
                        "second_at": b["captured_at"],
                        "first_camera": a["camera_id"],
                        "second_camera": b["camera_id"],
                        "distance_m": f["distance_m"],
                        "seconds": f["seconds"],
                        "implied_kmh": f["implied_kmh"],
                    },
                }
            )
    else:
        raise AnalysisError(f"unknown analysis {kind!r}")
    return {
        "type": "FeatureCollection",
        "features": features,
        "veille": {
            "analysis": kind,
            "sha256": sha256 or result_sha256(result),
            # a map of a partial result must say it is partial
            "truncated": bool(result.get("truncated")),
            "limits_reached": list(result.get("limits_reached") or []),
            "period_clipped": result.get("period_clipped"),
        },
    }


@dataclass(frozen=True)
class ReportHeader:
    """What a report says about the query: for the case file."""

    kind: str
    query: dict[str, Any]
    purpose: str | None
    case_ref: str | None
    user: str
    generated_at: datetime
    sha256: str
    limits_reached: tuple[str, ...] = ()
    period_clipped: dict[str, Any] | None = None


def report_header(
    *,
    result: Result,
    kind: str,
    query: dict[str, Any],
    purpose: str | None,
    case_ref: str | None,
    user: str,
    generated_at: datetime,
) -> ReportHeader:
    return ReportHeader(
        kind,
        query,
        purpose,
        case_ref,
        user,
        generated_at,
        result_sha256(result),
        tuple(result.get("limits_reached") or ()),
        result.get("period_clipped"),
    )


def _summary(head: ReportHeader) -> list[tuple[str, str]]:
    return [
        ("Analysis", head.kind),
        ("Case", head.case_ref or ""),
        ("Purpose", head.purpose or ""),
        ("User", head.user),
        ("Generated", iso(head.generated_at)),
        ("Query", json.dumps(head.query, sort_keys=True, ensure_ascii=False, default=str)),
        ("Result SHA-256", head.sha256),
        # a case file must show that a result is partial, and why
        (
            "Completeness",
            "TRUNCATED at " + ", ".join(head.limits_reached)
            if head.limits_reached
            else "complete within the caps",
        ),
        (
            "Period",
            f"clipped to what the caller may see: visible from {clip.get('visible_from') or '-'}"
            if (clip := head.period_clipped)
            else "as requested",
        ),
    ]


def report_html(
    *,
    result: Result,
    kind: str,
    query: dict[str, Any],
    purpose: str | None,
    case_ref: str | None,
    user: str,
    generated_at: datetime,
) -> str:
    """A self-contained HTML report: the query, why, who, when, the result table, its
    hash, and the result itself (to re-hash) in a `<script type="application/json">`."""
    head = report_header(
        result=result,
        kind=kind,
        query=query,
        purpose=purpose,
        case_ref=case_ref,
        user=user,
        generated_at=generated_at,
    )
    header, rows = table(result, kind)
    esc = html.escape
    summary = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in _summary(head))
    thead = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{esc(_text(v))}</td>" for v in row) + "</tr>" for row in rows
    )
    embedded = json.dumps(result, ensure_ascii=False, sort_keys=True).replace("<", "\\u003c")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Veille {esc(kind)} report {esc(head.case_ref or '')}</title>"
        "<style>body{font-family:sans-serif;font-size:12px}table{border-collapse:collapse}"
        "td,th{border:1px solid #999;padding:2px 4px;text-align:left}</style></head><body>"
        f"<h1>Veille analysis report: {esc(kind)}</h1>"
        f'<table class="summary">{summary}</table>'
        f"<h2>Result ({len(rows)} rows)</h2>"
        f'<table class="result"><thead><tr>{thead}</tr></thead><tbody>{body}</tbody></table>'
        "<p>The SHA-256 is that of the canonical JSON of the result (sorted keys, no spaces, "
        "UTF-8) embedded below; the audit log records it with the export.</p>"
        f'<script type="application/json" id="veille-result">{embedded}</script>'
        "</body></html>\n"
    )


# Characters with no Latin-1 form and no accent to strip: spelled out by hand.
_TRANSLITERATE = str.maketrans(
    dict(
        zip(
            "\u2018\u2019\u201c\u201d\u2013\u2014\u2022\u00a0\u0141\u0142\u0110\u0111\u0131",
            "''\"\"--* LlDdi",
            strict=True,
        )
    )
    | {"\u2026": "...", "\u20ac": "EUR", "\u0152": "OE", "\u0153": "oe"}
)


def latin1(text: str) -> str:
    """Text a PDF core font can draw: Latin-1 kept, accents stripped from the rest, '?' last."""
    out = []
    for ch in str(text).translate(_TRANSLITERATE):
        try:
            ch.encode("latin-1")
            out.append(ch)
        except UnicodeEncodeError:
            base = unicodedata.normalize("NFKD", ch).encode("latin-1", "ignore").decode("latin-1")
            out.append("".join(c for c in base if not unicodedata.combining(c)) or "?")
    return "".join(out)


PDF_MAX_ROWS = 2000  # beyond, the PDF says so: the CSV export has every row


def report_pdf(
    *,
    result: Result,
    kind: str,
    query: dict[str, Any],
    purpose: str | None,
    case_ref: str | None,
    user: str,
    generated_at: datetime,
) -> bytes:
    """The report as PDF (A4 landscape, core font), with the result attached as JSON."""
    from fpdf import FPDF  # a heavy import, only when a PDF is asked for

    head = report_header(
        result=result,
        kind=kind,
        query=query,
        purpose=purpose,
        case_ref=case_ref,
        user=user,
        generated_at=generated_at,
    )
    header, rows = table(result, kind)
    pdf = FPDF(orientation="L", unit="mm", format="A4")
    pdf.set_title(latin1(f"Veille {kind} report {head.case_ref or ''}"))
    pdf.set_creator("Veille")
    pdf.set_creation_date(head.generated_at)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 14)
    pdf.cell(0, 8, latin1(f"Veille analysis report: {kind}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=9)
    for label, value in _summary(head):
        pdf.multi_cell(0, 5, latin1(f"{label}: {value}"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font("Helvetica", "B", 10)
    pdf.cell(0, 6, f"Result ({len(rows)} rows)", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=6)
    if rows:
        with pdf.table(first_row_as_headings=True, line_height=3) as grid:
            for row in [header, *rows[:PDF_MAX_ROWS]]:
                cells = grid.row()
                for value in row:
                    cells.cell(latin1(_text(value)))
    if len(rows) > PDF_MAX_ROWS:
        pdf.set_font("Helvetica", "I", 8)
        pdf.cell(0, 6, f"First {PDF_MAX_ROWS} of {len(rows)} rows; the CSV export has all.")
    pdf.embed_file(
        bytes=canonical_json(result), basename="result.json", mime_type="application/json"
    )
    return bytes(pdf.output())


_HTML_RESULT = re.compile(
    r'<script type="application/json" id="veille-result">(.*?)</script>', re.DOTALL
)
_HTML_HASH = re.compile(r"<th>Result SHA-256</th><td>([0-9a-f]{64})</td>")


def verify_document(text: str, expected: str | None = None) -> tuple[str, str]:
    """(claimed, computed) SHA-256 of a JSON answer, an HTML report or a bare result:
    the claim is `expected` when given, else the one the document carries.

    Raises ValueError (a JSONDecodeError) when the text is none of them."""
    if match := _HTML_RESULT.search(text):
        result = json.loads(match.group(1))
        found = _HTML_HASH.search(text)
        claimed = expected or (found.group(1) if found else "")
    else:
        result = json.loads(text)
        if not isinstance(result, dict):
            raise ValueError("not a JSON object")
        claimed = expected or result.pop("sha256", "")
        result.pop("sha256", None)
    return claimed, result_sha256(result)
