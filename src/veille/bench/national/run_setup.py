"""The national bench's set-up: organisations and people, cameras and hotlists.

People are created through the services before the server starts (the bootstrap path
that set-up scripts and benchmarks take, docs/api.md: four eyes apply to people asking
through the API), then sign in through the API. Cameras and hotlists go through the real
API: the camera import with fresh ingest tokens, and each hotlist created and imported
whole (CSV) by a hotlist manager of the list's organisation.
"""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson

from veille.bench.ingest import LETTERS
from veille.bench.matcher import MatcherBenchConfig, bench_entries, bench_lists
from veille.bench.national.contract import CameraCredential
from veille.domain.access import Role, Scope, ScopeKind
from veille.domain.audit import system_actor
from veille.domain.hotlists import HotlistEntry
from veille.domain.users import FEDERAL, Organisation

PASSWORD = "national bench password 1"
ACTOR = system_actor("bench-national")
NATIONAL_LIST = "national-stolen"  # the list replaced whole during the run


@dataclass(frozen=True, slots=True)
class Person:
    username: str
    role: Role
    org_id: str
    scope: Scope


@dataclass
class Officers:
    """Who takes part, with their tokens once signed in."""

    admin: Person
    managers: dict[str, Person]  # org_id -> the hotlist manager of that organisation
    investigators: list[Person]
    operators: list[Person]
    tokens: dict[str, str] = field(default_factory=dict)  # username -> bearer token

    def everyone(self) -> list[Person]:
        return [self.admin, *self.managers.values(), *self.investigators, *self.operators]


def _spread(count: int, *, national: float, province: float) -> list[ScopeKind]:
    """`count` scope kinds: these shares national and province (one national at least,
    so that some screen shows every alert), the rest zone."""
    n_national = min(count, max(1, round(count * national)))
    n_province = min(count - n_national, round(count * province))
    n_zone = count - n_national - n_province
    return (
        [ScopeKind.ZONE] * n_zone
        + [ScopeKind.PROVINCE] * n_province
        + [ScopeKind.NATIONAL] * n_national
    )


def plan_officers(
    *, cameras: Sequence[dict[str, Any]], investigators: int, operators: int
) -> tuple[Officers, list[Organisation]]:
    """The people and the organisations they belong to. Investigators are a third each at
    zone, province and national scope; operators mostly at zone scope (a zone's control
    room), some at province scope and a few national (the federal dispatch)."""
    zones = [z for z, _ in Counter(c["zone"] for c in cameras).most_common()]
    provinces = [p for p, _ in Counter(c["province"] for c in cameras).most_common()]
    orgs: dict[str, Organisation] = {FEDERAL.org_id: FEDERAL}
    now = datetime.fromisoformat("2026-01-01T00:00:00+00:00")

    def org_for(kind: ScopeKind, n: int) -> tuple[str, Scope]:
        if kind is ScopeKind.NATIONAL:
            return FEDERAL.org_id, FEDERAL.scope
        names = zones if kind is ScopeKind.ZONE else provinces
        name = names[n % len(names)]
        org_id = f"bench-{kind.value}-{n % len(names)}"
        scope = Scope(kind, name)
        orgs.setdefault(
            org_id,
            Organisation(
                org_id, name, "local_zone" if kind is ScopeKind.ZONE else "other", scope, now
            ),
        )
        return org_id, scope

    def people(prefix: str, role: Role, kinds: list[ScopeKind]) -> list[Person]:
        out = []
        seen: Counter[ScopeKind] = Counter()
        for i, kind in enumerate(kinds):
            org_id, scope = org_for(kind, seen[kind])
            seen[kind] += 1
            out.append(Person(f"{prefix}{i:02d}", role, org_id, scope))
        return out

    investigator_kinds = _spread(investigators, national=1 / 3, province=1 / 3)
    operator_kinds = _spread(operators, national=0.04, province=0.16)
    managers: dict[str, Person] = {}
    for hotlist in bench_lists(MatcherBenchConfig()):
        owner = hotlist.owner_org
        if owner not in orgs:
            # the lists' owners: a federal service and police zones; their scope is the
            # whole country for the federal one, else the zone of a camera (any: a list's
            # scope is its owner's business, not the bench's)
            federal = owner == "fed"
            scope = (
                FEDERAL.scope if federal else Scope(ScopeKind.ZONE, zones[len(orgs) % len(zones)])
            )
            orgs[owner] = Organisation(
                owner, f"Bench {owner}", "federal" if federal else "local_zone", scope, now
            )
        managers[owner] = Person(f"manager-{owner}", Role.HOTLIST_MANAGER, owner, orgs[owner].scope)
    officers = Officers(
        admin=Person("bench-admin", Role.ADMINISTRATOR, FEDERAL.org_id, FEDERAL.scope),
        managers=managers,
        investigators=people("investigator", Role.INVESTIGATOR, investigator_kinds),
        operators=people("operator", Role.OPERATOR, operator_kinds),
    )
    return officers, list(orgs.values())


