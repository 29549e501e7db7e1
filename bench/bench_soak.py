"""Soak: 10,000 artisans over 8 simulated weeks through the conversation engine (not a test).

    .venv/bin/python bench/bench_soak.py                     # 10,000 artisans, 8 weeks
    .venv/bin/python bench/bench_soak.py --workers 100 --browsers 600 --tracemalloc

A fake clock walks through the weeks. Every Monday a retailer's order arrives and its lots are
offered, one artisan after another in turn, to ``--workers`` artisans. Each answers through the
engine: most ``ACCEPT`` it, some take part of it (``PART <id> 4``), some ``DECLINE`` it with a
reason (the lot then goes to the next artisan). Each who took work submits it through the engine
(the menu, submit, a photo, done, the count, yes). The field agent reviews it (one submission in
ten has a piece or two rejected, which become rework), the artisan delivers the passed pieces and
the workshop receives them (earnings accrue). On Friday a payout batch is made and approved and
the real ``PayoutRunner`` pays it through the real ``DarajaClient`` and the fake Daraja, in
process, whose result callbacks reach the real M-Pesa callback routes, which queue each
artisan's receipt (one payment in fifty fails at M-Pesa and is paid the week after); then every
artisan paid looks at their earnings. Meanwhile ``--browsers`` other artisans a week open the
menu and look at their jobs, earnings or score. Memory (RSS, live Python objects, and
tracemalloc's current size with ``--tracemalloc``) is sampled at the end of every week.

At the end a last batch pays whatever is owed, and: every message is processed and answered;
every submission the engine was told about is stored with its count; every job's tally holds
(domain.quantities: accepted + rejected <= submitted <= allocated <= ordered); the ledger
balances; per artisan paid + in flight + available == earned with nothing in flight or left
unpaid, and earnings are exactly the pieces received times the rate; M-Pesa accepted each payout
once, and each payout paid has exactly one receipt message to its artisan.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import itertools
import json
import random
import sys
import tempfile
import time
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
from sqlmodel import SQLModel, col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.applications import Starlette

import domain.model
from bot.mpesa import DarajaClient
from bot.mpesa_routes import mpesa_routes
from bot.payout_runner import PayoutRunner
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
    QcReason,
    Submission,
)
from domain.services import deliveries, offers, people, work
from domain.store import Store
from tests.conftest import FakeClock
from tests.fakes.daraja_api import FakeDaraja, Plan
from tests.integration.mpesa_harness import LateGateway, daraja_config, notifier
from tests.integration.production_factory import build_factory, place_order

T = TypeVar("T")
SKU, COMPONENT, SKILL = "BANGLE-BRASS", "BRASS-BANGLE", "brass smithing"
PIECES = 6  # a lot
PART = 4  # what an artisan who takes part of a lot makes
BROWSE = ("2", "5", "7")  # the menu's jobs, earnings, score


def objects_held_by(*roots: object) -> int:
    """How many garbage-collected objects are reachable from ``roots`` (the roots excluded),
    not counting classes and modules (every instance refers to its class)."""
    seen: set[int] = set()
    stack = [r for root in roots for r in gc.get_referents(root)]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or not gc.is_tracked(obj) or isinstance(obj, type | ModuleType):
            continue
        seen.add(id(obj))
        stack.extend(gc.get_referents(obj))
    return len(seen)


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


@dataclass
class Mpesa:
    """The payout runner wired to the fake Daraja in process: no sockets, real HTTP handling."""

    runner: PayoutRunner
    daraja: FakeDaraja
    client: DarajaClient


@contextlib.asynccontextmanager
async def mpesa(store: Store, clock: FakeClock) -> AsyncIterator[Mpesa]:
    gateway = LateGateway()
    notify = notifier()
    routes = Starlette(routes=mpesa_routes(store, gateway=gateway, clock=clock.now, notify=notify))
    fake = FakeDaraja(callback_transport=httpx.ASGITransport(app=routes))
    async with (
        fake.in_process() as daraja,
        DarajaClient(
            daraja_config(daraja.base_url, "http://karakana.test", timeout=30.0),
            transport=httpx.ASGITransport(app=daraja.app),
        ) as client,
    ):
        gateway.client = client
        yield Mpesa(PayoutRunner(store, client, clock=clock.now, notify=notify), daraja, client)


async def pay_everyone_owed(soak: Soak, m: Mpesa, admin: int, failure_rate: float) -> list[int]:
    """Friday's batch, approved and sent; the artisans it paid (not those whose payment failed)."""
    now = soak.clock.now
    batch = await soak.act(lambda s: payouts.create_payout_batch(s, minimum_cents=100, now=now()))
    if batch is None:
        return []
    assert batch.id is not None
    batch_id = batch.id
    await soak.act(lambda s: payouts.approve_batch(s, batch_id=batch_id, admin_id=admin, now=now()))
    async with soak.store.read() as session:
        count = len(await payouts.batch_payouts(session, batch_id))
    # 1: the float is short (a temporary failure; the money is paid in the next batch).
    m.daraja.plan(
        *(Plan(result_code=1 if soak.rng.random() < failure_rate else 0) for _ in range(count))
    )
    await m.runner.run()
    for _ in range(5):  # answers lost on the way are settled by a status query, as in production
        await m.daraja.drain()
        async with soak.store.read() as session:
            if not await payouts.payouts_in_doubt(session):
                break
        await m.runner.run()
    async with soak.store.read() as session:
        return [
            p.artisan_id
            for p in await payouts.batch_payouts(session, batch_id)
            if p.status is PayoutStatus.SUCCEEDED
        ]


