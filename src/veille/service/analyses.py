"""The investigation analyses, each `fn(access, **params) -> (result, count)` for run_query."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, NoReturn

from veille.domain import analysis as maths
from veille.domain.audit import AuditEntry, system_actor
from veille.domain.cameras import Camera
from veille.domain.geography import haversine_m
from veille.domain.plates import (
    DEFAULT_LOOKALIKES,
    LookalikeTable,
    PlateRejected,
    fold,
    normalise,
    wildcard_regex,
    within_distance,
)
from veille.domain.reads import Read
from veille.domain.times import iso
from veille.service.errors import Invalid, Problem
from veille.service.ports import UnitOfWork
from veille.service.queries import SEARCH_LIMIT, ReadAccess, camera_history, passage_json

Result = dict[str, Any]
KINDS = ("plate", "area", "journey", "convoy", "scenes", "rare-visitors", "clones")
MODES = ("exact", "wildcard", "lookalike", "edit")
MIN_WILDCARD_LITERALS = 2  # "*" alone would be a blanket search of every plate
MAX_EDITS = 2
MAX_SCENES = 20
MAX_PLATE_LIMIT = 10_000  # passages a plate analysis lists at most
MAX_RADIUS_M = 50_000  # a circle's radius at most
MAX_GAP_MINUTES = 7 * 24 * 60
MAX_WINDOW_S = 3600  # convoy: seconds either side of a passage
MAX_MIN_CAMERAS = 100
MAX_COMPANIONS = 1000  # convoy: companions listed at most
MAX_SPEED_KMH = 2000.0
MAX_MIN_DISTANCE_M = 1_000_000.0
PLATE_CHUNK = 400  # plates per "IN (...)" query
MAX_ROWS = 100_000  # reads one step of an analysis may load


class AnalysisError(Invalid, ValueError):
    """Parameters an analysis cannot run with; raised before any read is touched.

    The one place these parameters are checked: the API and the CLI only pass them on.
    `code` names the kind of mistake, `problems` each field at fault when known."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "bad_parameters",
        problems: Sequence[dict[str, str]] = (),
    ) -> None:
        super().__init__(
            message,
            problems=[Problem(p["field"], p["reason"]) for p in problems],
            code=code,
        )


# --- the rules of the parameters: checked here, once, for every entrypoint ----------


def _refuse(field: str, reason: str, *, code: str = "bad_parameters") -> NoReturn:
    raise AnalysisError(
        f"{field} {reason}", code=code, problems=[{"field": field, "reason": reason}]
    )


def _within(field: str, value: float, low: float, high: float, *, above: bool = False) -> None:
    """`value` in [low, high], or in (low, high] when it must be `above` low (NaN is in
    no range: JSON bodies may carry it)."""
    if not low <= value <= high or (above and value == low):
        _refuse(field, f"must be {'above' if above else 'at least'} {low:g} and at most {high:g}")


def check_period(start: datetime, end: datetime) -> None:
    """An analysis's period ends after it starts: a backwards one would match nothing."""
    if end <= start:
        raise AnalysisError(
            "end must be after start",
            code="bad_period",
            problems=[{"field": "end", "reason": "must be after start"}],
        )


def check_limit(limit: int, maximum: int, *, field: str = "limit") -> None:
    _within(field, limit, 1, maximum)


def _plate(text: str) -> str:
    try:
        plate = normalise(text)
    except PlateRejected as refused:
        raise AnalysisError(refused.reason, code="bad_plate") from None
    if not plate:
        raise AnalysisError("the plate has no letters or digits", code="bad_plate")
    return plate


def _passage(read: Read, cameras: dict[str, Camera]) -> maths.Passage | None:
    cam = cameras.get(read.camera_id)
    if cam is None:
        return None
    return maths.Passage(
        str(read.read_id), read.plate, read.camera_id, cam.lat, cam.lon, read.captured_at
    )


