"""Soak: 10,000 artisans over 8 simulated weeks through the conversation engine (not a test).

    .venv/bin/python bench/bench_soak.py                     # 10,000 artisans, 8 weeks
    .venv/bin/python bench/bench_soak.py --weeks 3 --tracemalloc 12   # what grows, and where

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
menu and look at their jobs, earnings or score. The store is built as bot/main.py builds it
(SQLite on the event loop's thread). Each artisan is offered one lot in the whole soak.

At the end of every week memory is sampled: RSS and its anonymous part; glibc malloc's bytes in
use and held free; SQLite's own count (its page caches); the database's size; SQLAlchemy's
compiled-statement cache; Python's small-object arenas and the bytes live in them; live Python
objects; what the fake M-Pesa's records of the payments hold (objects and bytes: the test's
truth, kept for the end checks; its logs of request and callback bodies are dropped every week);
and RSS net of those records. ``--tracemalloc FRAMES`` adds Python's traced memory, the week's
peak, and on stderr what grew most week to week by traceback and how much of it the fake made.

At the end a last batch pays whatever is owed, and: every message is processed and answered;
every submission the engine was told about is stored with its count; every job's tally holds
(domain.quantities: accepted + rejected <= submitted <= allocated <= ordered); the ledger
balances; per artisan paid + in flight + available == earned with nothing in flight or left
unpaid, and earnings are exactly the pieces received times the rate; M-Pesa accepted each payout
once, and each payout paid has exactly one receipt message to its artisan.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import ctypes.util
import gc
import itertools
import json
import os
import random
import sys
import tempfile
import time
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
from sqlmodel import SQLModel, col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.applications import Starlette

import domain.model
from bench.work_folder import run_in_work_folder
from bot.db.sqlite_inline import connect_inline
from bot.payments.daraja import DarajaClient
from bot.payments.routes import mpesa_routes
from bot.payments.runner import PayoutRunner
from conversations.engine import Engine
from conversations.i18n import default_catalogue
from conversations.messages import Incoming, MediaItem
from conversations.registry import REGISTRY
from domain import events, ledger, payouts, quantities
from domain.model import (
    ARTISAN_TRANSITIONS,
    Allocation,
    ArtisanProfile,
    ArtisanSkill,
    ArtisanStatus,
    Channel,
    ChannelIdentity,
    DeliveryMethod,
    InboundMessage,
    InboundStatus,
    Job,
    Language,
    OutboxMessage,
    PayoutStatus,
    Person,
    QcReason,
    Role,
    Submission,
)
from domain.phone import normalise_kenyan_mobile
from domain.services import deliveries, offers, people, work
from domain.services.guards import clean_skill, clean_text
from domain.store import Store
from tests.conftest import FakeClock
from tests.fakes.daraja_api import FakeDaraja, Plan
from tests.integration.factory_fixtures import build_factory, place_order
from tests.integration.mpesa_harness import CALLBACK_TOKEN, LateGateway, daraja_config, notifier

T = TypeVar("T")
SKU, COMPONENT, SKILL = "BANGLE-BRASS", "BRASS-BANGLE", "brass smithing"
PIECES = 6  # a lot
PART = 4  # what an artisan who takes part of a lot makes
CAPACITY = 200  # pieces a week each artisan says they can make
BROWSE = ("2", "5", "7")  # the menu's jobs, earnings, score


def held_by(*roots: object) -> tuple[int, int]:
    """What ``roots`` hold: how many garbage-collected objects are reachable from them (the
    roots excluded, as in ``gc.get_objects()``), and the bytes of everything reachable (the
    roots, strings and numbers included, by ``sys.getsizeof``), classes and modules excepted
    (every instance refers to its class)."""
    seen: set[int] = set()
    objects, size = 0, sum(sys.getsizeof(root) for root in roots)
    stack = [r for root in roots for r in gc.get_referents(root)]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, type | ModuleType):
            continue
        seen.add(id(obj))
        objects += gc.is_tracked(obj)
        size += sys.getsizeof(obj)
        stack.extend(gc.get_referents(obj))
    return objects, size


MIB = 2**20


def smaps_rollup() -> dict[str, float]:
    """The process's resident memory by kind, in MiB (Linux's /proc/self/smaps_rollup)."""
    sizes = {}
    with open("/proc/self/smaps_rollup") as rollup:
        for line in rollup:
            name, _, rest = line.partition(":")
            if rest.strip().endswith("kB"):
                sizes[name] = int(rest.split()[0]) / 1024
    return sizes


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",  # bytes glibc took with brk/in its arenas
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",  # bytes in chunks mmapped one by one (large allocations)
            "usmblks",
            "fsmblks",
            "uordblks",  # bytes allocated and not freed, in the arenas
            "fordblks",  # bytes free in the arenas: held by malloc for reuse
            "keepcost",
        )
    ]


class NativeMemory:
    """What the C allocators say: glibc's malloc (mallinfo2, every arena) and SQLite's own
    count of the memory it holds (page caches, schemas, prepared statements, all connections).
    tracemalloc sees neither: it traces only Python's allocators."""

    def __init__(self) -> None:
        self._libc = ctypes.CDLL(ctypes.util.find_library("c"))
        self._libc.mallinfo2.restype = _MallInfo2
        self._libc.malloc_trim.argtypes = [ctypes.c_size_t]
        # The same library the sqlite3 module is linked to: one process, one set of counters.
        self._sqlite = ctypes.CDLL(ctypes.util.find_library("sqlite3"))
        self._sqlite.sqlite3_memory_used.restype = ctypes.c_int64

    def sample(self) -> dict[str, float]:
        info = self._libc.mallinfo2()
        return {
            "malloc_used_mib": round((info.uordblks + info.hblkhd) / MIB, 1),
            "malloc_free_mib": round(info.fordblks / MIB, 1),
            "sqlite_mib": round(self._sqlite.sqlite3_memory_used() / MIB, 1),
        }

    def trim(self) -> None:
        """Hand malloc's free pages back to the kernel (what it would keep for reuse)."""
        self._libc.malloc_trim(0)


