"""One asyncio lock per conversation key, forgotten as soon as nobody holds or awaits it.

A long-running process talks to thousands of addresses; keeping a lock per address forever would
grow without bound, so each lock counts its users and is dropped when the count reaches zero.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class KeyedLocks(Generic[K]):
    def __init__(self) -> None:
        self._locks: dict[K, tuple[asyncio.Lock, int]] = {}

    def __len__(self) -> int:
        return len(self._locks)

    @asynccontextmanager
    async def hold(self, key: K) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            current, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (current, users - 1)
