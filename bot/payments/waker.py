"""Sends approved payouts soon after an admin approves them.

The scheduler's ``send_payouts`` job picks approved batches up every ``PAYOUT_SEND_INTERVAL``;
this lets ``/approve_payouts`` (or ``karakana payouts run``) not wait for it. While a batch waits
for approval and the M-Pesa float is not known, a wake asks M-Pesa for it (at most once a
minute), so an approval refused for an unknown float can be made a moment later. Wakes while a run
is going are folded into one more run. Running the payout runner at any time is safe: a payout
is claimed (PENDING -> SENDING, committed) before its request goes out, so two runs, here or in
another process, never send the same payout twice.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from bot.payments.runner import PayoutRunner
from domain import payouts
from domain.store import Store

log = logging.getLogger(__name__)


class PayoutWaker:
    def __init__(self, store: Store, runner: PayoutRunner, *, in_doubt_after: timedelta) -> None:
        self._store = store
        self._runner = runner
        self._in_doubt_after = in_doubt_after
        self._again = False
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Send whatever approved payouts wait, in the background."""
        self._again = True
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain(), name="payout-waker")

    async def send_waiting(self) -> list[str]:
        """Send the approved payouts not sent yet; the originator ids requested. With nothing
        to send, ask M-Pesa for the float if a batch waits for an approval that needs it
        (``payouts.float_wanted``): an admin refused for an unknown float is told it was asked."""
        async with self._store.read() as session:
            waiting = await payouts.payouts_to_send(session)
            wanted = not waiting and await payouts.float_wanted(session, now=self._runner.clock())
        if wanted:
            query_id = await self._runner.ask_float()
            log.info("asked M-Pesa for the float before an approval (query %s)", query_id)
        if not waiting:
            return []
        report = await self._runner.run(in_doubt_after=self._in_doubt_after)
        if report.sent:
            log.info("sent %d approved payout(s) to M-Pesa", len(report.sent))
        return report.sent

    async def _drain(self) -> None:
        while self._again:
            self._again = False
            try:
                await self.send_waiting()
            except Exception:
                # The scheduler's send_payouts job tries again at its next slot.
                log.exception("sending approved payouts failed")

    async def aclose(self) -> None:
        """Let a run in progress finish (its payouts are claimed already)."""
        self._again = False
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