def pymalloc() -> dict[str, float]:
    """Python's small-object allocator: its arenas (1 MiB each, given back to the kernel only
    when wholly empty) and the bytes of live objects in them (``sys._debugmallocstats``, which
    writes to the C-level stderr)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+") as out:
        os.dup2(out.fileno(), 2)
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        out.seek(0)
        stats = {
            name.strip(): float(value.replace(",", ""))
            for name, _, value in (line.partition("=") for line in out)
            if name.startswith("# ")
        }
    return {
        "pymalloc_arenas_mib": round(stats["# arenas allocated current"], 1),
        "pymalloc_used_mib": round(stats["# bytes in allocated blocks"] / MIB, 1),
    }


def memory(
    store: Store, daraja: FakeDaraja, native: NativeMemory, database: Path, *, trim: bool
) -> dict[str, Any]:
    """Where the process's memory is at the end of a week (after a full collection)."""
    gc.collect()
    rollup = smaps_rollup()
    sample: dict[str, Any] = {
        "rss_mib": round(rollup["Rss"], 1),
        "anon_mib": round(rollup["Anonymous"], 1),
        **native.sample(),
        **pymalloc(),
        "db_mib": round(sum(f.stat().st_size for f in database.parent.iterdir()) / MIB, 1),
        "compiled_cache": len(getattr(store.engine.sync_engine, "_compiled_cache", None) or ()),
        "pooled_connections": store.engine.sync_engine.pool.checkedin(),  # type: ignore[attr-defined]
        "python_objects": len(gc.get_objects()),
    }
    # The fake M-Pesa's own records of the payments (its truth, which the end checks read)
    # grow with them; Karakana's share is the rest.
    sample["held_by_fake_mpesa"], fake_bytes = held_by(
        daraja.b2c_requests,
        daraja.status_requests,
        daraja.callbacks,
        daraja.payments,
        daraja.paid,
        daraja.accepted,
    )
    sample["fake_mpesa_mib"] = round(fake_bytes / MIB, 2)
    # Karakana's share: the fake's records are the test's truth, kept for the end checks.
    sample["rss_net_mib"] = round(rollup["Rss"] - fake_bytes / MIB, 1)
    if trim:
        native.trim()
        sample["rss_trimmed_mib"] = round(rss_mib(), 1)
    return sample


NOT_TRACEMALLOC = (
    tracemalloc.Filter(False, tracemalloc.__file__),
    tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
    tracemalloc.Filter(False, "<frozen importlib._bootstrap_external>"),
)


def print_growth(
    title: str, now: tracemalloc.Snapshot, before: tracemalloc.Snapshot, args: argparse.Namespace
) -> None:
    """The allocations still live that grew most between two snapshots, by where they were made
    (the whole traceback), on stderr; and how much of the growth the fake M-Pesa made (a frame
    in tests/fakes/: its records), which needs ``--tracemalloc`` with enough frames to see."""
    growth = now.compare_to(before, "traceback")
    total = sum(s.size_diff for s in growth)
    fake = sum(
        s.size_diff for s in growth if any("tests/fakes/" in f.filename for f in s.traceback)
    )
    print(
        f"== tracemalloc {title}: {total / 1024:+,.0f} KiB in all, {fake / 1024:+,.0f} KiB of it "
        f"made by the fake M-Pesa, {(total - fake) / 1024:+,.0f} KiB elsewhere",
        file=sys.stderr,
    )
    for stat in [s for s in growth if s.size_diff > 0][: args.trace_top]:
        print(
            f"{stat.size_diff / 1024:+,.1f} KiB, {stat.count_diff:+,} blocks "
            f"(now {stat.size / 1024:,.1f} KiB)",
            file=sys.stderr,
        )
        for line in stat.traceback.format(most_recent_first=True):
            print("   " + line, file=sys.stderr)