def create_people(*, data_dir: Path, officers: Officers, orgs: Sequence[Organisation]) -> None:
    """Organisations and accounts, through the services (before the server starts)."""
    from veille.bootstrap import bootstrap
    from veille.service import users as user_service
    from veille.settings import Settings

    platform = bootstrap(Settings(data_dir=data_dir))
    try:
        platform.store.initialise()
        now = platform.clock()
        for org in orgs:
            user_service.ensure_organisation(uow=platform.uow(), org=org)
        with platform.uow() as uow:
            existing = {u.username for u in uow.users.all()}

        def create(person: Person) -> None:
            data_access = person.role in (Role.INVESTIGATOR, Role.OPERATOR)
            user_service.create_user(
                uow=platform.uow(),
                username=person.username,
                password=PASSWORD,
                role=person.role,
                org_id=person.org_id,
                now=now,
                designated=data_access,
                training_expires=now + timedelta(days=30) if data_access else None,
                actor=ACTOR,
            )

        # argon2 hashes outside the write lock: a few accounts at a time
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(create, [p for p in officers.everyone() if p.username not in existing]))
    finally:
        platform.store.close()


def sign_in(http: httpx.Client, officers: Officers) -> None:
    """Every account signs in through the API (POST /api/v1/auth/token), a few at a time."""

    def token(person: Person) -> tuple[str, str]:
        answer = http.post(
            "/api/v1/auth/token",
            json={"username": person.username, "password": PASSWORD, "name": "bench"},
        )
        answer.raise_for_status()
        return person.username, str(answer.json()["token"])

    with ThreadPoolExecutor(4) as pool:
        officers.tokens.update(pool.map(token, officers.everyone()))


def register_cameras(
    *, base_url: str, records: Sequence[dict[str, Any]], admin_token: str, path: Path
) -> list[CameraCredential]:
    """Import the cameras through the API with fresh ingest tokens; write the cameras file."""
    from veille.simulator.client import register_cameras as import_over_http

    async def go() -> dict[str, str]:
        async with httpx.AsyncClient(base_url=base_url, timeout=300) as http:
            return await import_over_http(
                http, records=records, admin_token=admin_token, reissue_tokens=True
            )

    tokens = asyncio.run(go())
    credentials = [CameraCredential(c["camera_id"], tokens[c["camera_id"]]) for c in records]
    path.write_bytes(orjson.dumps(credentials))
    return credentials


# ---- hotlists ----------------------------------------------------------------------------

CSV_HEADER = "plate,country,priority,valid_from,valid_until,source_ref,instructions,covert,entry_id"


