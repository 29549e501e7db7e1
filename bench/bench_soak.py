"""Soak: 10,000 artisans over 8 simulated weeks through the conversation engine (not a test).

    .venv/bin/python bench/bench_soak.py                     # 10,000 artisans, 8 weeks
    .venv/bin/python bench/bench_soak.py --workers 100 --browsers 600 --tracemalloc

A fake clock walks through the weeks. Every Monday a retailer's order arrives and is offered to
the next ``--workers`` artisans in turn; each answers through the engine (ACCEPT, then the menu,
submit, a photo, done, the count, yes). The field agent passes the work, the artisan delivers it,
the workshop receives it (earnings accrue), and on Friday a payout batch pays everyone owed
(one payment in fifty fails at M-Pesa and is paid the week after). Meanwhile ``--browsers`` other
artisans a week open the menu and look at their earnings. Memory (RSS, and tracemalloc's current
size with ``--tracemalloc``) is sampled at the end of every week.

At the end: every message is processed and answered; every job's tally holds (domain.quantities);
the ledger balances; per artisan paid + in flight + available == earned, nothing is in flight,
and each artisan's earnings are exactly the pieces received times the rate.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import json
import random
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlmodel import SQLModel, col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

import domain.model
from conversations.engine import Engine
from conversations.i18n import default_catalogue
from conversations.messages import Incoming, MediaItem
from conversations.notifications import queue_notifications
from domain import events, ledger, payouts, quantities
from domain.model import (
    Allocation,
    Channel,
    DeliveryMethod,
    InboundMessage,
    InboundStatus,
    Job,
    Language,
    OutboxMessage,
    PayoutStatus,
    Submission,
)
from domain.services import deliveries, offers, people, work
from domain.store import Store
from tests.conftest import FakeClock
from tests.integration.production_factory import build_factory, place_order

T = TypeVar("T")
SKU, COMPONENT, SKILL = "BANGLE-BRASS", "BRASS-BANGLE", "brass smithing"
PIECES = 6


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class Soak:
    def __init__(self, store: Store, clock: FakeClock, rng: random.Random) -> None:
        self.store = store
        self.clock = clock
        self.rng = rng
        self.engine = Engine(store)
        self.ids = itertools.count(1)
        self.messages = 0
        self.catalogue = default_catalogue()

    async def act(self, step: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """A domain step in one transaction, its events queued as messages, as the engine does."""
        async with self.store.transaction() as session:
            result = await step(session)
            await queue_notifications(
                session, events.drain(session), catalogue=self.catalogue, now=self.clock.now()
            )
            return result

    async def say(self, address: str, text: str = "", *, photo: bool = False) -> None:
        self.clock.advance(seconds=20)
        n = next(self.ids)
        media = (MediaItem("image/jpeg", 40_000, f"media/wa/soak-{n}.jpg"),) if photo else ()
        incoming = Incoming(Channel.WHATSAPP, address, f"SMsoak{n}", text=text, media=media)
        await self.engine.handle(incoming, now=self.clock.now())
        self.messages += 1


async def seed_artisans(soak: Soak, count: int, agent: int) -> list[tuple[int, str]]:
    now = soak.clock.now()
    artisans = []
    for start in range(0, count, 500):
        async with soak.store.transaction() as session:
            for i in range(start, min(count, start + 500)):
                address = f"+2547{50_000_000 + i:08d}"
                person = await people.register_artisan(
                    session,
                    name=f"Fundi {i}",
                    workshop=f"Karakana {i}",
                    area="Kibera",
                    skills={SKILL: 200},
                    mpesa_number=f"07{50_000_000 + i:08d}",
                    language=Language.EN,
                    channel=Channel.WHATSAPP,
                    address=address,
                    now=now,
                )
                assert person.id is not None
                await people.verify_artisan(session, artisan_id=person.id, agent_id=agent, now=now)
                artisans.append((person.id, address))
            events.drain(session)
    return artisans


async def main(args: argparse.Namespace) -> None:
    if args.tracemalloc:
        tracemalloc.start()
    rng = random.Random(args.seed)  # noqa: S311 (a simulation)
    workdir = Path(tempfile.mkdtemp(prefix="karakana-soak-"))
    store = Store.from_url(f"sqlite+aiosqlite:///{workdir / 'karakana.db'}")
    async with store.engine.begin() as connection:
        await connection.run_sync(SQLModel.metadata.create_all)
    clock = FakeClock()
    soak = Soak(store, clock, rng)
    factory = await build_factory(store, clock)
    began = time.perf_counter()
    artisans = await seed_artisans(soak, args.artisans, factory.agent)
    seconds = time.perf_counter() - began
    print(f"{len(artisans):,} artisans registered and verified in {seconds:.0f} s", flush=True)
    turn = itertools.cycle(artisans)
    samples = []
    failed_payments = 0
    began = time.perf_counter()
    for week in range(args.weeks):
        monday = clock.now()
        order = await place_order(
            store, clock, reference=f"PO-W{week}", lines={SKU: args.workers * PIECES}
        )
        job_id = order.jobs[COMPONENT]
        workers = [next(turn) for _ in range(args.workers)]
        for artisan_id, address in workers:
            offer = await soak.act(
                lambda s, a=artisan_id, j=job_id: offers.make_offer(
                    s,
                    job_id=j,
                    artisan_id=a,
                    quantity=PIECES,
                    expires_at=clock.now() + timedelta(days=2),
                    now=clock.now(),
                )
            )
            await soak.say(address, f"ACCEPT {offer.id}")
            for text in ("menu", "3"):
                await soak.say(address, text)
            await soak.say(address, photo=True)
            for text in ("done", str(PIECES), "1"):
                await soak.say(address, text)
        browsers = rng.sample(artisans, args.browsers)
        for _, address in browsers:
            await soak.say(address, "menu")
            await soak.say(address, "5")

        # The field agent passes the week's work; it is delivered and received.
        async with store.read() as session:
            waiting = list(
                await session.exec(
                    select(Submission.id, Allocation.id, Allocation.artisan_id)
                    .join(Allocation, col(Allocation.id) == col(Submission.allocation_id))
                    .where(col(Allocation.job_id) == job_id)
                )
            )
        for submission_id, allocation_id, artisan_id in waiting:
            await soak.act(
                lambda s, sub=submission_id: work.review_submission(
                    s,
                    submission_id=sub,
                    reviewer_id=factory.agent,
                    passed=PIECES,
                    rejected=0,
                    reasons=[],
                    now=clock.now(),
                )
            )
            delivery = await soak.act(
                lambda s, al=allocation_id, ar=artisan_id: deliveries.arrange_delivery(
                    s,
                    allocation_id=al,
                    artisan_id=ar,
                    method=DeliveryMethod.DROP_OFF,
                    slot_start=clock.now() + timedelta(days=1),
                    quantity=PIECES,
                    now=clock.now(),
                )
            )
            await soak.act(
                lambda s, d=delivery.id: deliveries.record_receipt(
                    s,
                    delivery_id=d,
                    receiver_id=factory.agent,
                    received_quantity=PIECES,
                    now=clock.now(),
                )
            )

        # Friday: the payout batch, settled by a (simulated) M-Pesa.
        clock.advance(days=4)
        batch = await soak.act(
            lambda s: payouts.create_payout_batch(s, minimum_cents=100, now=clock.now())
        )
        if batch is not None:
            assert batch.id is not None
            batch_id = batch.id
            await soak.act(
                lambda s, b=batch_id: payouts.approve_batch(
                    s, batch_id=b, admin_id=factory.admin, now=clock.now()
                )
            )
            async with store.read() as session:
                keys = [
                    p.originator_conversation_id
                    for p in await payouts.batch_payouts(session, batch_id)
                ]
            for key in keys:
                await soak.act(
                    lambda s, k=key: payouts.mark_sending(
                        s, originator_conversation_id=k, now=clock.now()
                    )
                )
                if rng.random() < 0.02:
                    failed_payments += 1
                    await soak.act(
                        lambda s, k=key: payouts.settle_failure(
                            s, originator_conversation_id=k, result_code=1, now=clock.now()
                        )
                    )
                else:
                    await soak.act(
                        lambda s, k=key: payouts.settle_success(
                            s,
                            originator_conversation_id=k,
                            mpesa_receipt=f"SOAK{k[-10:]}".upper(),
                            now=clock.now(),
                        )
                    )
        clock.advance(days=7 - (clock.now() - monday).days)
        gc.collect()
        sample = {
            "week": week + 1,
            "messages": soak.messages,
            "rss_mib": round(rss_mib(), 1),
            "seconds": round(time.perf_counter() - began, 1),
        }
        sample["python_objects"] = len(gc.get_objects())
        if args.tracemalloc:
            sample["tracemalloc_mib"] = round(tracemalloc.get_traced_memory()[0] / 2**20, 2)
        samples.append(sample)
        print(json.dumps(sample), flush=True)

    # Whatever was still owed goes out in a last batch, all of it paid.
    problems = await check(store, soak, artisans, factory.admin, clock)
    await store.close()
    print(
        json.dumps(
            {
                "artisans": args.artisans,
                "weeks": args.weeks,
                "engine_messages": soak.messages,
                "failed_payments_retried": failed_payments,
                "rss_first_last_mib": [samples[0]["rss_mib"], samples[-1]["rss_mib"]],
                "problems": problems,
            }
        )
    )
    if problems:
        raise SystemExit(1)


async def check(
    store: Store, soak: Soak, artisans: list[tuple[int, str]], admin: int, clock: FakeClock
) -> list[str]:
    problems = []
    async with store.read() as session:
        inbound = (await session.exec(select(func.count()).select_from(InboundMessage))).one()
        unprocessed = (
            await session.exec(
                select(func.count()).where(InboundMessage.status != InboundStatus.PROCESSED)
            )
        ).one()
        unanswered = (
            await session.exec(
                select(func.count()).where(
                    col(InboundMessage.id).not_in(
                        select(OutboxMessage.in_reply_to).where(
                            col(OutboxMessage.in_reply_to).is_not(None)
                        )
                    )
                )
            )
        ).one()
        if inbound != soak.messages or unprocessed or unanswered:
            problems.append(
                f"messages: {soak.messages} sent, {inbound} stored, {unprocessed} unprocessed, "
                f"{unanswered} unanswered"
            )
        for job_id in await session.exec(select(Job.id)):
            assert job_id is not None
            try:
                await quantities.ensure_job_invariant(session, job_id)
            except Exception as exc:
                problems.append(f"job {job_id}: {exc}")
        if not (await ledger.trial_balance(session)).balanced:
            problems.append("the ledger does not balance")
        in_doubt = (
            await session.exec(
                select(func.count()).where(
                    col(domain.model.Payout.status).not_in(
                        (PayoutStatus.SUCCEEDED, PayoutStatus.FAILED)
                    )
                )
            )
        ).one()
        if in_doubt:
            problems.append(f"{in_doubt} payouts neither paid nor failed")
        rate = (
            await session.exec(
                select(domain.model.Component.piece_rate_cents).where(
                    domain.model.Component.code == COMPONENT
                )
            )
        ).one()
        received = dict(
            (
                await session.exec(
                    select(Allocation.artisan_id, func.sum(domain.model.Delivery.received_quantity))
                    .join(
                        Allocation, col(Allocation.id) == col(domain.model.Delivery.allocation_id)
                    )
                    .group_by(col(Allocation.artisan_id))
                )
            ).all()
        )
        for artisan_id, _ in artisans:
            b = await ledger.artisan_balance(session, artisan_id)
            if b.earned_cents != b.paid_cents + b.in_flight_cents + b.available_cents:
                problems.append(f"artisan {artisan_id}: {b}")
            if b.in_flight_cents:
                problems.append(f"artisan {artisan_id} has money in flight: {b}")
            if b.earned_cents != (received.get(artisan_id) or 0) * rate:
                problems.append(f"artisan {artisan_id} earned {b.earned_cents}, received x rate")
    return problems


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--artisans", type=int, default=10_000)
    parser.add_argument("--weeks", type=int, default=8)
    parser.add_argument("--workers", type=int, default=40, help="artisans given work a week")
    parser.add_argument("--browsers", type=int, default=150, help="others who look, a week")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tracemalloc", action="store_true")
    asyncio.run(main(parser.parse_args()))
