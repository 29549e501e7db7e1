"""A payout batch for 25,000 artisans against the fake M-Pesa (Daraja) server (not a test).

    .venv/bin/python bench/bench_payouts.py                    # 25,000 artisans, SQLite
    .venv/bin/python bench/bench_payouts.py --artisans 2500 --max-in-flight 1   # one at a time

Every artisan is owed an amount; one batch is built (a few hundred artisans a transaction, by
``domain.payouts.build_payout_batch``; the longest transaction is reported) and approved; then
the real ``PayoutRunner`` sends it, ``--max-in-flight`` requests at once, through the real
``DarajaClient`` (paced to ``--rate`` requests a second, if given) over loopback to the fake
Daraja, which answers each call after ``--latency`` seconds (the round trip to Safaricom) and
refuses calls above ``--mpesa-rate`` a second with HTTP 429; its result callbacks come back to
the real M-Pesa callback routes. The fake runs in a process of its own, as Safaricom is not in
ours (``--fake-in-process`` puts it back in this one). The store is SQLite opened as
``karakana run`` opens it (statements on the event loop's thread, ``bot.db.sqlite_inline``).

The clock runs from the first request until every payout is settled; this process's CPU time
and SQL statements over that span are reported per payout. Then: M-Pesa accepted each payout
exactly once, every payment M-Pesa made is recorded with its receipt and amount, each artisan
got exactly one receipt message, the ledger balances, and per artisan paid + in flight +
available == earned with nothing left in flight.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import event
from sqlmodel import SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession

import domain.model  # noqa: F401  (every table on the metadata)
from bench.work_folder import run_in_work_folder
from bot.db.sqlite_inline import connect_inline
from bot.payments.runner import DEFAULT_MAX_IN_FLIGHT
from domain import ledger, payouts
from domain.model import OutboxMessage, PayoutStatus
from domain.store import Store
from tests.fakes.daraja_api import FakeDaraja
from tests.fakes.daraja_process import DarajaProcess, Truth
from tests.integration.mpesa_harness import (
    Harness,
    RunningDaraja,
    all_payouts,
    harness_with,
    owed_artisans,
)


def now() -> datetime:
    return datetime.now(UTC)


class TimedTransactions:
    """The store as the batch builder sees it, timing each of its transactions (each holds
    SQLite's write lock for its whole length: what a chat reply may wait for)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.seconds: list[float] = []

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        began = time.perf_counter()
        try:
            async with self._store.transaction() as session:
                yield session
        finally:
            self.seconds.append(time.perf_counter() - began)


class StatementCounter:
    """SQL statements sent to the database (an executemany counts once)."""

    def __init__(self, store: Store) -> None:
        self.count = 0
        event.listen(store.engine.sync_engine, "before_cursor_execute", self._count)

    def _count(self, *_args: object) -> None:
        self.count += 1


async def settle_everything(h: Harness[RunningDaraja]) -> int:
    """Send the batch, then settle what is in doubt as the scheduler would; how many payouts
    were found in doubt over the settling passes."""
    await h.runner.run()
    await h.settle()
    # A request that got no answer (a dropped connection, a timeout) is in doubt until a
    # status query settles it, as the scheduler's send_payouts job does in production.
    in_doubt = 0
    for _ in range(5):
        async with h.store.read() as session:
            doubtful = len(await payouts.payouts_in_doubt(session))
        if not doubtful:
            break
        in_doubt += doubtful
        await h.runner.run()
        await h.settle()  # a status answer may resend, whose result comes after
    return in_doubt


async def truth_of(daraja: RunningDaraja) -> Truth:
    if isinstance(daraja, DarajaProcess):
        return await daraja.truth()
    assert isinstance(daraja, FakeDaraja)
    return Truth.of(daraja)


async def main(args: argparse.Namespace, workdir: Path) -> None:
    # As `karakana run` opens it (bot.main.open_factory).
    store = Store.from_url(
        f"sqlite+aiosqlite:///{workdir / 'karakana.db'}", sqlite_connect=connect_inline
    )
    async with store.engine.begin() as connection:
        await connection.run_sync(SQLModel.metadata.create_all)
    rng = random.Random(args.seed)  # noqa: S311 (made-up earnings)
    earnings = [rng.randrange(5, 400) * 10_000 for _ in range(args.artisans)]  # KES 500-40,000
    began = time.perf_counter()
    admin, artisans = await owed_artisans(store, now(), earnings)
    print(f"{args.artisans:,} artisans owed in {time.perf_counter() - began:.1f} s", flush=True)
    began = time.perf_counter()
    steps = TimedTransactions(store)
    batch = await payouts.build_payout_batch(steps, minimum_cents=100, now=now())
    assert batch is not None
    assert batch.id is not None
    built = time.perf_counter() - began
    async with store.transaction() as session:
        await payouts.approve_batch(session, batch_id=batch.id, admin_id=admin, now=now())
    prepared = time.perf_counter() - began
    print(
        f"batch built in {built:.1f} s ({len(steps.seconds)} transactions, the longest "
        f"{max(steps.seconds) * 1000:.0f} ms) and approved in {prepared - built:.2f} s",
        flush=True,
    )

    daraja: RunningDaraja = (
        FakeDaraja(latency=args.latency, requests_per_second=args.mpesa_rate)
        if args.fake_in_process
        else DarajaProcess(latency=args.latency, requests_per_second=args.mpesa_rate)
    )
    statements = StatementCounter(store)
    async with harness_with(
        store,
        now,
        daraja,
        request_timeout=10.0,
        max_in_flight=args.max_in_flight,
        requests_per_second=args.rate,
    ) as h:
        began, cpu_began = time.perf_counter(), time.process_time()
        statements_began = statements.count
        in_doubt = await settle_everything(h)
        settled = time.perf_counter() - began
        cpu = time.process_time() - cpu_began
        sql = statements.count - statements_began
        throttled = h.client.throttled
        truth = await truth_of(h.daraja)

    settled_payouts = await all_payouts(store)
    statuses = {status.value: 0 for status in PayoutStatus}
    for payout in settled_payouts:
        statuses[payout.status.value] += 1
    problems = []
    succeeded = statuses[PayoutStatus.SUCCEEDED.value]
    if succeeded != len(settled_payouts) or len(settled_payouts) != args.artisans:
        problems.append(f"not every payout succeeded: {statuses}")
    if max(truth.accepted.values()) != 1 or len(truth.accepted) != args.artisans:
        problems.append("M-Pesa did not accept every payout exactly once")
    for payout in settled_payouts:
        made = truth.paid.get(payout.originator_conversation_id)
        if made is None or made.receipt != payout.mpesa_receipt:
            problems.append(f"payout {payout.id} is not the payment M-Pesa made")
        elif made.amount * 100 != payout.amount_cents:
            problems.append(f"payout {payout.id} paid a different amount")
    async with store.read() as session:
        # The receipt message names M-Pesa's receipt number: exactly one per artisan.
        told: dict[int | None, list[str]] = {}
        for person_id, body in await session.exec(
            select(OutboxMessage.person_id, OutboxMessage.body)
        ):
            told.setdefault(person_id, []).append(body)
        for payout in settled_payouts:
            receipt = payout.mpesa_receipt or "?"
            if sum(receipt in body for body in told.get(payout.artisan_id, [])) != 1:
                problems.append(f"artisan {payout.artisan_id}: not exactly one receipt message")
        if not (await ledger.trial_balance(session)).balanced:
            problems.append("the ledger does not balance")
        every = await ledger.artisan_balances(session, artisans)
        for artisan, earned in zip(artisans, earnings, strict=True):
            b = every[artisan]
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
                "max_in_flight": args.max_in_flight,
                "latency_s": args.latency,
                "create_approve_seconds": round(prepared, 1),
                "create_transactions": len(steps.seconds),
                "longest_create_transaction_ms": round(max(steps.seconds) * 1000),
                "fake_daraja": "this process" if args.fake_in_process else "its own process",
                "settled_seconds": round(settled, 1),
                "payouts_per_second": round(args.artisans / settled, 1),
                "cpu_ms_per_payout": round(cpu * 1000 / args.artisans, 2),
                "sql_statements_per_payout": round(sql / args.artisans, 2),
                "statuses": {k: v for k, v in statuses.items() if v},
                "in_doubt_then_queried": in_doubt,
                "accepted_at_mpesa_max": max(truth.accepted.values()),
                "most_requests_in_flight_at_mpesa": truth.most_in_flight,
                "throttled_429": throttled,
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
    parser.add_argument("--max-in-flight", type=int, default=DEFAULT_MAX_IN_FLIGHT)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per Daraja answer")
    parser.add_argument("--rate", type=float, default=None, help="our pacing, requests/s")
    parser.add_argument("--mpesa-rate", type=float, default=None, help="Daraja's limit (429)")
    parser.add_argument(
        "--fake-in-process",
        action="store_true",
        help="run the fake Daraja in this process (its CPU then counts as ours)",
    )
    run_in_work_folder(parser, "karakana-payouts-", main)
