"""Admission of searches and analyses: a few at a time, the others wait their turn.

The server's first duties are real time: storing what the cameras send and ringing the
control room. An analysis is the opposite: seconds of CPU, mostly in Python, on a worker
thread that shares the interpreter lock with the event loop and the ingest writer. Twenty
investigators searching at once ran twenty such threads, and the loop got a
twenty-first of the interpreter. `AnalysisGate` lets `analysis_slots` queries run at once;
the others wait in order of arrival (asyncio's semaphore is first come, first served),
holding no thread, for up to `analysis_wait_s`; then they are refused `503 analyses_busy`
with `Retry-After`. An investigator waits a little longer at the busiest hour. A camera's
read and an operator's alert do not wait behind a search.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from veille.service.errors import Busy


class AnalysesBusy(Busy):
    code = "analyses_busy"
    retry_after_s = 5


class AnalysisGate:
    def __init__(self, slots: int, wait_s: float) -> None:
        self.slots = slots
        self.wait_s = wait_s
        self._semaphore = asyncio.Semaphore(slots)
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop it serves
        self.running = 0
        self.waiting = 0

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # an asyncio semaphore belongs to one loop
            self._semaphore, self._loop = asyncio.Semaphore(self.slots), loop
        semaphore = self._semaphore
        self.waiting += 1
        try:
            await asyncio.wait_for(semaphore.acquire(), timeout=self.wait_s)
        except TimeoutError:
            raise AnalysesBusy(
                f"{self.slots} searches are running and others are waiting; none could start"
                f" within {self.wait_s:g} s: try again shortly"
            ) from None
        finally:
            self.waiting -= 1
        self.running += 1
        try:
            yield
        finally:
            self.running -= 1
            semaphore.release()
