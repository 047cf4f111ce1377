"""The scopes investigators search in (a zone, a province, the country), from a store's cameras.

A local investigator's scope is their police zone, a provincial unit's its province; the
query service restricts them to the cameras standing there (`Scope.covers`). The bench
picks the busiest zone of the Brussels region and the busiest province outside it, so
that a scoped search has reads to find, and names the scope with its camera count.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from veille.domain.access import Scope, ScopeKind
from veille.domain.cameras import Camera
from veille.domain.geography import BRUSSELS_REGION

SCOPE_NAMES = ("zone", "province", "national")


@dataclass(frozen=True)
class SearchScope:
    """One scope to time searches in: its kind, the Scope an investigator holds, its cameras."""

    name: str  # zone, province or national
    scope: Scope
    cameras: frozenset[str] | None  # None: every camera (national)

    @property
    def camera_count(self) -> int | None:
        return None if self.cameras is None else len(self.cameras)

    @property
    def label(self) -> str:
        if self.scope.value is None:
            return self.name
        return f"{self.name} {self.scope.value}"

    def covers(self, camera_id: str) -> bool:
        return self.cameras is None or camera_id in self.cameras


def _busiest(counts: Counter[str]) -> str:
    # ties broken by name, so that the same store always gives the same scope
    return min(counts, key=lambda name: (-counts[name], name))


def search_scopes(
    cameras: Iterable[Camera], wanted: Sequence[str] = SCOPE_NAMES
) -> list[SearchScope]:
    """The scopes named in `wanted` (zone, province, national), built from these cameras."""
    unknown = [w for w in wanted if w not in SCOPE_NAMES]
    if unknown:
        raise ValueError(f"unknown scope {unknown[0]!r}: choose from {', '.join(SCOPE_NAMES)}")
    every = list(cameras)
    zones = Counter(c.zone for c in every if c.province == BRUSSELS_REGION)
    if not zones:  # a store without Brussels: the busiest zone anywhere
        zones = Counter(c.zone for c in every)
    provinces = Counter(c.province for c in every if c.province != BRUSSELS_REGION)
    if not provinces:
        provinces = Counter(c.province for c in every)
    out = []
    for name in wanted:
        if name == "national":
            out.append(SearchScope(name, Scope(ScopeKind.NATIONAL), None))
            continue
        kind = ScopeKind.ZONE if name == "zone" else ScopeKind.PROVINCE
        value = _busiest(zones if name == "zone" else provinces)
        scope = Scope(kind, value)
        inside = frozenset(
            c.camera_id for c in every if scope.covers(zone=c.zone, province=c.province)
        )
        out.append(SearchScope(name, scope, inside))
    return out
