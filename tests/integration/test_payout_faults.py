"""Kill the payout process with SIGKILL at random moments, restart it, and check the money.

Whatever the fake M-Pesa does (accept, fail, lose the request, hang, answer 500 after paying,
send its result before the answer, late, twice, out of order or never) and wherever the process
dies: every ledger transfer balances; per artisan paid + in flight + available == earned; M-Pesa
accepted each payout at most once; every payment M-Pesa made is recorded as paid, and every
payout ends paid or failed — nothing is lost.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
from pathlib import Path

from domain import ledger
from domain.model import PayoutStatus
from domain.store import Store
from tests.conftest import FakeClock
from tests.fakes.daraja_api import Answer, Callback, Plan
from tests.integration.mpesa_harness import all_payouts, approved_batch, mpesa_harness

ROOT = Path(__file__).resolve().parents[2]
ARTISANS = 16
KILLS = 5


def random_plans(rng: random.Random, count: int) -> list[Plan]:
    plans = []
    for _ in range(count):
        code = rng.choice([0, 0, 0, 0, 1, 2040, 17])
        answer = rng.choice([Answer.NORMAL] * 4 + list(Answer))
        callback = rng.choice(list(Callback))
        plans.append(Plan(result_code=code, answer=answer, callback=callback))
    return plans


async def start_worker(
    database_url: str, daraja_url: str, callbacks_url: str
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.integration.payout_worker",
        database_url,
        daraja_url,
        callbacks_url,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


async def test_a_payout_batch_killed_at_random_points_pays_everyone_exactly_once(
    store: Store, sqlite_url: str, clock: FakeClock
) -> None:
    seed = random.randrange(1_000_000)
    rng = random.Random(seed)
    earnings = [rng.randrange(1, 40) * 10_000 for _ in range(ARTISANS)]
    _, artisans = await approved_batch(store, clock.now(), earnings)

    async with mpesa_harness(store, clock.now, request_timeout=0.5, hang=1.0) as h:
        h.daraja.plan(*random_plans(rng, ARTISANS * 2))
        for _ in range(KILLS):
            worker = await start_worker(sqlite_url, h.daraja.base_url, h.callbacks_url)
            await asyncio.sleep(rng.uniform(0.4, 2.0))
            if worker.returncode is None:
                worker.send_signal(signal.SIGKILL)
            await worker.wait()
        for _ in range(6):  # then let it finish, as often as it takes to settle what is in doubt
            worker = await start_worker(sqlite_url, h.daraja.base_url, h.callbacks_url)
            assert await worker.wait() == 0, f"seed {seed}"
            await h.settle()  # our routes' resends too, and the callbacks they bring
            if all(
                p.status in (PayoutStatus.SUCCEEDED, PayoutStatus.FAILED)
                for p in await all_payouts(store)
            ):
                break

    payouts = await all_payouts(store)
    assert {p.status for p in payouts} <= {PayoutStatus.SUCCEEDED, PayoutStatus.FAILED}, seed
    assert max(h.daraja.accepted.values()) == 1, seed
    paid_at_mpesa = h.daraja.paid
    for payout in payouts:
        made = paid_at_mpesa.get(payout.originator_conversation_id)
        if payout.status is PayoutStatus.SUCCEEDED:
            assert made is not None, seed
            assert made.receipt == payout.mpesa_receipt, seed
            assert made.amount * 100 == payout.amount_cents, seed
        else:
            assert made is None, f"M-Pesa paid a payout we recorded as failed (seed {seed})"
    async with store.read() as session:
        assert (await ledger.trial_balance(session)).balanced, seed
        for artisan, earned in zip(artisans, earnings, strict=True):
            b = await ledger.artisan_balance(session, artisan)
            assert b.earned_cents == earned, seed
            assert b.in_flight_cents == 0, seed
            assert b.paid_cents + b.available_cents == earned, seed
            mine = [p for p in payouts if p.artisan_id == artisan]
            assert b.paid_cents == sum(
                p.amount_cents for p in mine if p.status is PayoutStatus.SUCCEEDED
            ), seed
