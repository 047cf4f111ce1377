"""Hotlist refusals over HTTP and on the command line: their statuses, codes and bodies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.conftest import user_with_token
from veille.bootstrap import Platform
from veille.domain.access import Role
from veille.entrypoints.cli import app
from veille.entrypoints.cli_common import EXIT_REFUSED, EXIT_USAGE, exit_code_of
from veille.service.errors import VeilleError

pytestmark = pytest.mark.e2e

LIST = "/api/v1/hotlists/case"


@pytest.fixture
def manager(platform: Platform) -> dict[str, str]:
    _, headers = user_with_token(platform, "hana", Role.HOTLIST_MANAGER, designated=False)
    return headers


def make_list(client: TestClient, headers: dict[str, str], **fields: Any) -> int:
    body = {"name": "Case 4711", "category": "investigation", **fields}
    answer = client.put(LIST, json=body, headers=headers)
    assert answer.status_code in (200, 201), answer.text
    return answer.status_code


def error_of(answer: Any, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    error: dict[str, Any] = answer.json()["error"]
    assert error["code"] == code and error["message"], error
    return error


def test_saving_answers_201_then_200(client: TestClient, manager: dict[str, str]) -> None:
    assert make_list(client, manager) == 201
    assert make_list(client, manager, max_edits=1) == 200
    listed = client.get("/api/v1/hotlists", headers=manager).json()["hotlists"]
    assert [(h["list_id"], h["max_edits"], h["entries"]) for h in listed] == [("case", 1, 0)]


def test_a_refused_entry_names_its_field(client: TestClient, manager: dict[str, str]) -> None:
    make_list(client, manager)
    answer = client.post(
        f"{LIST}/entries", json={"plate": "1ABC123", "priority": 9}, headers=manager
    )
    error = error_of(answer, 422, "invalid_entry")
    assert error["field"] == "priority"
    assert [p["field"] for p in error["problems"]] == ["priority"]


def test_a_wildcard_too_many_is_an_invalid_change(
    client: TestClient, manager: dict[str, str]
) -> None:
    make_list(client, manager, max_wildcards=1)
    assert client.post(f"{LIST}/entries", json={"plate": "1AB?12*"}, headers=manager).is_success
    answer = client.post(f"{LIST}/entries", json={"plate": "2XY*"}, headers=manager)
    error_of(answer, 422, "invalid_change")


def test_missing_lists_and_entries_are_404s(client: TestClient, manager: dict[str, str]) -> None:
    answer = client.get("/api/v1/hotlists/nowhere/entries", headers=manager)
    error = error_of(answer, 404, "not_found")
    assert error["message"] == "no hotlist nowhere of your organisation"
    make_list(client, manager)
    answer = client.delete(f"{LIST}/entries/no-such-entry", headers=manager)
    assert error_of(answer, 404, "not_found")["message"] == "no entry no-such-entry in case"
    answer = client.post(f"{LIST}/entries/no-such-entry/expire", headers=manager)
    error_of(answer, 404, "not_found")


def test_an_unreadable_import_file_is_refused_before_anything_changes(
    client: TestClient, manager: dict[str, str]
) -> None:
    make_list(client, manager)
    csv = {**manager, "Content-Type": "text/csv"}
    answer = client.put(f"{LIST}/entries", content=b"country\nBE\n", headers=csv)
    assert "plate column" in str(error_of(answer, 422, "bad_import_file")["message"])
    answer = client.put(f"{LIST}/entries", content=b"plate\n\xff\n", headers=csv)
    error_of(answer, 400, "bad_encoding")
    answer = client.put(f"{LIST}/entries", content=b"plate\n1ABC123\n1-abc-123\n", headers=csv)
    error = error_of(answer, 422, "import_refused")
    assert answer.json()["applied"] is False and error["problems"]


def test_an_import_naming_one_plate_twice_under_two_entry_ids_is_refused_not_a_fault(
    client: TestClient, manager: dict[str, str]
) -> None:
    # found by the national bench: distinct entry ids with the same plate and country
    # passed the per-line checks and failed in the replacement's diff (500 internal_error)
    make_list(client, manager)
    csv = {**manager, "Content-Type": "text/csv"}
    body = b"plate,country,entry_id\n1ABC123,BE,E1\n2XYZ999,BE,E2\n1-abc-123,BE,E3\n"
    answer = client.put(f"{LIST}/entries", content=body, headers=csv)
    error = error_of(answer, 422, "import_refused")
    assert answer.json()["applied"] is False
    assert [(p["where"], p["field"]) for p in error["problems"]] == [("line 4", "plate")]
    assert "line 2" in error["problems"][0]["reason"]


def test_the_command_line_manages_every_list_through_the_same_use_cases(tmp_path: Path) -> None:
    runner = CliRunner()
    data = ["--data-dir", str(tmp_path / "var")]

    def veille(*args: str) -> Any:
        return runner.invoke(app, [*args, *data])

    made = veille(
        "hotlists", "create", "case", "--name", "Case 4711", "--category", "investigation"
    )
    assert made.exit_code == 0, made.output
    added = veille("hotlists", "add", "case", "--plate", "1-abc-123", "--priority", "1")
    assert added.exit_code == 0 and "saved" in added.output
    listing = tmp_path / "case.csv"
    listing.write_text("plate,priority\n1ABC123,2\n2XYZ999,\n")
    imported = veille("hotlists", "import", "case", str(listing))
    assert imported.exit_code == 0, imported.output
    report = json.loads(imported.output)
    assert (report["added"], report["changed"]) == (1, 1)
    shown = json.loads(veille("hotlists", "entries", "case").output)
    assert sorted(e["plate"] for e in shown) == ["1ABC123", "2XYZ999"]
    assert "entries=2" in veille("hotlists", "list").output

    # a refusal is the taxonomy error, which `run_refusing` turns into one line and its code
    missing = veille("hotlists", "entries", "nowhere")
    assert isinstance(missing.exception, VeilleError)
    assert exit_code_of(missing.exception) == EXIT_REFUSED
    bad = veille("hotlists", "add", "case", "--plate", "1ABC123", "--priority", "9")
    assert isinstance(bad.exception, VeilleError)
    assert bad.exception.code == "invalid_entry"
    assert exit_code_of(bad.exception) == EXIT_USAGE
    listing.write_bytes(b"plate\n\xff\n")
    unreadable = veille("hotlists", "import", "case", str(listing))
    assert unreadable.exception.code == "bad_encoding"
    refused = tmp_path / "refused.csv"
    refused.write_text("plate\n1ABC123\n1-abc-123\n")
    not_applied = veille("hotlists", "import", "case", str(refused))
    assert not_applied.exit_code == EXIT_REFUSED
    assert json.loads(not_applied.output)["applied"] is False
