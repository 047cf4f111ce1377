"""Handlers of investigation's queries (`service/commands/investigation.py`): every search,
analysis and export runs through the query service.

`analyse` checks the period (the one rule every analysis shares), then hands the query to
`queries.run_query`: the caller's access, purpose and case are checked (a refusal is
audited, then raised), the analysis reads from a snapshot, one short write transaction
appends its audit record, and only then is the result answered. Each analysis's own
parameters are checked by its service function (`service/analyses.py`) before it reads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from functools import partial
from typing import Any

from veille.domain.plates import LookalikeTable
from veille.service import analyses
from veille.service import analysis_exports as exports
from veille.service.commands.investigation import (
    Analysis,
    AnalysisExport,
    CameraPassages,
    ClonedPlates,
    Convoy,
    Journey,
    PlatePassages,
    PlatesAtScenes,
    PlateSearch,
    RareVisitors,
    VehiclesInArea,
)
from veille.service.handlers.deps import Dependencies
from veille.service.messagebus import MessageBus, Raised
from veille.service.queries import ReadAccess, run_query

Run = Callable[[Any, ReadAccess, LookalikeTable], tuple[analyses.Result, int]]


def _plate(q: PlatePassages, access: ReadAccess, lookalikes: LookalikeTable) -> Any:
    return analyses.plate_search(
        access,
        plate=q.plate,
        mode=q.mode,
        max_edits=q.max_edits,
        country=q.country,
        start=q.start,
        end=q.end,
        limit=q.limit,
        lookalikes=lookalikes,
    )


def _camera(q: CameraPassages, access: ReadAccess, _: LookalikeTable) -> Any:
    return analyses.camera_passages(
        access, camera_id=q.camera_id, start=q.start, end=q.end, limit=q.limit
    )


def _area(q: VehiclesInArea, access: ReadAccess, _: LookalikeTable) -> Any:
    return analyses.area_time(
        access,
        start=q.start,
        end=q.end,
        lat=q.lat,
        lon=q.lon,
        radius_m=q.radius_m,
        polygon=q.polygon,
        camera_ids=q.camera_ids,
    )


def _journey(q: Journey, access: ReadAccess, _: LookalikeTable) -> Any:
    return analyses.journey(
        access, plate=q.plate, start=q.start, end=q.end, gap_minutes=q.gap_minutes
    )


def _convoy(q: Convoy, access: ReadAccess, lookalikes: LookalikeTable) -> Any:
    return analyses.convoy(
        access,
        plate=q.plate,
        start=q.start,
        end=q.end,
        window_s=q.window_s,
        min_cameras=q.min_cameras,
        limit=q.limit,
        lookalikes=lookalikes,
    )


def _scenes(q: PlatesAtScenes, access: ReadAccess, _: LookalikeTable) -> Any:
    return analyses.several_scenes(
        access,
        scenes=[asdict(s) for s in q.scenes],
        start=q.start,
        end=q.end,
        min_scenes=q.min_scenes,
    )


def _rare_visitors(q: RareVisitors, access: ReadAccess, _: LookalikeTable) -> Any:
    return analyses.rare_visitors(
        access,
        start=q.start,
        end=q.end,
        baseline_start=q.baseline_start,
        baseline_end=q.baseline_end,
        lat=q.lat,
        lon=q.lon,
        radius_m=q.radius_m,
        camera_ids=q.camera_ids,
    )


def _clones(q: ClonedPlates, access: ReadAccess, _: LookalikeTable) -> Any:
    return analyses.cloned_plates(
        access,
        start=q.start,
        end=q.end,
        plate=q.plate,
        max_speed_kmh=q.max_speed_kmh,
        min_distance_m=q.min_distance_m,
    )


# each query and the analysis that answers it
ANALYSES: dict[type[Analysis], Run] = {
    PlatePassages: _plate,
    PlateSearch: _plate,
    CameraPassages: _camera,
    VehiclesInArea: _area,
    Journey: _journey,
    Convoy: _convoy,
    PlatesAtScenes: _scenes,
    RareVisitors: _rare_visitors,
    ClonedPlates: _clones,
}


def asked(query: Analysis) -> dict[str, Any]:
    """What the caller asked: the audited parameters and the period."""
    return {
        **query.audit_params(),
        "start": query.start.isoformat(),
        "end": query.end.isoformat(),
    }


def analyse(query: Analysis, raised: Raised, *, deps: Dependencies) -> exports.AnalysisResult:
    """Run one analysis lawfully; the result is answered once its audit record is
    committed. A refusal (no purpose or case, no permission) is audited, then raised as
    `QueryRefused`; parameters it cannot run with are an `AnalysisError`, before any read."""
    analyses.check_period(query.start, query.end)
    run = ANALYSES[type(query)]
    lookalikes = deps.read_rules().lookalikes
    result: analyses.Result = run_query(
        uow_factory=deps.uow,
        read_uow_factory=deps.read_uow,
        ctx=query.ctx,
        now=deps.clock(),
        policy=deps.policy(),
        action=query.action,
        params=asked(query),
        execute=lambda access: run(query, access, lookalikes),
        cameras=deps.cameras(),
    )
    return exports.AnalysisResult(query.kind, result)


def export(query: AnalysisExport, raised: Raised, *, deps: Dependencies) -> exports.ExportDocument:
    """The analysis, run and audited as on its own, rendered and audited as an export."""
    analysis = query.analysis
    exports.check_format(query.format)
    return exports.export_result(
        uow_factory=deps.uow,
        ctx=analysis.ctx,
        now=deps.clock(),
        analysed=analyse(analysis, raised, deps=deps),
        fmt=query.format,
        query=asked(analysis),
    )


def register(bus: MessageBus, deps: Dependencies) -> None:
    """Register every handler of this area on `bus`, with `deps` bound."""
    for query in ANALYSES:
        bus.register(query, partial(analyse, deps=deps))
    bus.register(AnalysisExport, partial(export, deps=deps))