def rss_mib() -> float:
    return smaps_rollup()["Rss"]


class Soak:
    def __init__(self, store: Store, clock: FakeClock, rng: random.Random) -> None:
        self.store = store
        self.clock = clock
        self.rng = rng
        self.engine = Engine(store, registry=REGISTRY)
        self.ids = itertools.count(1)
        self.messages = 0
        self.catalogue = default_catalogue()

    async def act(self, step: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """A domain step in one transaction, its events queued as messages, as the engine does."""
        async with self.store.transaction() as session:
            result = await step(session)
            await REGISTRY.notify(
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
    """``count`` verified artisans, each with a WhatsApp number and the brass smithing skill.

    The first registers and is verified through ``domain.services.people``; the others are
    written in bulk, 1,000 a transaction, as the same rows with each field cleaned by the same
    rules, and checked against the first (``bulk_like_registered``). Registering one at a time
    cost about 7 ms an artisan (74 s for 10,000), none of it part of what the soak measures.
    """
    now = soak.clock.now()
    async with soak.store.transaction() as session:
        first = await people.register_artisan(
            session, **artisan_fields(0), skills={SKILL: CAPACITY}, now=now
        )
        assert first.id is not None
        await people.verify_artisan(session, artisan_id=first.id, agent_id=agent, now=now)
        events.drain(session)
    artisans = [(first.id, artisan_fields(0)["address"])]
    skill = clean_skill(SKILL)
    # A field agent's visit moves a pending artisan to active, by the same state machine.
    verified = ARTISAN_TRANSITIONS.check(ArtisanStatus.PENDING, ArtisanStatus.ACTIVE)
    for start in range(1, count, 1000):
        numbers = range(start, min(count, start + 1000))
        fields = [artisan_fields(i) for i in numbers]
        async with soak.store.transaction() as session:
            persons = [
                Person(
                    name=clean_text(f["name"], field="name", max_length=80),
                    role=Role.ARTISAN,
                    language=f["language"],
                    area=clean_text(f["area"], field="area", max_length=60),
                    created_at=now,
                )
                for f in fields
            ]
            session.add_all(persons)
            await session.flush()
            for person, f in zip(persons, fields, strict=True):
                assert person.id is not None
                address = clean_text(f["address"], field="channel address", max_length=64)
                session.add_all(
                    (
                        ChannelIdentity(person_id=person.id, channel=f["channel"], address=address),
                        ArtisanProfile(
                            person_id=person.id,
                            workshop=clean_text(f["workshop"], field="workshop", max_length=80),
                            mpesa_number=normalise_kenyan_mobile(f["mpesa_number"]),
                            status=verified,
                            verified_by=agent,
                            verified_at=now,
                        ),
                        ArtisanSkill(artisan_id=person.id, skill=skill, weekly_capacity=CAPACITY),
                    )
                )
                artisans.append((person.id, address))
        if start == 1:
            await bulk_like_registered(soak.store, first.id, artisans[1][0])
    return artisans


def artisan_fields(i: int) -> dict[str, Any]:
    """What artisan number ``i`` tells us when registering."""
    return {
        "name": f"Fundi {i}",
        "workshop": f"Karakana {i}",
        "area": "Kibera",
        "mpesa_number": f"07{50_000_000 + i:08d}",
        "language": Language.EN,
        "channel": Channel.WHATSAPP,
        "address": f"+2547{50_000_000 + i:08d}",
    }


async def bulk_like_registered(store: Store, registered: int, bulk: int) -> None:
    """The rows written in bulk for ``bulk`` are those registering and verifying wrote for
    ``registered``, but for the ids and what differs between the two artisans' answers."""
    own = {"id", "person_id", "artisan_id", "name", "workshop", "mpesa_number", "address"}
    async with store.read() as session:
        for table, key in (
            (Person, Person.id),
            (ChannelIdentity, ChannelIdentity.person_id),
            (ArtisanProfile, ArtisanProfile.person_id),
            (ArtisanSkill, ArtisanSkill.artisan_id),
        ):
            rows = [
                [
                    r.model_dump(exclude=own)
                    for r in await session.exec(select(table).where(key == i))
                ]
                for i in (registered, bulk)
            ]
            if rows[0] != rows[1] or len(rows[0]) != 1:
                raise SystemExit(f"bulk-seeded {table.__name__} {rows[1]} != registered {rows[0]}")


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
    routes = Starlette(
        routes=mpesa_routes(
            store, gateway=gateway, clock=clock.now, notify=notify, callback_token=CALLBACK_TOKEN
        )
    )
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


def forget_fake_logs(daraja: FakeDaraja) -> None:
    """Drop the fake M-Pesa's logs of every request and callback body, which tests inspect and
    nothing here reads: kept, they were most of the soak's RSS growth (docs/benchmarks.md,
    "Soak"). Its payments, what it paid and how often it accepted each stay: the end checks."""
    daraja.b2c_requests.clear()
    daraja.status_requests.clear()
    daraja.callbacks.clear()


@dataclass
class Week:
    lots: int = 0  # lots taken (accepted whole or in part)
    declined: int = 0
    pieces_submitted: int = 0
    rejected: int = 0


async def work_week(
    soak: Soak, args: argparse.Namespace, turn: Iterator[tuple[int, str]], agent: int, n: int
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
        artisan_id, address = next(turn, (0, ""))
        if not artisan_id:
            # Each artisan is offered one lot in the whole soak: the scripted answers (menu,
            # submit, ...) are those of an artisan with no other work open.
            raise SystemExit(
                f"week {n + 1}: every artisan has been offered a lot; give more --artisans "
                "(about 1.2 x --workers x --weeks) or fewer --workers or --weeks"
            )
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


async def main(args: argparse.Namespace, workdir: Path) -> None:
    rng = random.Random(args.seed)  # noqa: S311 (a simulation)
    database = workdir / "karakana.db"
    # The store as bot/main.py builds it: SQLite's calls on the event loop's thread.
    connect = None if args.aiosqlite_threads else connect_inline
    store = Store.from_url(f"sqlite+aiosqlite:///{database}", sqlite_connect=connect)
    async with store.engine.begin() as connection:
        await connection.run_sync(SQLModel.metadata.create_all)
    clock = FakeClock()
    soak = Soak(store, clock, rng)
    factory = await build_factory(store, clock)
    began = time.perf_counter()
    artisans = await seed_artisans(soak, args.artisans, factory.agent)
    seconds = time.perf_counter() - began
    print(f"{len(artisans):,} artisans registered and verified in {seconds:.1f} s", flush=True)
    turn = iter(artisans)
    addresses = dict(artisans)
    native = NativeMemory()
    if args.tracemalloc:  # from here: what the weeks allocate, not the imports and seeding
        tracemalloc.start(args.tracemalloc)
    samples: list[dict[str, Any]] = []
    snapshots: list[tracemalloc.Snapshot] = []
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
            forget_fake_logs(m.daraja)
            sample: dict[str, Any] = {
                "week": n + 1,
                "messages": soak.messages,
                "lots": week.lots,
                "declined": week.declined,
                "pieces_rejected": week.rejected,
                "paid": len(paid),
                **memory(store, m.daraja, native, database, trim=args.trim),
                "seconds": round(time.perf_counter() - began, 1),
            }
            if args.tracemalloc:
                current, peak = tracemalloc.get_traced_memory()
                sample["tracemalloc_mib"] = round(current / MIB, 2)
                # The week's high-water mark: a peak that rises week on week would show as RSS
                # (freed memory is kept by the allocators) while what is live stays flat.
                sample["tracemalloc_peak_mib"] = round(peak / MIB, 2)
                tracemalloc.reset_peak()
                snapshot = tracemalloc.take_snapshot().filter_traces(NOT_TRACEMALLOC)
                if snapshots:
                    print_growth(f"week {n} -> {n + 1}", snapshot, snapshots[-1], args)
                # The first week's and the last: every snapshot kept would show as growth.
                snapshots[1:] = [snapshot]
            samples.append(sample)
            print(json.dumps(sample), flush=True)
        if args.tracemalloc and args.weeks > 2:
            print_growth(f"week 1 -> {args.weeks}", snapshots[-1], snapshots[0], args)
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
                "rss_net_first_last_mib": [samples[0]["rss_net_mib"], samples[-1]["rss_net_mib"]],
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
        balances = await ledger.artisan_balances(session, [a for a, _ in artisans])
        for artisan_id, b in balances.items():
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
    parser.add_argument(
        "--tracemalloc",
        type=int,
        nargs="?",
        const=1,
        default=0,
        metavar="FRAMES",
        help="trace Python's allocations, keeping FRAMES frames each (1 if not given); "
        "prints on stderr what grew most week to week, by traceback",
    )
    parser.add_argument("--trace-top", type=int, default=8, help="tracebacks shown a week")
    parser.add_argument(
        "--trim",
        action="store_true",
        help="after each week's sample, malloc_trim(0) and sample RSS again (what malloc held "
        "free); changes what later weeks measure",
    )
    parser.add_argument(
        "--aiosqlite-threads",
        action="store_true",
        help="SQLite on aiosqlite's worker threads (as before bot/db/sqlite_inline.py)",
    )
    run_in_work_folder(parser, "karakana-soak-", main)
