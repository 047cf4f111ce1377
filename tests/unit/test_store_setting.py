"""`VEILLE_STORE` chooses the store: empty for the embedded SQLite file, a PostgreSQL URI
otherwise; anything else is refused naming the setting, and a password never reaches a log
line."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from veille.settings import Settings

pytestmark = pytest.mark.unit


def test_the_default_is_the_sqlite_file_in_the_data_dir(tmp_path: Path):
    settings = Settings(data_dir=tmp_path)
    assert not settings.uses_postgresql
    assert settings.store_label == str(tmp_path / "veille.db")


def test_a_postgresql_uri_from_the_environment_selects_postgresql(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setenv("VEILLE_STORE", "postgresql://veille@db.example:5432/veille")
    settings = Settings()
    assert settings.uses_postgresql
    assert settings.store == "postgresql://veille@db.example:5432/veille"


@pytest.mark.parametrize("uri", ["mysql://x@y/z", "sqlite:///var/veille.db", "db.example"])
def test_another_kind_of_store_is_refused_naming_the_setting(uri: str):
    with pytest.raises(ValidationError) as refused:
        Settings(store=uri)
    error = refused.value.errors()[0]
    assert error["loc"] == ("store",)
    assert "PostgreSQL URI" in error["msg"]


def test_the_label_of_a_postgresql_store_hides_its_password():
    settings = Settings(store="postgresql://veille:s3cret-pw@db.example:5432/veille")
    assert "s3cret-pw" not in settings.store_label
    assert settings.store_label == "postgresql://veille:***@db.example:5432/veille"