def _chunks(items: Sequence[str], size: int = PLATE_CHUNK) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _find_plates(
    access: ReadAccess, plates: Sequence[str], *, start: datetime, end: datetime, limit: int
) -> list[Read]:
    reads: list[Read] = []
    for chunk in _chunks(sorted(set(plates))):
        reads.extend(access.find(start=start, end=end, plates=chunk, limit=limit))
    reads.sort(key=lambda r: (r.captured_at, str(r.read_id)))
    return reads


def _visible_cameras(access: ReadAccess) -> dict[str, Camera]:
    """Cameras some visible slice may return reads of (no use querying the others)."""
    if any(s.camera_ids is None for s in access.slices):
        return dict(access.cameras)
    ids = set().union(*(s.camera_ids or () for s in access.slices))
    return {cid: cam for cid, cam in access.cameras.items() if cid in ids}


def _place_selector(
    *,
    lat: float | None,
    lon: float | None,
    radius_m: float | None,
    polygon: list[Any] | None = None,
    camera_ids: Sequence[str] | None = None,
    where: str = "",
) -> Callable[[Camera], bool]:
    """One of point + radius, a GeoJSON polygon, or a camera list, as a camera test.

    `where` prefixes the fields a refusal names (`scenes.1.` for a scene)."""
    circle = lat is not None or lon is not None or radius_m is not None
    given = sum([circle, polygon is not None, camera_ids is not None])
    if given != 1:
        raise AnalysisError("give exactly one of lat/lon/radius_m, polygon or camera_ids")
    if circle:
        if lat is None or lon is None or radius_m is None:
            raise AnalysisError("a circle needs lat, lon and radius_m")
        _within(where + "lat", lat, -90, 90)
        _within(where + "lon", lon, -180, 180)
        _within(where + "radius_m", radius_m, 0, MAX_RADIUS_M, above=True)
        return lambda c: haversine_m(lat, lon, c.lat, c.lon) <= radius_m
    if polygon is not None:
        problem = maths.validate_polygon(polygon)
        if problem:
            _refuse(where + "polygon", problem)
        return lambda c: maths.in_polygon(c.lon, c.lat, polygon)
    wanted = set(camera_ids or ())
    if not wanted:
        _refuse(where + "camera_ids", "must name at least one camera")
    return lambda c: c.camera_id in wanted


def _honesty(
    access: ReadAccess, *, start: datetime, end: datetime, **limits: bool
) -> dict[str, Any]:
    """What every result says about itself: whether a cap left reads out (`truncated`,
    and which caps: `limits_reached`, named as the analysis's parameters), and whether
    its period was cut to what the caller may see (`period_clipped`, None when not)."""
    reached = sorted(name for name, hit in limits.items() if hit)
    return {
        "truncated": bool(reached),
        "limits_reached": reached,
        "period_clipped": access.period_clipped(start, end),
    }


def _vehicles(reads: Iterable[Read], cameras: dict[str, Camera]) -> list[dict[str, Any]]:
    """Reads grouped by plate: count, cameras, first and last passage; by first passage."""
    grouped: dict[str, list[Read]] = defaultdict(list)
    for read in reads:
        grouped[read.plate].append(read)
    rows: list[dict[str, Any]] = []
    for plate, seen in grouped.items():
        seen.sort(key=lambda r: (r.captured_at, str(r.read_id)))
        rows.append(
            {
                "plate": plate,
                "count": len(seen),
                "cameras": sorted({r.camera_id for r in seen}),
                "first": passage_json(seen[0], cameras),
                "last": passage_json(seen[-1], cameras),
            }
        )
    rows.sort(key=lambda v: (v["first"]["captured_at"], v["plate"]))
    return rows


# --- plate search ------------------------------------------------------------------


