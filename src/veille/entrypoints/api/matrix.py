"""The permission matrix of the API: every route, the access it declares, who gets through."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI

from veille.domain.access import DATA_PERMISSIONS, ROLE_PERMISSIONS, Permission, Role
from veille.entrypoints.api.security import CAMERA, PUBLIC, iter_api_routes, route_access


@dataclass(frozen=True)
class RouteAccess:
    method: str
    path: str
    access: str  # a permission value, "public" or "camera"

    def allows(self, role: Role) -> bool:
        if self.access in (PUBLIC, CAMERA):
            return self.access == PUBLIC
        return Permission(self.access) in ROLE_PERMISSIONS[role]

    @property
    def needs_training(self) -> bool:
        return self.access not in (PUBLIC, CAMERA) and Permission(self.access) in DATA_PERMISSIONS


def route_table(app: FastAPI) -> list[RouteAccess]:
    rows = []
    for path, route in iter_api_routes(app.routes):
        access = route_access(route)
        assert access is not None  # create_app refuses undeclared routes
        for method in sorted(route.methods or ()):
            rows.append(RouteAccess(method, path, access))
    return sorted(rows, key=lambda r: (r.path, r.method))


def matrix_markdown(app: FastAPI) -> str:
    """The matrix as published in docs/permissions.md (regenerate with `veille docs
    permissions`; a test fails when the page and the code disagree)."""
    roles = list(Role)
    head = "| route | access | " + " | ".join(r.value for r in roles) + " |"
    rule = "|---|---|" + "---|" * len(roles)
    lines = [
        "# Permission matrix",
        "",
        "Generated from the code by `veille docs permissions`;"
        " `tests/e2e/test_permission_matrix.py`",
        "calls every route with every role and checks this table. ✓ = allowed, · = refused",
        "(403). Without credentials every route but the public ones answers 401; `camera`",
        "routes take only a camera's ingest token. Routes marked † also need the user to be",
        "designated for ANPR use and to hold a valid training certificate (else 403).",
        "",
        head,
        rule,
    ]
    for row in route_table(app):
        marks = " | ".join("✓" if row.allows(r) else "·" for r in roles)
        if row.access == CAMERA:
            marks = " | ".join("·" for _ in roles)
        dagger = " †" if row.needs_training else ""
        lines.append(f"| `{row.method} {row.path}` | `{row.access}`{dagger} | {marks} |")
    return "\n".join(lines) + "\n"