def entries_csv(entries: Iterable[HotlistEntry]) -> bytes:
    """One list's import file, in the documented CSV format (docs/hotlists.md)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER.split(","))
    for e in entries:
        writer.writerow(
            (
                e.plate,
                e.country or "",
                e.priority,
                e.valid_from.isoformat() if e.valid_from else "",
                e.valid_until.isoformat() if e.valid_until else "",
                e.source_ref,
                e.instructions,
                "yes" if e.covert else "",
                e.entry_id,
            )
        )
    return out.getvalue().encode()


@dataclass(frozen=True)
class HotlistLoad:
    lists: int
    entries: int
    seconds: float
    per_list: dict[str, dict[str, Any]]  # list_id -> {entries, seconds, added, ...}
    repeats_left_out: int = 0  # generated entries whose plate repeated in their list


def unique_by_list(entries: Iterable[HotlistEntry]) -> tuple[dict[str, list[HotlistEntry]], int]:
    """The entries by list, one per plate and country (the generator draws plates at
    random, so a million of them repeat a few thousand; an import refuses repeats);
    and how many repeats were left out."""
    grouped: dict[str, list[HotlistEntry]] = {}
    seen: set[tuple[str, str, str]] = set()
    repeats = 0
    for entry in entries:
        if entry.key in seen:
            repeats += 1
            continue
        seen.add(entry.key)
        grouped.setdefault(entry.list_id, []).append(entry)
    return grouped, repeats


def import_list(
    http: httpx.Client, *, token: str, list_id: str, entries: Sequence[HotlistEntry]
) -> dict[str, Any]:
    """Replace one list whole through `PUT /api/v1/hotlists/{id}/entries`; its report."""
    began = time.monotonic()
    answer = http.put(
        f"/api/v1/hotlists/{list_id}/entries",
        content=entries_csv(entries),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "text/csv"},
    )
    if answer.status_code != 200:
        raise RuntimeError(f"import of {list_id} failed: {answer.status_code} {answer.text[:500]}")
    report: dict[str, Any] = answer.json()
    return {
        "entries": len(entries),
        "seconds": round(time.monotonic() - began, 2),
        **{k: report.get(k) for k in ("added", "changed", "removed", "unchanged")},
    }


def load_hotlists(
    http: httpx.Client, *, officers: Officers, config: MatcherBenchConfig, hit_plates: Path,
    hit_plate_count: int = 20_000, log: Callable[[str], None] = print,
) -> HotlistLoad:  # fmt: skip
    """Create the lists of `bench matcher` and import their entries through the API; write
    `hit_plates` with plates of the lists (exact plates, not patterns), for the cameras."""
    began = time.monotonic()
    per_list: dict[str, dict[str, Any]] = {}
    for hotlist in bench_lists(config):
        token = officers.tokens[officers.managers[hotlist.owner_org].username]
        answer = http.put(
            f"/api/v1/hotlists/{hotlist.list_id}",
            json={
                "name": hotlist.name,
                "category": hotlist.category.value,
                "max_edits": hotlist.max_edits,
                "lookalike": hotlist.lookalike,
                "max_wildcards": hotlist.max_wildcards,
                "default_priority": hotlist.default_priority,
            },
            headers={"Authorization": f"Bearer {token}"},
        )
        if answer.status_code not in (200, 201):
            raise RuntimeError(f"hotlist {hotlist.list_id}: {answer.status_code} {answer.text}")
    grouped, repeats = unique_by_list(bench_entries(config))
    rng = random.Random(config.seed)
    sample: list[str] = []
    for list_id, entries in grouped.items():
        owner = next(h.owner_org for h in bench_lists(config) if h.list_id == list_id)
        token = officers.tokens[officers.managers[owner].username]
        per_list[list_id] = import_list(http, token=token, list_id=list_id, entries=entries)
        log(f"hotlist {list_id}: {len(entries):,} entries in {per_list[list_id]['seconds']} s")
        exact = [e for e in entries if "?" not in e.plate and "*" not in e.plate]
        share = len(entries) / max(1, config.entries)
        for e in rng.sample(exact, min(len(exact), max(1, round(hit_plate_count * share)))):
            sample.append(f"{e.plate} {e.country}" if e.country else e.plate)
    hit_plates.write_text("\n".join(sample) + "\n")
    return HotlistLoad(
        lists=len(grouped),
        entries=sum(len(v) for v in grouped.values()),
        seconds=round(time.monotonic() - began, 2),
        per_list=per_list,
        repeats_left_out=repeats,
    )


def replacement_entries(config: MatcherBenchConfig, *, keep: set[str]) -> list[HotlistEntry]:
    """A new day's national list, imported whole: the same entries but for 2 % of them
    replaced by other plates (never a plate of `keep`, those the cameras send to hit)."""
    rng = random.Random(config.seed + 1)
    grouped, _ = unique_by_list(bench_entries(config))
    entries = grouped.get(NATIONAL_LIST, [])
    taken = {e.key for e in entries}
    out = []
    for e in entries:
        if rng.random() < 0.02 and e.plate not in keep:
            plate = (
                f"{rng.randint(1, 9)}{''.join(rng.choices(LETTERS, k=3))}{rng.randint(0, 999):03d}"
            )
            moved = dataclasses.replace(e, plate=plate)
            if moved.key not in taken:
                taken.add(moved.key)
                e = moved
        out.append(e)
    return out