def plate_search(
    access: ReadAccess,
    *,
    plate: str,
    start: datetime,
    end: datetime,
    mode: str = "exact",
    max_edits: int = 1,
    country: str | None = None,
    limit: int = 1000,
    lookalikes: LookalikeTable = DEFAULT_LOOKALIKES,
) -> tuple[Result, int]:
    """Passages of a plate: exact, wildcard (`?` one character, `*` any run), look-alike
    (same canonical form) or within `max_edits` edits (a dropped or extra character)."""
    if mode not in MODES:
        _refuse("mode", f"must be one of {', '.join(MODES)}")
    check_limit(limit, MAX_PLATE_LIMIT)
    if mode == "wildcard":
        try:
            regex = wildcard_regex(plate)
        except ValueError as exc:
            _refuse("plate", str(exc))
        query = fold(plate, keep="?*")  # wildcard_regex has refused what cannot fold
        if len(re.sub(r"[?*]", "", query)) < MIN_WILDCARD_LITERALS:
            _refuse("plate", f"a pattern needs at least {MIN_WILDCARD_LITERALS} letters or digits")
    else:
        query = _plate(plate)
    if mode == "edit":
        _within("max_edits", max_edits, 0, MAX_EDITS)
    wanted_country = country.upper() if country else None
    load: Callable[[int], list[Read]]
    if mode == "exact":
        load = partial(access.find, start=start, end=end, plates=[query])
    elif mode == "lookalike":
        load = partial(access.find, start=start, end=end, canonical=lookalikes.canonical(query))
    elif mode == "wildcard":
        prefix = re.split(r"[?*]", query, maxsplit=1)[0]
        if prefix and query == prefix + "*":  # a plain prefix: one range scan of the plate index
            load = partial(access.find_prefix, start=start, end=end, prefix=prefix)
        else:
            plates = access.distinct_plates(start=start, end=end, prefix=prefix or None)
            matching = [p for p in plates if regex.fullmatch(p)]
            load = partial(_find_plates, access, matching, start=start, end=end)
    else:
        canon = lookalikes.canonical(query)
        matching = [
            p
            for p in access.distinct_plates(start=start, end=end)
            if abs(len(p) - len(query)) <= max_edits
            and (
                within_distance(p, query, max_edits)
                or within_distance(lookalikes.canonical(p), canon, max_edits)
            )
        ]
        load = partial(_find_plates, access, matching, start=start, end=end)
    # one row more than the limit says honestly whether the result was capped; when the
    # country filter drops rows, load more until it is settled (up to MAX_ROWS)
    fetch = limit + 1
    while True:
        loaded = load(limit=fetch)
        reads = [r for r in loaded if not wanted_country or r.country in (None, wanted_country)]
        settled = len(reads) > limit or len(loaded) < fetch
        if settled or fetch >= MAX_ROWS:
            break
        fetch = min(fetch * 4, MAX_ROWS)
    truncated = len(reads) > limit
    reads = reads[:limit]
    passages = [passage_json(r, access.cameras) for r in reads]
    result = {
        "analysis": "plate",
        "mode": mode,
        "query": query,
        "max_edits": max_edits if mode == "edit" else None,
        "country": wanted_country,
        "count": len(passages),
        **_honesty(
            access, start=start, end=end, limit=truncated, max_rows=not truncated and not settled
        ),
        "plates": sorted({r.plate for r in reads}),
        "passages": passages,
    }
    return result, len(passages)


def camera_passages(
    access: ReadAccess,
    *,
    camera_id: str,
    start: datetime,
    end: datetime,
    limit: int = SEARCH_LIMIT,
) -> tuple[Result, int]:
    """Passages at one camera in a period (`queries.camera_history`), its limit checked."""
    check_limit(limit, SEARCH_LIMIT)
    return camera_history(access=access, camera_id=camera_id, start=start, end=end, limit=limit)


# --- area and time -----------------------------------------------------------------


