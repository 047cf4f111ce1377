"""The OpenAPI document is the API's contract: every answer typed, every route secured."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from veille.entrypoints.api.openapi import CAMERA_TOKEN, CSRF, SESSION, USER_TOKEN

pytestmark = pytest.mark.e2e

PUBLIC_ROUTES = {
    ("get", "/health"),
    ("post", "/api/v1/auth/token"),
    ("post", "/api/v1/auth/session"),
}
NOT_JSON = {  # answers that are bytes or a stream, documented by media type
    ("get", "/api/v1/alerts/stream"),
    ("get", "/api/v1/alerts/{alert_id}/images/{sha256}"),
    ("get", "/api/v1/audit/export"),
}


@pytest.fixture
def document(client: TestClient, admin_token: str) -> dict[str, Any]:
    answer = client.get("/api/v1/openapi.json", headers={"Authorization": f"Bearer {admin_token}"})
    assert answer.status_code == 200
    return answer.json()


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, op)
        for path, item in document["paths"].items()
        for method, op in item.items()
    ]


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    return document["components"]["schemas"][ref.rsplit("/", 1)[1]]


def _success(op: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    codes = sorted(c for c in op["responses"] if c.startswith("2"))
    assert codes, op.get("summary")
    return codes[0], op["responses"][codes[0]]


def test_every_json_answer_has_a_model_not_an_empty_schema(document: dict[str, Any]) -> None:
    operations = _operations(document)
    assert len(operations) >= 70
    for method, path, op in operations:
        code, answer = _success(op)
        content = answer.get("content", {})
        if (method, path) in NOT_JSON:
            assert content, (method, path)
            continue
        schema = _resolve(document, content["application/json"]["schema"])
        typed = schema.get("properties") or schema.get("items") or schema.get("$ref")
        assert typed, f"{method.upper()} {path} answers {code} with an empty schema"


def test_every_route_states_its_security_and_only_public_ones_need_none(
    document: dict[str, Any],
) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes[USER_TOKEN] == {**schemes[USER_TOKEN], "type": "http", "scheme": "bearer"}
    assert schemes[SESSION]["in"] == "cookie"
    assert schemes[CSRF]["in"] == "header"
    for method, path, op in _operations(document):
        security = op["security"]
        if (method, path) in PUBLIC_ROUTES:
            assert security == [], (method, path)
        elif path == "/api/v1/reads":
            assert security == [{CAMERA_TOKEN: []}]
        else:
            assert {USER_TOKEN: []} in security, (method, path)
            cookie = next(s for s in security if SESSION in s)
            # a browser's change needs the CSRF header; a read does not
            assert (CSRF in cookie) == (method not in ("get", "head")), (method, path)


def test_error_answers_use_the_documented_error_body(document: dict[str, Any]) -> None:
    for method, path, op in _operations(document):
        errors = {c: r for c, r in op["responses"].items() if c.startswith("4")}
        if op.get("parameters") or op.get("requestBody"):
            assert "422" in errors, (method, path)
        if (method, path) not in PUBLIC_ROUTES:
            assert {"401", "403"} <= set(errors), (method, path)
        for answer in errors.values():
            schema = answer["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path)
    assert "HTTPValidationError" not in document["components"]["schemas"]