@dataclass
class Week:
    lots: int = 0  # lots taken (accepted whole or in part)
    declined: int = 0
    pieces_submitted: int = 0
    rejected: int = 0


async def work_week(
    soak: Soak, args: argparse.Namespace, turn: itertools.cycle[tuple[int, str]], agent: int, n: int
) -> tuple[Week, dict[int, str]]:
    """Monday's order offered, answered, made, submitted, reviewed, delivered and received."""
    clock, rng = soak.clock, soak.rng
    order = await place_order(
        soak.store, clock, reference=f"PO-W{n}", lines={SKU: args.workers * PIECES}
    )
    job_id = order.jobs[COMPONENT]
    week = Week()
    working: dict[int, str] = {}
    while week.lots < args.workers:
        artisan_id, address = next(turn)
        offer = await soak.act(
            partial(
                offers.make_offer,
                job_id=job_id,
                artisan_id=artisan_id,
                quantity=PIECES,
                expires_at=clock.now() + timedelta(days=2),
                now=clock.now(),
            )
        )
        draw = rng.random()
        if draw < args.decline:
            await soak.say(address, f"DECLINE {offer.id} busy")
            week.declined += 1
            continue  # the lot goes to the next artisan in turn
        pieces = PART if draw < args.decline + args.part else PIECES
        await soak.say(
            address, f"PART {offer.id} {pieces}" if pieces == PART else f"ACCEPT {offer.id}"
        )
        for text in ("menu", "3"):
            await soak.say(address, text)
        await soak.say(address, photo=True)
        for text in ("done", str(pieces), "1"):
            await soak.say(address, text)
        week.lots += 1
        week.pieces_submitted += pieces
        working[artisan_id] = address

    # The field agent reviews the week's work; passed pieces are delivered and received.
    async with soak.store.read() as session:
        waiting = list(
            await session.exec(
                select(Submission.id, Submission.count, Allocation.id, Allocation.artisan_id)
                .join(Allocation, col(Allocation.id) == col(Submission.allocation_id))
                .where(col(Allocation.job_id) == job_id)
            )
        )
    if (len(waiting), sum(q for _, q, _, _ in waiting)) != (week.lots, week.pieces_submitted):
        raise SystemExit(f"week {n + 1}: the engine stored {waiting!r}, not what was submitted")
    for submission_id, quantity, allocation_id, artisan_id in waiting:
        assert submission_id is not None
        assert allocation_id is not None
        rejected = rng.choice((1, 2)) if rng.random() < args.qc_reject else 0
        week.rejected += rejected
        await soak.act(
            partial(
                work.review_submission,
                submission_id=submission_id,
                reviewer_id=agent,
                passed=quantity - rejected,
                rejected=rejected,
                reasons=[QcReason.POOR_FINISH] if rejected else [],
                now=clock.now(),
            )
        )
        delivery = await soak.act(
            partial(
                deliveries.arrange_delivery,
                allocation_id=allocation_id,
                artisan_id=artisan_id,
                method=DeliveryMethod.DROP_OFF,
                slot_start=clock.now() + timedelta(days=1),
                quantity=quantity - rejected,
                now=clock.now(),
            )
        )
        assert delivery.id is not None
        await soak.act(
            partial(
                deliveries.record_receipt,
                delivery_id=delivery.id,
                receiver_id=agent,
                received_quantity=quantity - rejected,
                now=clock.now(),
            )
        )
    return week, working


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
    addresses = dict(artisans)
    samples = []
    began = time.perf_counter()
    async with mpesa(store, clock) as m:
        for n in range(args.weeks):
            monday = clock.now()
            week, _ = await work_week(soak, args, turn, factory.agent, n)
            for _, address in rng.sample(artisans, args.browsers):
                await soak.say(address, "menu")
                await soak.say(address, rng.choice(BROWSE))

            clock.advance(days=4)  # Friday: paid, and those paid look at their earnings
            paid = await pay_everyone_owed(soak, m, factory.admin, args.payment_failures)
            for artisan_id in paid:
                await soak.say(addresses[artisan_id], "menu")
                await soak.say(addresses[artisan_id], "5")
            clock.advance(days=7 - (clock.now() - monday).days)
            gc.collect()
            sample: dict[str, object] = {
                "week": n + 1,
                "messages": soak.messages,
                "lots": week.lots,
                "declined": week.declined,
                "pieces_rejected": week.rejected,
                "paid": len(paid),
                "rss_mib": round(rss_mib(), 1),
                "python_objects": len(gc.get_objects()),
                # The fake M-Pesa's own records of every request and payment (its truth, which
                # the end checks read) grow with the payments; Karakana's share is the rest.
                "held_by_fake_mpesa": objects_held_by(
                    m.daraja.b2c_requests,
                    m.daraja.status_requests,
                    m.daraja.callbacks,
                    m.daraja.payments,
                    m.daraja.paid,
                    m.daraja.accepted,
                ),
                "seconds": round(time.perf_counter() - began, 1),
            }
            if args.tracemalloc:
                sample["tracemalloc_mib"] = round(tracemalloc.get_traced_memory()[0] / 2**20, 2)
            samples.append(sample)
            print(json.dumps(sample), flush=True)
        # Whatever is still owed (payments that failed last Friday) goes out, all of it paid.
        await pay_everyone_owed(soak, m, factory.admin, 0.0)
        problems = await check(store, soak, artisans, clock)
        accepted_most = max(m.daraja.accepted.values(), default=0)
        if accepted_most > 1:
            problems.append(f"M-Pesa accepted a payout {accepted_most} times")
        problems += await receipts_told(store, m.daraja)
    await store.close()
    print(
        json.dumps(
            {
                "artisans": args.artisans,
                "weeks": args.weeks,
                "engine_messages": soak.messages,
                "messages_per_week": round(soak.messages / args.weeks),
                "payments_at_mpesa": len(m.daraja.accepted),
                "failed_payments_retried": sum(
                    1 for p in m.daraja.payments.values() if p.receipt is None
                ),
                "rss_first_last_mib": [samples[0]["rss_mib"], samples[-1]["rss_mib"]],
                "seconds": round(time.perf_counter() - began, 1),
                "problems": problems[:20],
            }
        )
    )
    if problems:
        raise SystemExit(1)


