"""The platform on PostgreSQL: `VEILLE_STORE` set, bootstrap builds the PostgreSQL store,
and the ingest writer's group commits land there."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.postgresql import fresh_database, uri_of
from veille.adapters.postgresql.store import PostgresStore
from veille.bootstrap import bootstrap
from veille.settings import Settings

pytestmark = pytest.mark.integration


def test_a_postgresql_uri_makes_the_platform_store_there(tmp_path: Path):
    with fresh_database() as dsn:
        settings = Settings(data_dir=tmp_path, store=uri_of(dsn), run_jobs=False, image_fsync=False)
        platform = bootstrap(settings)
        try:
            assert isinstance(platform.store, PostgresStore)
            assert platform.open_store() == []  # migrated already: nothing to apply
            assert platform.store.schema_version() >= 1
            with platform.uow() as uow:
                uow.dead_letters.add(
                    received_at=platform.clock(), camera_id=None, source="t", payload="{", errors=[]
                )
                uow.commit()
            with platform.read_uow() as uow:
                assert uow.dead_letters.count() == 1
        finally:
            platform.stop()
            platform.close_store()
