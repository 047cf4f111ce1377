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
from dataclasses import asdict, fields
from functools import partial
from typing import Any

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
from veille.service.queries import run_query

# Each query and the analysis that answers it. A query's fields (but `ctx`) are named as
# the analysis's keyword arguments, so the handler passes them on as they are.
ANALYSES: dict[type[Analysis], Callable[..., tuple[analyses.Result, int]]] = {
    PlatePassages: analyses.plate_search,
    PlateSearch: analyses.plate_search,
    CameraPassages: analyses.camera_passages,
    VehiclesInArea: analyses.area_time,
    Journey: analyses.journey,
    Convoy: analyses.convoy,
    PlatesAtScenes: analyses.several_scenes,
    RareVisitors: analyses.rare_visitors,
    ClonedPlates: analyses.cloned_plates,
}
# the analyses that compare plates by their look-alike form (the configured table)
WITH_LOOKALIKES = frozenset({analyses.plate_search, analyses.convoy})


def arguments(query: Analysis) -> dict[str, Any]:
    """The analysis's keyword arguments: the query's fields, scenes as mappings."""
    found: dict[str, Any] = {}
    for f in fields(query):
        if f.name != "ctx":
            value = getattr(query, f.name)
            found[f.name] = [asdict(s) for s in value] if f.name == "scenes" else value
    return found


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
    kwargs = arguments(query)
    if run in WITH_LOOKALIKES:
        kwargs["lookalikes"] = deps.read_rules().lookalikes
    result: analyses.Result = run_query(
        uow_factory=deps.uow,
        read_uow_factory=deps.read_uow,
        ctx=query.ctx,
        now=deps.clock(),
        policy=deps.policy(),
        action=query.action,
        params=asked(query),
        execute=lambda access: run(access, **kwargs),
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