async def receipts_told(store: Store, daraja: FakeDaraja) -> list[str]:
    """Each payout M-Pesa paid is recorded with its receipt, told to its artisan exactly once."""
    problems = []
    async with store.read() as session:
        told: dict[int | None, list[str]] = {}
        # Notices only: the earnings screen an artisan asks for also shows recent receipts.
        for person_id, body in await session.exec(
            select(OutboxMessage.person_id, OutboxMessage.body).where(
                col(OutboxMessage.in_reply_to).is_(None)
            )
        ):
            told.setdefault(person_id, []).append(body)
        for payout in await session.exec(select(domain.model.Payout)):
            made = daraja.paid.get(payout.originator_conversation_id)
            if (payout.status is PayoutStatus.SUCCEEDED) != (made is not None):
                problems.append(f"payout {payout.id} is {payout.status}, M-Pesa says {made}")
            elif made is not None and made.receipt != payout.mpesa_receipt:
                problems.append(f"payout {payout.id}: receipt {payout.mpesa_receipt} != {made}")
            elif made is not None:
                receipt = payout.mpesa_receipt or "?"
                if sum(receipt in body for body in told.get(payout.artisan_id, [])) != 1:
                    problems.append(f"payout {payout.id}: not exactly one receipt message")
    return problems


async def check(
    store: Store, soak: Soak, artisans: list[tuple[int, str]], clock: FakeClock
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
            if b.in_flight_cents or b.available_cents:
                problems.append(f"artisan {artisan_id} has money in flight or unpaid: {b}")
            if b.earned_cents != (received.get(artisan_id) or 0) * rate:
                problems.append(f"artisan {artisan_id} earned {b.earned_cents}, received x rate")
    return problems


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--artisans", type=int, default=10_000)
    parser.add_argument("--weeks", type=int, default=8)
    parser.add_argument("--workers", type=int, default=200, help="lots taken a week")
    parser.add_argument("--browsers", type=int, default=500, help="others who look, a week")
    parser.add_argument("--decline", type=float, default=0.15, help="share of offers declined")
    parser.add_argument("--part", type=float, default=0.10, help="share taken in part")
    parser.add_argument("--qc-reject", type=float, default=0.10, help="submissions with rejects")
    parser.add_argument("--payment-failures", type=float, default=0.02)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tracemalloc", action="store_true")
    asyncio.run(main(parser.parse_args()))
