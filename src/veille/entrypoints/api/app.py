"""The HTTP API application, built around a platform from the composition root."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from veille import __version__
from veille.bootstrap import Platform
from veille.entrypoints.api import (
    alerts,
    analyses,
    audit,
    auth,
    authorizations,
    cameras,
    dead_letters,
    grants,
    hotlists,
    ingest,
    search,
    system,
    users,
)
from veille.entrypoints.api.admission import AnalysisGate
from veille.entrypoints.api.errors import install_error_handlers
from veille.entrypoints.api.ingest_lane import IngestLane
from veille.entrypoints.api.limits import BodyLimitMiddleware
from veille.entrypoints.api.openapi import install_openapi
from veille.entrypoints.api.security import assert_every_route_declared
from veille.entrypoints.audit_check import start_audit_check
from veille.service.jobs import JobScheduler


def create_app(platform: Platform) -> FastAPI:
    """Build the API. Every route must declare its access, or the app refuses to start."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        platform.start()
        scheduler = (
            JobScheduler(platform.bus, clock=platform.clock) if platform.settings.run_jobs else None
        )
        if scheduler is not None:
            platform.checkpoints.start()
            start_audit_check(platform)
            scheduler.start()
        try:
            yield
        finally:
            if scheduler is not None:
                scheduler.stop()  # first: a running job needs the store
                platform.checkpoints.stop()
            platform.stop()

    app = FastAPI(
        title="Veille API",
        version=__version__,
        description="ANPR back-office: camera ingest, registry, lawful investigation.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,  # served behind authentication at /api/v1/openapi.json
    )
    app.state.platform = platform
    app.state.analysis_gate = AnalysisGate(
        platform.settings.analysis_slots, platform.settings.analysis_wait_s
    )
    for module in (
        system,
        auth,
        users,
        grants,
        ingest,
        cameras,
        dead_letters,
        search,
        authorizations,
        audit,
        hotlists,
        alerts,
        analyses,
    ):
        app.include_router(module.router)

    install_error_handlers(app)
    install_openapi(app)
    app.add_middleware(BodyLimitMiddleware, settings=platform.settings)
    app.add_middleware(IngestLane, platform=platform)  # outermost: ingest skips the rest
    assert_every_route_declared(app)
    return app
