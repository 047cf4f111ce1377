"""In-memory prosecutor authorizations (the case holds they place are `holds.py`'s)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from veille.domain.authorizations import Authorization, AuthorizationStatus

if TYPE_CHECKING:
    from veille.adapters.memory.store import MemoryUnitOfWork

_TABLE = "authorizations"


class MemoryAuthorizationRepository:
    def __init__(self, uow: MemoryUnitOfWork):
        self.uow = uow

    def add(self, auth: Authorization) -> int:
        """Stored under a new id (the one `auth` carries is ignored, as SQLite's rowid is)."""
        auth_id = self.uow.next_id(_TABLE)
        self.uow.writable(_TABLE)[auth_id] = replace(auth, auth_id=auth_id)
        return auth_id

    def update(self, auth: Authorization) -> None:
        """Replace the stored request of the same id; an unknown id changes nothing."""
        if auth.auth_id in self.uow.table(_TABLE):
            self.uow.writable(_TABLE)[auth.auth_id] = auth

    def get(self, auth_id: int) -> Authorization | None:
        auth: Authorization | None = self.uow.table(_TABLE).get(auth_id)
        return auth

    def find(
        self,
        *,
        districts: frozenset[str] | None = None,
        spanning: bool = False,
        underived: bool = False,
        status: str | None = None,
        involving_user: int | None = None,
        limit: int = 500,
    ) -> list[Authorization]:
        """Newest first. `districts`: names any of which the request's districts hold;
        `spanning`: only requests over more than one district; `underived`: only requests
        filed before districts were derived; `involving_user`: requested by that user or
        naming them."""
        return self.page(
            districts=districts,
            spanning=spanning,
            underived=underived,
            status=status,
            involving_user=involving_user,
            limit=limit,
        )

    def page(
        self,
        *,
        districts: frozenset[str] | None = None,
        spanning: bool = False,
        underived: bool = False,
        status: str | None = None,
        involving_user: int | None = None,
        before: int | None = None,
        limit: int | None = None,
    ) -> list[Authorization]:
        """Newest first from just below `before` (keyset paging on `auth_id`), at most
        `limit` (None: all); every criterion applies before the limit."""

        def matches(a: Authorization) -> bool:
            # an underived request has no districts (SQLite: NULL), which no name matches
            return (
                (districts is None or bool(a.districts & districts))
                and (not underived or not a.districts)
                and (not spanning or len(a.districts) > 1)
                and (not status or a.status.value == status)
                and (
                    involving_user is None
                    or a.requested_by == involving_user
                    or involving_user in a.investigators
                )
                and (before is None or a.auth_id < before)
            )

        newest_first = sorted(self.uow.table(_TABLE).values(), key=lambda a: -a.auth_id)
        found = [a for a in newest_first if matches(a)]
        return found if limit is None or limit < 0 else found[:limit]

    def approved_for(self, user_id: int) -> list[Authorization]:
        """Approved authorizations naming the user, oldest first (expiry is the policy's)."""
        return [
            a
            for a in sorted(self.uow.table(_TABLE).values(), key=lambda a: a.auth_id)
            if a.status is AuthorizationStatus.APPROVED and user_id in a.investigators
        ]
