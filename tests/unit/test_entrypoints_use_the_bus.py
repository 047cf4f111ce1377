"""Entrypoints reach the platform's data only through the message bus.

Issue 10: the API, the CLI, jobs and the web application build a command or a query and
call `bus.handle`; they never open a unit of work or touch a repository or the store.
This walks every entrypoint module's syntax tree, so a new route that opens a unit of
work fails here, whatever it is named.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import veille.entrypoints

pytestmark = pytest.mark.unit

ENTRYPOINTS = Path(veille.entrypoints.__file__).parent
# attributes whose use means the caller opens a transaction or reaches into the store
FORBIDDEN = {"uow", "read_uow", "store", "writer_uow"}


def _offences(path: Path, base: Path = ENTRYPOINTS) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in FORBIDDEN:
            found.append(f"{path.relative_to(base)}:{node.lineno} .{node.attr}")
        elif isinstance(node, ast.keyword) and node.arg in {"uow", "read_uow", "uow_factory"}:
            found.append(f"{path.relative_to(base)}:{node.value.lineno} {node.arg}=")
    return sorted(found, key=lambda o: int(o.split(":")[1].split()[0]))


def test_no_entrypoint_opens_a_unit_of_work_or_touches_the_store():
    offences = [o for path in sorted(ENTRYPOINTS.rglob("*.py")) for o in _offences(path)]
    assert offences == []


def test_the_check_sees_a_route_that_opens_a_unit_of_work(tmp_path: Path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "def route(platform):\n"
        "    with platform.read_uow() as uow:\n"
        "        return uow.cameras.find()\n"
        "def other(platform):\n"
        "    return service.find(uow=platform.x())\n"
    )
    assert _offences(sample, tmp_path) == ["sample.py:2 .read_uow", "sample.py:5 uow="]
