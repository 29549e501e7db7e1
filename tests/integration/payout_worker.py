"""A payout batch process for the fault-injection test: ``python -m tests.integration.payout_worker
DATABASE_URL DARAJA_URL CALLBACKS_URL``. It sends every approved payout once through the real
runner and exits; the test kills it with SIGKILL at random moments and starts it again."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime

from bot.payments.daraja import DarajaClient
from bot.payments.runner import PayoutRunner
from domain.store import Store
from tests.integration.mpesa_harness import daraja_config, notifier


def now() -> datetime:
    return datetime.now(UTC)


async def main(database_url: str, daraja_url: str, callbacks_url: str) -> None:
    store = Store.from_url(database_url)
    try:
        config = daraja_config(daraja_url, callbacks_url, timeout=0.5)
        async with DarajaClient(config) as client:
            runner = PayoutRunner(store, client, clock=now, notify=notifier())
            await runner.run()
    finally:
        await store.close()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