def area_time(
    access: ReadAccess,
    *,
    start: datetime,
    end: datetime,
    lat: float | None = None,
    lon: float | None = None,
    radius_m: float | None = None,
    polygon: list[Any] | None = None,
    camera_ids: Sequence[str] | None = None,
    limit_per_camera: int = 20_000,
) -> tuple[Result, int]:
    """Vehicles seen at the cameras of a place (circle, polygon or list) in a period."""
    inside = _place_selector(
        lat=lat, lon=lon, radius_m=radius_m, polygon=polygon, camera_ids=camera_ids
    )
    cams = sorted(cid for cid, cam in _visible_cameras(access).items() if inside(cam))
    reads: list[Read] = []
    truncated = False
    for cid in cams:  # one query per camera on its (camera_id, captured_at) index
        found = access.find(start=start, end=end, camera_ids=[cid], limit=limit_per_camera + 1)
        truncated |= len(found) > limit_per_camera
        reads.extend(found[:limit_per_camera])
    vehicles = _vehicles(reads, access.cameras)
    result = {
        "analysis": "area",
        "place": {
            "lat": lat,
            "lon": lon,
            "radius_m": radius_m,
            "polygon": polygon,
            "camera_ids": sorted(camera_ids) if camera_ids is not None else None,
        },
        "cameras": cams,
        "reads": len(reads),
        "count": len(vehicles),
        **_honesty(access, start=start, end=end, limit_per_camera=truncated),
        "vehicles": vehicles,
    }
    return result, len(vehicles)


# --- journey -----------------------------------------------------------------------


def journey(
    access: ReadAccess,
    *,
    plate: str,
    start: datetime,
    end: datetime,
    gap_minutes: float = 30.0,
    limit: int = 5000,
) -> tuple[Result, int]:
    """A plate's passages in time order, the legs between them (distance, speed,
    direction), the gaps longer than `gap_minutes`, and a GeoJSON map of it."""
    _within("gap_minutes", gap_minutes, 0, MAX_GAP_MINUTES, above=True)
    target = _plate(plate)
    reads = access.find(start=start, end=end, plates=[target], limit=limit + 1)
    truncated = len(reads) > limit
    reads = reads[:limit]
    passages = [passage_json(r, access.cameras) for r in reads]
    for seq, item in enumerate(passages, start=1):
        item["seq"] = seq
    points = [p for p in (_passage(r, access.cameras) for r in reads) if p is not None]
    legs = maths.journey_legs(points, gap_s=gap_minutes * 60)
    leg_rows = [
        {
            "from_read_id": leg.start.read_id,
            "to_read_id": leg.end.read_id,
            "from_camera_id": leg.start.camera_id,
            "to_camera_id": leg.end.camera_id,
            "from_at": iso(leg.start.at),
            "to_at": iso(leg.end.at),
            "distance_m": round(leg.distance_m, 1),
            "seconds": leg.seconds,
            "speed_kmh": None if leg.speed_kmh == float("inf") else round(leg.speed_kmh, 1),
            "bearing_deg": round(leg.bearing_deg, 1),
            "direction": leg.direction,
            "gap": leg.gap,
        }
        for leg in legs
    ]
    overall = None
    if len(points) > 1 and (points[0].lat, points[0].lon) != (points[-1].lat, points[-1].lon):
        a, b = points[0], points[-1]
        overall = maths.compass(maths.bearing_deg(a.lat, a.lon, b.lat, b.lon))
    result = {
        "analysis": "journey",
        "plate": target,
        "gap_minutes": gap_minutes,
        "count": len(passages),
        **_honesty(access, start=start, end=end, limit=truncated),
        "cameras": [p.camera_id for p in points],
        "direction": overall,
        "trips": len(maths.split_trips(points, gap_s=gap_minutes * 60)),
        "distance_m": round(sum(leg.distance_m for leg in legs if not leg.gap), 1),
        "passages": passages,
        "legs": leg_rows,
        "gaps": [row for row in leg_rows if row["gap"]],
        "geojson": journey_geojson(target, passages),
    }
    return result, len(passages)


def point_feature(passage: dict[str, Any], **extra: Any) -> dict[str, Any]:
    props = {k: v for k, v in passage.items() if k not in ("lat", "lon", "images")}
    props["images"] = [i.get("sha256") or i.get("uri") for i in passage.get("images", [])]
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [passage["lon"], passage["lat"]]},
        "properties": {**props, **{k: v for k, v in extra.items() if v is not None}},
    }


