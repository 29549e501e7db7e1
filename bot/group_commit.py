"""Group commit: many small writes that arrive together share one transaction.

Each caller of ``submit`` waits until its item has been written. Items submitted while a batch is
being written go into the next batch, so under load a batch holds everything that queued behind
the one before it, and when the process is idle a lone item is written at once (no timer).
If writing a batch raises, every caller in that batch gets the exception and nothing of the batch
is assumed written; it is the writer's job to make a batch all-or-nothing (one transaction).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class GroupCommit(Generic[T]):
    def __init__(self, write: Callable[[Sequence[T]], Awaitable[None]]) -> None:
        self._write = write
        self._waiting: list[tuple[T, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> None:
        """Return once ``item`` is written (with whatever else was waiting)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain(), name="group-commit")
        await asyncio.shield(done)  # a cancelled caller does not cancel its batch-mates' write

    async def _drain(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                await self._write([item for item, _ in batch])
            except Exception as exc:
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
            except BaseException:  # cancelled (shutting down): nobody may wait forever
                for _, done in batch + self._waiting:
                    done.cancel()
                self._waiting = []
                raise
            else:
                for _, done in batch:
                    if not done.done():
                        done.set_result(None)
