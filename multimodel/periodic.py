"""A background task that calls a coroutine every few seconds and survives its failures: the
preference standings and the API keys are kept fresh this way, off the request path."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger("multimodel")


class Periodic:
    def __init__(self, name: str, call: Callable[[], Awaitable[Any]], interval_s: float) -> None:
        self.name = name
        self._call = call
        self._interval = interval_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"multimodel-{self.name}")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self._call()
            except Exception as e:  # the database may be down for a while: keep the last state
                log.warning("%s: refresh failed (%s: %s)", self.name, type(e).__name__, str(e)[:200])
            await asyncio.sleep(self._interval)
