"""Pages of docs/ that are generated from the code must match it."""

from __future__ import annotations

from pathlib import Path

import pytest

from veille.settings import settings_markdown

pytestmark = pytest.mark.unit

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_configuration_page_matches_the_settings():
    assert (DOCS / "configuration.md").read_text(encoding="utf-8") == settings_markdown(), (
        "docs/configuration.md is stale: run `veille docs configuration > docs/configuration.md`"
    )
