"""A token bucket: the send rate a provider allows, shared by whoever calls it.

The outbox dispatcher keeps one per chat channel (bot/channels/dispatcher.py) and the Daraja client
one for M-Pesa's API (bot/payments/daraja.py); it lives here, beside neither, so the channels and
the payments stay independent of each other.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class TokenBucket:
    """At most ``rate`` sends a second on average, in bursts of up to ``capacity``."""

    def __init__(
        self,
        rate: float,
        capacity: float | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0:
            raise ValueError("a send rate must be positive")
        self.rate = rate
        self.capacity = capacity if capacity is not None else max(1.0, rate)
        self._tokens = self.capacity
        self._monotonic = monotonic
        self._updated = monotonic()
        self._paused_until = 0.0
        self._lock = asyncio.Lock()

    def pause(self, seconds: float) -> None:
        """The provider asked the whole channel to wait (Telegram's flood control)."""
        self._paused_until = max(self._paused_until, self._monotonic() + seconds)

    async def take(self) -> None:
        async with self._lock:  # first come, first served
            while True:
                now = self._monotonic()
                self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
                self._updated = now
                wait = max(self._paused_until - now, (1 - self._tokens) / self.rate)
                if now >= self._paused_until and self._tokens >= 1:
                    self._tokens -= 1
                    return
                await asyncio.sleep(wait)
