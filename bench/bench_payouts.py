"""A payout batch for 25,000 artisans against the fake M-Pesa (Daraja) server (not a test).

    .venv/bin/python bench/bench_payouts.py                    # 25,000 artisans, SQLite
    .venv/bin/python bench/bench_payouts.py --artisans 2500

Every artisan is owed an amount; one batch is created and approved; then the real
``PayoutRunner`` sends it through the real ``DarajaClient`` over loopback to the fake Daraja,
whose result callbacks come back to the real M-Pesa callback routes. The clock runs from the
first request until every payout is settled. Then: M-Pesa accepted each payout exactly once,
every payment M-Pesa made is recorded with its receipt and amount, the ledger balances, and per
artisan paid + in flight + available == earned with nothing left in flight.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlmodel import SQLModel

import domain.model  # noqa: F401  (every table on the metadata)
from domain import ledger
from domain.model import PayoutStatus
from domain.store import Store
from tests.integration.mpesa_harness import all_payouts, approved_batch, mpesa_harness


def now() -> datetime:
    return datetime.now(UTC)


async def main(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="karakana-payouts-"))
    store = Store.from_url(f"sqlite+aiosqlite:///{workdir / 'karakana.db'}")
    async with store.engine.begin() as connection:
        await connection.run_sync(SQLModel.metadata.create_all)
    rng = random.Random(args.seed)  # noqa: S311 (made-up earnings)
    earnings = [rng.randrange(5, 400) * 10_000 for _ in range(args.artisans)]  # KES 500-40,000
    began = time.perf_counter()
    _, artisans = await approved_batch(store, now(), earnings)
    prepared = time.perf_counter() - began
    print(f"{args.artisans:,} artisans owed, batch created and approved in {prepared:.1f} s")

    async with mpesa_harness(store, now, request_timeout=10.0) as h:
        began = time.perf_counter()
        report = await h.runner.run()
        sent = time.perf_counter() - began
        await h.daraja.drain()
        settled = time.perf_counter() - began

    payouts = await all_payouts(store)
    statuses = {status.value: 0 for status in PayoutStatus}
    for payout in payouts:
        statuses[payout.status.value] += 1
    problems = []
    if statuses[PayoutStatus.SUCCEEDED.value] != len(payouts) or len(payouts) != args.artisans:
        problems.append(f"not every payout succeeded: {statuses}")
    if max(h.daraja.accepted.values()) != 1 or len(h.daraja.accepted) != args.artisans:
        problems.append("M-Pesa did not accept every payout exactly once")
    for payout in payouts:
        made = h.daraja.paid.get(payout.originator_conversation_id)
        if made is None or made.receipt != payout.mpesa_receipt:
            problems.append(f"payout {payout.id} is not the payment M-Pesa made")
        elif made.amount * 100 != payout.amount_cents:
            problems.append(f"payout {payout.id} paid a different amount")
    async with store.read() as session:
        if not (await ledger.trial_balance(session)).balanced:
            problems.append("the ledger does not balance")
        for artisan, earned in zip(artisans, earnings, strict=True):
            b = await ledger.artisan_balance(session, artisan)
            if not (
                b.earned_cents == earned == b.paid_cents + b.in_flight_cents + b.available_cents
            ):
                problems.append(f"artisan {artisan}: {b}")
            elif b.in_flight_cents or b.paid_cents != earned:
                problems.append(f"artisan {artisan} not fully paid: {b}")
    await store.close()
    print(
        json.dumps(
            {
                "artisans": args.artisans,
                "sent": len(report.sent),
                "send_seconds": round(sent, 1),
                "settled_seconds": round(settled, 1),
                "payouts_per_second": round(args.artisans / settled, 1),
                "statuses": {k: v for k, v in statuses.items() if v},
                "accepted_at_mpesa_max": max(h.daraja.accepted.values()),
                "problems": len(problems),
            }
        )
    )
    if problems:
        raise SystemExit("\n".join(problems[:20]))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--artisans", type=int, default=25_000)
    parser.add_argument("--seed", type=int, default=1)
    asyncio.run(main(parser.parse_args()))