def journey_geojson(plate: str, passages: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Points for the passages (in order) and one LineString through them."""
    placed = [p for p in passages if p.get("lat") is not None]
    features: list[dict[str, Any]] = [point_feature(p, seq=p.get("seq")) for p in placed]
    if len(placed) > 1:
        features.append(
            {
                "type": "Feature",
                "geometry": {
                    "type": "LineString",
                    "coordinates": [[p["lon"], p["lat"]] for p in placed],
                },
                "properties": {"plate": plate, "kind": "route", "passages": len(placed)},
            }
        )
    return {"type": "FeatureCollection", "features": features}


# --- convoy ------------------------------------------------------------------------


def convoy(
    access: ReadAccess,
    *,
    plate: str,
    start: datetime,
    end: datetime,
    window_s: float = 60.0,
    min_cameras: int = 3,
    limit: int = 50,
    max_target_passages: int = 1000,
    max_window_reads: int = 10_000,
    lookalikes: LookalikeTable = DEFAULT_LOOKALIKES,
) -> tuple[Result, int]:
    """Vehicles that passed the target's cameras within ±`window_s` of it, at `min_cameras`
    distinct cameras or more, ranked by co-occurrences discounted by how busy each was."""
    _within("window_s", window_s, 0, MAX_WINDOW_S, above=True)
    _within("min_cameras", min_cameras, 1, MAX_MIN_CAMERAS)
    check_limit(limit, MAX_COMPANIONS)
    target = _plate(plate)
    canon = lookalikes.canonical(target)
    delta = timedelta(seconds=window_s)
    own = access.find(start=start, end=end, plates=[target], limit=max_target_passages + 1)
    target_capped = len(own) > max_target_passages
    own = own[:max_target_passages]
    window_capped = False
    windows: list[maths.CoWindow] = []
    seen_with: dict[str, list[dict[str, Any]]] = defaultdict(list)
    last_at: dict[str, datetime] = {}
    for read in own:
        previous = last_at.get(read.camera_id)
        if previous is not None and read.captured_at - previous <= delta:
            continue  # the same passage read twice (two lanes, a retry): one co-occurrence
        last_at[read.camera_id] = read.captured_at
        around = access.find(
            start=read.captured_at - delta,
            end=read.captured_at + delta + timedelta(microseconds=1),
            camera_ids=[read.camera_id],
            limit=max_window_reads + 1,
        )
        window_capped |= len(around) > max_window_reads
        nearest: dict[str, Read] = {}
        for other in around:
            if other.plate_canonical == canon:  # the target itself, or a misread of it
                continue
            best = nearest.get(other.plate)
            gap = abs((other.captured_at - read.captured_at).total_seconds())
            if best is None or gap < abs((best.captured_at - read.captured_at).total_seconds()):
                nearest[other.plate] = other
        window = maths.CoWindow(read.camera_id, read.captured_at, frozenset(nearest))
        windows.append(window)
        weight = maths.cooccurrence_weight(len(window.plates))
        for other_plate, other in nearest.items():
            seen_with[other_plate].append(
                {
                    "camera_id": read.camera_id,
                    "target_at": iso(read.captured_at),
                    "at": iso(other.captured_at),
                    "seconds_apart": round(
                        (other.captured_at - read.captured_at).total_seconds(), 3
                    ),
                    "busy": len(window.plates),
                    "weight": round(weight, 4),
                    "read_id": str(other.read_id),
                }
            )
    ranked = maths.score_companions(windows, min_cameras=min_cameras)
    companions = [
        {
            "rank": rank,
            "plate": c.plate,
            "score": round(c.score, 4),
            "cameras": len(c.cameras),
            "camera_ids": list(c.cameras),
            "co_occurrences": c.co_occurrences,
            "passages": seen_with[c.plate],
        }
        for rank, c in enumerate(ranked[:limit], start=1)
    ]
    result = {
        "analysis": "convoy",
        "plate": target,
        "window_s": window_s,
        "min_cameras": min_cameras,
        "target_passages": len(windows),
        "target_cameras": sorted({w.camera_id for w in windows}),
        "target": [
            {"seq": n, **passage_json(r, access.cameras)} for n, r in enumerate(own, start=1)
        ],
        "count": len(companions),
        **_honesty(
            access,
            start=start,
            end=end,
            max_target_passages=target_capped,
            max_window_reads=window_capped,
            limit=len(ranked) > limit,
        ),
        "candidates": len(ranked),
        "companions": companions,
    }
    return result, len(companions)


# --- several scenes ----------------------------------------------------------------


def several_scenes(
    access: ReadAccess,
    *,
    scenes: Sequence[dict[str, Any]],
    start: datetime,
    end: datetime,
    min_scenes: int = 2,
    max_rows: int = MAX_ROWS,
) -> tuple[Result, int]:
    """Plates seen at `min_scenes` or more of the scenes (each a circle and a period,
    cut to [start, end)), with the passages at each scene."""
    if not 2 <= len(scenes) <= MAX_SCENES:
        _refuse("scenes", f"give between 2 and {MAX_SCENES} scenes")
    if not 1 <= min_scenes <= len(scenes):
        _refuse("min_scenes", "must be between 1 and the number of scenes")
    backwards = [n for n, scene in enumerate(scenes) if scene["end"] <= scene["start"]]
    if backwards:  # such a scene matches nothing: say so instead of answering empty
        raise AnalysisError(
            "a scene's end must be after its start",
            code="bad_period",
            problems=[
                {"field": f"scenes.{n}.end", "reason": "must be after the scene's start"}
                for n in backwards
            ],
        )
    selectors = [
        _place_selector(
            lat=scene["lat"], lon=scene["lon"], radius_m=scene["radius_m"], where=f"scenes.{n}."
        )
        for n, scene in enumerate(scenes)
    ]
    visible = _visible_cameras(access)
    described, plates_per_scene, periods = [], [], []
    for n, (scene, inside) in enumerate(zip(scenes, selectors, strict=True)):
        cams = sorted(cid for cid, cam in visible.items() if inside(cam))
        lo, hi = max(scene["start"], start), min(scene["end"], end)
        periods.append((lo, hi, cams))
        plates = (
            access.distinct_plates(start=lo, end=hi, camera_ids=cams) if cams and lo < hi else []
        )
        plates_per_scene.append(plates)
        described.append(
            {
                "index": n,
                "lat": scene["lat"],
                "lon": scene["lon"],
                "radius_m": scene["radius_m"],
                "start": iso(lo),
                "end": iso(hi),
                "cameras": cams,
                "plates": len(plates),
                "period_clipped": access.period_clipped(lo, hi) if lo < hi else None,
            }
        )
    matches = maths.plates_at_scenes(plates_per_scene, min_scenes=min_scenes)
    passages: dict[str, list[dict[str, Any]]] = defaultdict(list)
    rows_capped = False
    for n, (lo, hi, cams) in enumerate(periods):
        wanted = [p for p, at in matches.items() if n in at]
        for chunk in _chunks(sorted(wanted)):
            found = access.find(start=lo, end=hi, plates=chunk, camera_ids=cams, limit=max_rows + 1)
            rows_capped |= len(found) > max_rows
            for read in found[:max_rows]:
                passages[read.plate].append({"scene": n, **passage_json(read, access.cameras)})
    rows = [
        {"plate": p, "scenes": at, "count": len(at), "passages": passages[p]}
        for p, at in sorted(matches.items(), key=lambda item: (-len(item[1]), item[0]))
    ]
    result = {
        "analysis": "scenes",
        "min_scenes": min_scenes,
        "scenes": described,
        "count": len(rows),
        **_honesty(access, start=start, end=end, max_rows=rows_capped),
        "plates": rows,
    }
    return result, len(rows)


# --- rare visitors -----------------------------------------------------------------


def rare_visitors(
    access: ReadAccess,
    *,
    start: datetime,
    end: datetime,
    baseline_start: datetime,
    baseline_end: datetime,
    lat: float | None = None,
    lon: float | None = None,
    radius_m: float | None = None,
    camera_ids: Sequence[str] | None = None,
    limit_per_camera: int = 20_000,
) -> tuple[Result, int]:
    """Plates seen at the place in [start, end) that were never seen there in the baseline.

    The baseline covers only what the caller may see: reads older than the open window
    count only where an authorization opens them (`baseline.visible_from` says so).
    """
    if baseline_end <= baseline_start:
        _refuse("baseline_end", "must be after baseline_start", code="bad_period")
    inside = _place_selector(lat=lat, lon=lon, radius_m=radius_m, camera_ids=camera_ids)
    cams = sorted(cid for cid, cam in _visible_cameras(access).items() if inside(cam))
    reads: list[Read] = []
    truncated = False
    for cid in cams:
        found = access.find(start=start, end=end, camera_ids=[cid], limit=limit_per_camera + 1)
        truncated |= len(found) > limit_per_camera
        reads.extend(found[:limit_per_camera])
    counts: dict[str, int] = defaultdict(int)
    for read in reads:
        counts[read.plate] += 1
    known: list[str] = []
    if cams:
        for chunk in _chunks(sorted(counts)):
            known.extend(
                access.distinct_plates(
                    start=baseline_start, end=baseline_end, plates=chunk, camera_ids=cams
                )
            )
    rare = maths.rare_visitors(counts, known)
    visitors = _vehicles((r for r in reads if r.plate in rare), access.cameras)
    visible_from = min((s.start for s in access.slices), default=baseline_start)
    result = {
        "analysis": "rare-visitors",
        "place": {
            "lat": lat,
            "lon": lon,
            "radius_m": radius_m,
            "camera_ids": sorted(camera_ids) if camera_ids is not None else None,
        },
        "cameras": cams,
        "baseline": {
            "start": iso(baseline_start),
            "end": iso(baseline_end),
            "visible_from": iso(max(visible_from, baseline_start)),
            "clipped": visible_from > baseline_start,
        },
        "window_plates": len(counts),
        "count": len(visitors),
        **_honesty(access, start=start, end=end, limit_per_camera=truncated),
        "visitors": visitors,
    }
    return result, len(visitors)


# --- cloned plates -----------------------------------------------------------------


def _clone_pairs(
    reads: Iterable[Read],
    cameras: dict[str, Camera],
    *,
    max_speed_kmh: float,
    min_distance_m: float,
) -> list[maths.ClonePair]:
    by_plate: dict[str, list[maths.Passage]] = defaultdict(list)
    for read in reads:
        passage = _passage(read, cameras)
        if passage is not None:
            by_plate[read.plate].append(passage)
    pairs: list[maths.ClonePair] = []
    for passages in by_plate.values():
        pairs.extend(
            maths.clone_pairs(passages, max_speed_kmh=max_speed_kmh, min_distance_m=min_distance_m)
        )
    return pairs


def cloned_plates(
    access: ReadAccess,
    *,
    start: datetime,
    end: datetime,
    plate: str | None = None,
    max_speed_kmh: float = 180.0,
    min_distance_m: float = 2000.0,
    max_plates: int = 50_000,
    max_rows: int = MAX_ROWS,
) -> tuple[Result, int]:
    """Plates read at two places too far apart for the time between: one plate, or a sweep
    over every plate seen at two cameras or more in the period."""
    _within("max_speed_kmh", max_speed_kmh, 0, MAX_SPEED_KMH, above=True)
    _within("min_distance_m", min_distance_m, 0, MAX_MIN_DISTANCE_M)
    if plate is not None:
        plates = [_plate(plate)]
    else:
        plates = access.distinct_plates(start=start, end=end, min_cameras=2)
    truncated = len(plates) > max_plates
    plates = plates[:max_plates]
    by_id: dict[str, Read] = {}
    pairs: list[maths.ClonePair] = []
    rows_capped = False
    for chunk in _chunks(plates):
        reads = access.find(start=start, end=end, plates=chunk, limit=max_rows + 1)
        rows_capped |= len(reads) > max_rows
        reads = reads[:max_rows]
        by_id.update((str(r.read_id), r) for r in reads)
        pairs.extend(
            _clone_pairs(
                reads, access.cameras, max_speed_kmh=max_speed_kmh, min_distance_m=min_distance_m
            )
        )
    pairs.sort(key=lambda p: (p.first.at, p.first.plate))
    findings = [
        {
            "plate": p.first.plate,
            "first": passage_json(by_id[p.first.read_id], access.cameras),
            "second": passage_json(by_id[p.second.read_id], access.cameras),
            "distance_m": round(p.distance_m, 1),
            "seconds": p.seconds,
            "implied_kmh": None if p.implied_kmh == float("inf") else round(p.implied_kmh, 1),
        }
        for p in pairs
    ]
    result = {
        "analysis": "clones",
        "plate": plates[0] if plate is not None else None,
        "max_speed_kmh": max_speed_kmh,
        "min_distance_m": min_distance_m,
        "plates_checked": len(plates),
        **_honesty(access, start=start, end=end, max_plates=truncated, max_rows=rows_capped),
        "count": len(findings),
        "findings": findings,
    }
    return result, len(findings)


@dataclass(frozen=True)
class CloneSweepReport:
    period_start: datetime
    period_end: datetime
    plates: int
    findings: int
    recorded: int
    purged: int
    dry_run: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "period_start": iso(self.period_start),
            "period_end": iso(self.period_end),
            "plates": self.plates,
            "findings": self.findings,
            "recorded": self.recorded,
            "purged": self.purged,
            "dry_run": self.dry_run,
        }


def run_clone_sweep(
    *,
    uow_factory: Callable[[], UnitOfWork],
    read_uow_factory: Callable[[], UnitOfWork],
    now: datetime,
    lookback: timedelta,
    open_window: timedelta,
    keep_findings: timedelta,
    max_speed_kmh: float = 180.0,
    min_distance_m: float = 2000.0,
    dry_run: bool = False,
) -> CloneSweepReport:
    """The standing clone analysis: recent reads (never older than the open window),
    findings recorded once per pair of reads, findings past `keep_findings` purged,
    and one audit record. Reading happens in a snapshot that never blocks ingest."""
    start = now - min(lookback, open_window)
    with read_uow_factory() as uow:
        cameras = {c.camera_id: c for c in uow.cameras.find()}
        plates = uow.reads.distinct_plates(start=start, end=now, min_cameras=2)
        pairs: list[maths.ClonePair] = []
        for chunk in _chunks(plates):
            reads = uow.reads.find(start=start, end=now, plates=chunk, limit=MAX_ROWS)
            pairs.extend(
                _clone_pairs(
                    reads, cameras, max_speed_kmh=max_speed_kmh, min_distance_m=min_distance_m
                )
            )
    findings = [maths.CloneFinding.of(p, found_at=now) for p in pairs]
    recorded = purged = 0
    with uow_factory() as uow:
        if not dry_run:
            recorded = uow.clone_findings.add_many(findings)
            purged = uow.clone_findings.purge(before=now - keep_findings)
        report = CloneSweepReport(start, now, len(plates), len(findings), recorded, purged, dry_run)
        uow.audit.append(
            AuditEntry(
                at=now,
                actor=system_actor("job:clone-sweep"),
                action="analysis.clone_sweep",
                params={
                    **report.as_dict(),
                    "max_speed_kmh": max_speed_kmh,
                    "min_distance_m": min_distance_m,
                },
                result_count=recorded,
            )
        )
        uow.commit()
    return report
