"""The people at work during the national bench: operators on the live alert stream and
investigators running analyses, each over their own HTTP connection to the real API.

Both run in a thread of their own with their own event loop, so that an investigator's
large answer never delays the moment an operator's alert is timed.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson

from veille.bench.national.run_setup import Person
from veille.domain.access import ScopeKind

PURPOSE = "judicial: investigation of an offence"
CASE_REF = "BENCH.NATIONAL/2026"
ANALYSES = ("plate", "area", "journey", "convoy", "scenes", "clones")


@dataclass(frozen=True, slots=True)
class Arrival:
    read_id: str
    at: float  # epoch seconds the line reached the operator's client
    operator: str


@dataclass(frozen=True, slots=True)
class Search:
    analysis: str
    scope: str  # zone, province, national
    started_at: float  # epoch seconds
    ms: float
    status: int  # HTTP status; 0: the request failed on the network
    investigator: str


class _LoopThread:
    """An event loop in a daemon thread running one coroutine until stopped."""

    def __init__(self, name: str):
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    async def main(self, stopping: asyncio.Event) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        async def go() -> None:
            self._loop = asyncio.get_running_loop()
            self._stopping = asyncio.Event()
            self._ready.set()
            await self.main(self._stopping)

        asyncio.run(go())

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(10)

    def stop(self, timeout: float = 30.0) -> None:
        if not self._thread.is_alive():
            return
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(timeout)


class Operators(_LoopThread):
    """Each operator keeps `GET /api/v1/alerts/stream` open and notes when each alert
    arrives (reconnecting with Last-Event-ID if the stream ends)."""

    def __init__(self, *, base_url: str, operators: Sequence[Person], tokens: dict[str, str]):
        super().__init__("bench-operators")
        self.base_url = base_url
        self.operators = list(operators)
        self.tokens = tokens
        self.arrivals: list[Arrival] = []
        self.connected: set[str] = set()
        self.gaps = 0
        self.reconnects = 0
        self.closed: list[str] = []

    async def main(self, stopping: asyncio.Event) -> None:
        async with httpx.AsyncClient(
            base_url=self.base_url,
            timeout=httpx.Timeout(10.0, read=None),
            limits=httpx.Limits(max_connections=len(self.operators) + 1),
        ) as http:
            tasks = [asyncio.create_task(self._follow(http, op)) for op in self.operators]
            await stopping.wait()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _follow(self, http: httpx.AsyncClient, operator: Person) -> None:
        last_id: str | None = None
        headers = {"Authorization": f"Bearer {self.tokens[operator.username]}"}
        while True:
            try:
                extra = {"Last-Event-ID": last_id} if last_id else {}
                async with http.stream(
                    "GET", "/api/v1/alerts/stream", headers={**headers, **extra}
                ) as answer:
                    self.connected.add(operator.username)
                    event = ""
                    async for line in answer.aiter_lines():
                        if line.startswith("data: "):
                            at = time.time()
                            if event == "alert":
                                data = orjson.loads(line[6:])
                                self.arrivals.append(
                                    Arrival(data["read"]["read_id"], at, operator.username)
                                )
                            elif event == "gap":
                                self.gaps += 1
                            elif event == "closed":
                                self.closed.append(line[6:])
                        elif line.startswith("event: "):
                            event = line[7:]
                        elif line.startswith("id: "):
                            last_id = line[4:]
                        elif not line:
                            event = ""
            except httpx.HTTPError:
                pass
            self.reconnects += 1
            await asyncio.sleep(0.5)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


class Investigators(_LoopThread):
    """Each investigator runs the analyses in turn (plate, area, journey, convoy, scenes,
    clones) at their own scope, with purpose and case, pausing `pause_s` between two, and
    notes how long each took; plates are drawn from those on the hotlists, which the
    cameras send, places from the cameras of the investigator's scope."""

    def __init__(
        self,
        *,
        base_url: str,
        investigators: Sequence[Person],
        tokens: dict[str, str],
        cameras: Sequence[dict[str, Any]],
        plates: Sequence[str],
        pause_s: float = 1.0,
        seed: int = 7,
    ):
        super().__init__("bench-investigators")
        self.base_url = base_url
        self.investigators = list(investigators)
        self.tokens = tokens
        self.cameras = list(cameras)
        self.plates = [p.split()[0] for p in plates] or ["1ABC123"]
        self.pause_s = pause_s
        self.seed = seed
        self.searches: list[Search] = []

    def _in_scope(self, person: Person) -> list[dict[str, Any]]:
        scope = person.scope
        if scope.kind is ScopeKind.ZONE:
            found = [c for c in self.cameras if c["zone"] == scope.value]
        elif scope.kind is ScopeKind.PROVINCE:
            found = [c for c in self.cameras if c["province"] == scope.value]
        else:
            found = self.cameras
        return found or self.cameras

    def body(self, analysis: str, person: Person, rng: random.Random) -> dict[str, Any]:
        now = datetime.now(UTC)
        law = {"purpose": PURPOSE, "case_ref": CASE_REF}
        month = {**law, "start": _iso(now - timedelta(days=29)), "end": _iso(now)}
        plate = rng.choice(self.plates)
        cameras = self._in_scope(person)
        if analysis == "plate":
            return {**month, "plate": plate}
        if analysis == "journey":
            return {**month, "plate": plate}
        if analysis == "convoy":
            return {**month, "plate": plate}
        if analysis == "clones":
            return {**month, "plate": plate}
        if analysis == "area":
            c = rng.choice(cameras)
            hour = {"start": _iso(now - timedelta(hours=1)), "end": _iso(now)}
            return {**law, **hour, "lat": c["lat"], "lon": c["lon"], "radius_m": 1000}
        scenes = []
        for n in range(3):
            c = rng.choice(cameras)
            end = now - timedelta(minutes=40 * n)
            scenes.append(
                {
                    "lat": c["lat"],
                    "lon": c["lon"],
                    "radius_m": 500,
                    "start": _iso(end - timedelta(minutes=30)),
                    "end": _iso(end),
                }
            )
        return {**law, "start": _iso(now - timedelta(hours=3)), "end": _iso(now), "scenes": scenes}

    async def main(self, stopping: asyncio.Event) -> None:
        async with httpx.AsyncClient(
            base_url=self.base_url,
            timeout=httpx.Timeout(300.0),
            limits=httpx.Limits(max_connections=len(self.investigators) + 1),
        ) as http:
            tasks = [
                asyncio.create_task(self._work(http, i, person, stopping))
                for i, person in enumerate(self.investigators)
            ]
            await stopping.wait()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _work(
        self, http: httpx.AsyncClient, index: int, person: Person, stopping: asyncio.Event
    ) -> None:
        rng = random.Random(self.seed * 1000 + index)
        headers = {
            "Authorization": f"Bearer {self.tokens[person.username]}",
            "Content-Type": "application/json",
        }
        turn = index  # investigators start on different analyses
        await asyncio.sleep(rng.uniform(0, self.pause_s))  # and not all at once
        while not stopping.is_set():
            analysis = ANALYSES[turn % len(ANALYSES)]
            turn += 1
            body = orjson.dumps(self.body(analysis, person, rng))
            started_at = time.time()
            began = time.perf_counter()
            status = 0
            with contextlib.suppress(httpx.HTTPError):
                answer = await http.post(
                    f"/api/v1/analyses/{analysis}", content=body, headers=headers
                )
                await answer.aread()
                status = answer.status_code
            ms = (time.perf_counter() - began) * 1000.0
            self.searches.append(
                Search(analysis, person.scope.kind.value, started_at, ms, status, person.username)
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), self.pause_s)
