"""Inbound chat throughput and latency of the real ``karakana run`` server (not part of the tests).

    .venv/bin/python bench/bench_inbound.py                           # SQLite, one process
    .venv/bin/python bench/bench_inbound.py --workers 2 \
        --postgres postgresql+asyncpg://postgres@127.0.0.1:5432/postgres

Thousands of verified artisans, half on WhatsApp (Twilio-signed form webhooks) and half on
Telegram (JSON updates with the secret token), each with an open offer, go through the chats they
really have: the menu, their offers, ACCEPT, submitting finished work with a photo, a count and a
confirmation, then the menu, earnings, jobs and score. Each artisan sends its next message only
once the reply to the last one arrived, as a person does. An artisan in the middle of that first
story writes again next; one who is only browsing goes to the back of the queue.

Latency is from the webhook's first byte to the first reply reaching the fake provider (the fake
Twilio's Messages API or the fake Telegram's sendMessage): it includes the outbox dispatcher and
the provider call, so it is an upper bound on "webhook to reply in the outbox".

Phases, in one run against the same processes:

1. the ceiling: a bare Starlette endpoint (its own uvicorn process) that only parses the same
   Twilio form, closed loop with ``--concurrency`` requests in flight;
2. Karakana saturated: ``--concurrency`` artisans with a message in flight at once;
3. Karakana at fixed arrival rates (``--rates``, open loop): achieved rate, p50, p99.

The fake providers and the load generator share one process; the server (or each of
``--workers`` servers, which share the database and get artisans round-robin, as a load balancer
would spread them) runs in its own process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import sys
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from sqlmodel import func, select  # noqa: E402

from bench.work_folder import add_keep_option, work_folder  # noqa: E402
from domain.model import (  # noqa: E402
    Channel,
    Component,
    CustomerKind,
    Job,
    Language,
    Offer,
    OfferStatus,
    Person,
    Role,
    Submission,
)
from domain.services import offers, orders, people  # noqa: E402
from domain.store import Store  # noqa: E402
from tests.e2e.server_process import ServerProcess, free_port  # noqa: E402
from tests.fakes.telegram_api import FakeTelegram  # noqa: E402
from tests.fakes.twilio_api import FakeTwilio  # noqa: E402

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 8 + b"\xff\xd9"
WEBHOOK_SECRET = "bench-telegram-webhook-secret-0123456789"  # noqa: S105 (a fake)
PRODUCT = "HRN-PND-01"  # the demo's horn pendant: horn crescent + brass bail + beaded cord
COMPONENT_SKILL = "horn_carving"
PIECES = 10
FIRST_FLOW = 10  # messages from the menu to a submitted piece of work; then browsing


# --- the world -----------------------------------------------------------------------------------


@dataclass
class Artisan:
    index: int
    channel: Channel
    address: str  # +2547... on WhatsApp, the chat id on Telegram
    offer_id: int = 0
    worker: int = 0
    step: int = 0
    reply: asyncio.Future[float] | None = None

    def script(self) -> list[tuple[str, bool]]:
        """(text, with a photo) in the order a real artisan sends them, then browsing forever."""
        first = [
            ("menu", False),
            ("1", False),  # job offers
            ("1", False),  # the one open offer
            ("1", False),  # accept all of it
            ("menu", False),
            ("3", False),  # submit finished work: one job, so straight to photos
            ("", True),  # a photo
            ("done", False),
            (str(PIECES), False),
            ("1", False),  # yes, submit
        ]
        browse = [("menu", False), ("5", False), ("menu", False), ("2", False), ("menu", False)]
        browse += [("7", False)]
        return first + browse

    def next_message(self) -> tuple[str, bool]:
        script = self.script()
        first = FIRST_FLOW
        if self.step < first:
            message = script[self.step]
        else:
            message = script[first + (self.step - first) % (len(script) - first)]
        self.step += 1
        return message


async def seed(store: Store, count: int) -> list[Artisan]:
    """``count`` verified artisans (alternating WhatsApp and Telegram), each with an open offer.

    Orders are kept to 50 artisans' worth each: one 20,000-piece order overflows PostgreSQL's
    32-bit integers in the status report's order value (see docs/benchmarks.md).
    """
    now = datetime.now(UTC)
    artisans: list[Artisan] = []
    async with store.read() as session:
        agent = (await session.exec(select(Person).where(Person.role == Role.FIELD_AGENT))).first()
        assert agent is not None, "the demo seed has field agents"
        assert agent.id is not None
        agent_id = agent.id
    batch = 50
    for start in range(0, count, batch):
        size = min(count, start + batch) - start
        async with store.transaction() as session:
            customer = await orders.get_or_create_customer(
                session, name="Bench Retail Ltd", kind=CustomerKind.RETAILER
            )
            assert customer.id is not None
            order = await orders.create_order(
                session,
                customer_id=customer.id,
                reference=f"BENCH-{uuid.uuid4().hex[:8]}",
                due_date=now.date() + timedelta(days=28),
                lines=[(PRODUCT, size * PIECES)],
                now=now,
            )
            assert order.id is not None
            jobs = await orders.confirm_order(session, order.id, now=now)
            horn = None
            for job in jobs:
                component = await session.get(Component, job.component_id)
                if component is not None and component.skill == COMPONENT_SKILL:
                    horn = job.id
            assert horn is not None
            for i in range(start, start + size):
                channel = Channel.WHATSAPP if i % 2 == 0 else Channel.TELEGRAM
                address = (
                    f"+2547{30_000_000 + i:08d}"
                    if channel is Channel.WHATSAPP
                    else str(900_000_000 + i)
                )
                person = await people.register_artisan(
                    session,
                    name=f"Msanii {i}",
                    workshop=f"Karakana {i}",
                    area="Kibera",
                    skills={COMPONENT_SKILL: 500},
                    mpesa_number=f"07{30_000_000 + i:08d}",
                    language=Language.EN,
                    channel=channel,
                    address=address,
                    now=now,
                )
                assert person.id is not None
                await people.verify_artisan(
                    session, artisan_id=person.id, agent_id=agent_id, now=now
                )
                offer = await offers.make_offer(
                    session,
                    job_id=horn,
                    artisan_id=person.id,
                    quantity=PIECES,
                    expires_at=now + timedelta(days=2),
                    now=now,
                )
                assert offer.id is not None
                artisans.append(Artisan(i, channel, address, offer.id))
    return artisans


# --- the fake providers, telling the load generator when a reply arrives -------------------------


class Replies:
    """Routes each provider send to the artisan waiting for it."""

    def __init__(self) -> None:
        self.waiting: dict[tuple[Channel, str], Artisan] = {}
        self.sends = 0

    def arrived(self, channel: Channel, address: str) -> None:
        self.sends += 1
        artisan = self.waiting.pop((channel, address), None)
        if artisan is not None and artisan.reply is not None and not artisan.reply.done():
            artisan.reply.set_result(time.perf_counter())


class _Recording(list[Any]):
    def __init__(self, on_append: Callable[[Any], None]) -> None:
        super().__init__()
        self._on_append = on_append

    def append(self, item: Any) -> None:
        self._on_append(item)
        # Keep nothing: a long run would otherwise hold every message ever sent.


def wire(twilio: FakeTwilio, telegram: FakeTelegram, replies: Replies) -> None:
    twilio.messages = _Recording(
        lambda m: replies.arrived(Channel.WHATSAPP, m.to.removeprefix("whatsapp:"))
    )

    def telegram_call(call: Any) -> None:
        if call.method in ("sendMessage", "sendPhoto"):
            replies.arrived(Channel.TELEGRAM, str(call.params.get("chat_id")))

    telegram.calls = _Recording(telegram_call)


# --- the load generator -------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    seconds: float
    latencies: list[float] = field(default_factory=list)
    # Text messages only: the webhook's 200 comes after the commit that put the reply in the
    # outbox (Engine.accept_and_handle), so this is the "webhook to reply in the outbox".
    # Photos are answered after their download, in the background, so they are not in it.
    in_outbox: list[float] = field(default_factory=list)
    errors: int = 0
    offered: int = 0
    server_cpu: float = float("nan")  # CPU seconds the server process(es) used in the phase

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    def percentile(self, p: float, of: list[float] | None = None) -> float:
        values = self.latencies if of is None else of
        if not values:
            return float("nan")
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000

    def row(self) -> str:
        per_message = self.server_cpu / len(self.latencies) * 1000 if self.latencies else 0.0
        in_outbox = (
            f"{self.percentile(50, self.in_outbox):.1f} / {self.percentile(99, self.in_outbox):.1f}"
            if self.in_outbox
            else "-"
        )
        return (
            f"| {self.name} | {len(self.latencies):,} | {self.rate:,.0f} | "
            f"{self.percentile(50):.1f} | {self.percentile(99):.1f} | {in_outbox} | "
            f"{self.errors} | {per_message:.1f} |"
        )


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU time of processes so far (Linux /proc)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


async def measured(pids: Sequence[int], phase: Awaitable[Result]) -> Result:
    before = cpu_seconds(pids)
    result = await phase
    result.server_cpu = cpu_seconds(pids) - before
    return result


class Load:
    def __init__(
        self,
        urls: Sequence[str],
        artisans: list[Artisan],
        twilio: FakeTwilio,
        telegram: FakeTelegram,
        replies: Replies,
        *,
        reply_timeout: float = 10.0,
    ) -> None:
        self.urls = urls
        self.idle: deque[Artisan] = deque(artisans)
        self.twilio = twilio
        self.telegram = telegram
        self.replies = replies
        self.reply_timeout = reply_timeout
        for artisan in artisans:
            artisan.worker = artisan.index % len(urls)

    def request(self, artisan: Artisan) -> tuple[str, dict[str, str], bytes | dict[str, str], bool]:
        """(url, headers, body, with a photo) of the artisan's next message."""
        text, photo = artisan.next_message()
        base = self.urls[artisan.worker]
        if artisan.channel is Channel.WHATSAPP:
            media = {self.twilio.add_media(JPEG, "image/jpeg"): "image/jpeg"} if photo else None
            form = self.twilio.inbound_form(from_number=artisan.address, body=text, media=media)
            url = f"{base}/whatsapp/webhook"
            return url, {"X-Twilio-Signature": self.twilio.sign(url, form)}, form, photo
        chat = int(artisan.address)
        if photo:
            update = self.telegram.photo_update(chat, self.telegram.photo_sizes(JPEG))
        else:
            update = self.telegram.text_update(chat, text)
        headers = {
            "X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET,
            "Content-Type": "application/json",
        }
        return f"{base}/telegram/webhook", headers, json.dumps(update).encode(), photo

    async def one(self, http: aiohttp.ClientSession, artisan: Artisan, result: Result) -> None:
        url, headers, body, photo = self.request(artisan)
        loop = asyncio.get_running_loop()
        artisan.reply = loop.create_future()
        self.replies.waiting[(artisan.channel, artisan.address)] = artisan
        started = time.perf_counter()
        try:
            async with http.post(url, data=body, headers=headers) as response:
                await response.read()
                if response.status != 200:
                    result.errors += 1
                    return
            if not photo:
                result.in_outbox.append(time.perf_counter() - started)
            replied = await asyncio.wait_for(artisan.reply, self.reply_timeout)
            result.latencies.append(replied - started)
        except (TimeoutError, aiohttp.ClientError):
            result.errors += 1
        finally:
            self.replies.waiting.pop((artisan.channel, artisan.address), None)
            # Anything still on its way for this artisan lands before it writes again.
            await asyncio.sleep(0.05)
            if artisan.step < FIRST_FLOW:
                self.idle.appendleft(artisan)  # in the middle of the offer-to-submission story
            else:
                self.idle.append(artisan)

    async def closed(self, http: aiohttp.ClientSession, concurrency: int, seconds: float) -> Result:
        result = Result(f"karakana, {concurrency} in flight", seconds)
        deadline = time.perf_counter() + seconds

        async def user() -> None:
            while time.perf_counter() < deadline:
                while not self.idle:  # noqa: ASYNC110 (a deque, refilled by other tasks)
                    await asyncio.sleep(0.001)
                await self.one(http, self.idle.popleft(), result)

        began = time.perf_counter()
        await asyncio.gather(*(user() for _ in range(concurrency)))
        result.seconds = time.perf_counter() - began
        return result

    async def open(self, http: aiohttp.ClientSession, rate: float, seconds: float) -> Result:
        result = Result(f"karakana at {rate:,.0f}/s offered", seconds)
        tasks: set[asyncio.Task[None]] = set()
        began = time.perf_counter()
        for n in itertools.count():
            due = began + n / rate
            if due - began >= seconds:
                break
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            result.offered += 1
            if not self.idle:
                result.errors += 1  # every artisan is waiting for a reply: the server fell behind
                continue
            task = asyncio.create_task(self.one(http, self.idle.popleft(), result))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
        result.seconds = seconds
        return result


async def bare_ceiling(
    http: aiohttp.ClientSession, url: str, twilio: FakeTwilio, concurrency: int, seconds: float
) -> Result:
    result = Result(f"bare Starlette form endpoint, {concurrency} in flight", seconds)
    deadline = time.perf_counter() + seconds
    numbers = itertools.count()

    async def user() -> None:
        while time.perf_counter() < deadline:
            form = twilio.inbound_form(from_number=f"+2547{next(numbers) % 5000:08d}", body="menu")
            headers = {"X-Twilio-Signature": twilio.sign(url, form)}
            started = time.perf_counter()
            async with http.post(url, data=form, headers=headers) as response:
                await response.read()
                if response.status != 200:
                    result.errors += 1
                    continue
            result.latencies.append(time.perf_counter() - started)

    began = time.perf_counter()
    await asyncio.gather(*(user() for _ in range(concurrency)))
    result.seconds = time.perf_counter() - began
    return result


# --- the bare endpoint, in its own process --------------------------------------------------------


def serve_bare(port: int) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    twiml = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'

    async def webhook(request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        if "MessageSid" not in form:
            return Response(status_code=400)
        return Response(twiml, media_type="text/xml")

    app = Starlette(routes=[Route("/whatsapp/webhook", webhook, methods=["POST"])])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


@contextlib.asynccontextmanager
async def bare_server() -> AsyncIterator[tuple[str, int]]:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--serve-bare", str(port)
    )
    url = f"http://127.0.0.1:{port}/whatsapp/webhook"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(200):
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.post(url, data={"x": "1"}) as response:
                        if response.status == 400:
                            break
                await asyncio.sleep(0.05)
        yield url, process.pid
    finally:
        process.terminate()
        await process.wait()


# --- the run -------------------------------------------------------------------------------------


async def counts(store: Store) -> dict[str, int]:
    async with store.read() as session:
        accepted = await session.exec(
            select(func.count()).where(Offer.status == OfferStatus.ACCEPTED)
        )
        submitted = await session.exec(select(func.count()).select_from(Submission))
        jobs = await session.exec(select(func.count()).select_from(Job))
        return {
            "offers accepted": int(accepted.one()),
            "submissions": int(submitted.one()),
            "jobs": int(jobs.one()),
        }


async def main(args: argparse.Namespace, workdir: Path) -> None:
    if args.postgres:
        from sqlalchemy import text
        from sqlalchemy.engine import make_url
        from sqlalchemy.ext.asyncio import create_async_engine

        name = f"karakana_bench_{uuid.uuid4().hex[:8]}"
        admin = create_async_engine(args.postgres, isolation_level="AUTOCOMMIT")
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        database_url = make_url(args.postgres).set(database=name).render_as_string(False)
    else:
        database_url = f"sqlite+aiosqlite:///{workdir / 'karakana.db'}"
    replies = Replies()
    twilio, telegram = FakeTwilio(), FakeTelegram()
    wire(twilio, telegram, replies)
    servers: list[ServerProcess] = []
    try:
        async with twilio.running(), telegram.running(), bare_server() as (bare_url, bare_pid):
            for n in range(args.workers):
                server = ServerProcess(workdir / f"worker-{n}", {})
                server.workdir.mkdir()
                server.settings = {
                    "DATABASE_URL": database_url,
                    "PUBLIC_BASE_URL": server.url,
                    "TWILIO_ACCOUNT_SID": twilio.account_sid,
                    "TWILIO_AUTH_TOKEN": twilio.auth_token,
                    "TWILIO_WHATSAPP_FROM": twilio.whatsapp_from,
                    "TWILIO_API_BASE_URL": twilio.base_url,
                    "TELEGRAM_BOT_TOKEN": telegram.token,
                    "TELEGRAM_API_BASE_URL": telegram.base_url,
                    "TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
                    "WHATSAPP_SEND_RATE": "1000000",
                    "TELEGRAM_SEND_RATE": "1000000",
                    "MEDIA_MAX_BYTES": str(64 * 1024),
                }
                servers.append(server)
            await servers[0].prepare()  # upgrades the database and seeds the demo
            store = Store.from_url(database_url)
            began = time.perf_counter()
            # Before any server runs, so its scheduled matching round cannot offer these pieces.
            artisans = await seed(store, args.artisans)
            print(f"seeded {len(artisans):,} artisans in {time.perf_counter() - began:.1f} s")
            for server in servers:
                await server.start()
            load = Load([s.url for s in servers], artisans, twilio, telegram, replies)
            results: list[Result] = []
            connector = aiohttp.TCPConnector(limit=0)
            pids = [s.process.pid for s in servers if s.process is not None]
            async with aiohttp.ClientSession(connector=connector) as http:
                results.append(
                    await measured(
                        [bare_pid],
                        bare_ceiling(http, bare_url, twilio, args.concurrency, args.seconds),
                    )
                )
                print(results[-1].row(), flush=True)
                await load.closed(http, 8, 3)  # warm up: imports, caches, connection pools
                results.append(
                    await measured(pids, load.closed(http, args.concurrency, args.seconds))
                )
                print(results[-1].row(), flush=True)
                for rate in args.rates:
                    results.append(await measured(pids, load.open(http, rate, args.seconds)))
                    print(results[-1].row(), flush=True)
            done = await counts(store)
            await store.close()
    finally:
        for server in servers:
            await server.stop()
        if args.postgres:
            async with admin.connect() as conn:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await admin.dispose()

    ceiling, saturated = results[0], results[1]
    print()
    print(
        f"database: {'PostgreSQL' if args.postgres else 'SQLite'}, {args.workers} server "
        f"process(es), {args.artisans:,} artisans, {args.seconds:.0f} s per phase"
    )
    print(
        "| phase | messages | messages/s | p50 ms | p99 ms | reply in outbox p50 / p99 ms "
        "| errors or late | server CPU ms/message |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for result in results:
        print(result.row())
    print()
    print(f"karakana saturated / bare ceiling: {saturated.rate / ceiling.rate:.0%}")
    print(f"in the database afterwards: {done}; provider sends seen: {replies.sends:,}")


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--artisans", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rates", type=float, nargs="*", default=[100.0, 250.0, 500.0])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--postgres", help="server URL; a throwaway database is made and dropped")
    parser.add_argument("--serve-bare", type=int, help=argparse.SUPPRESS)
    add_keep_option(parser)
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse(sys.argv[1:])
    if arguments.serve_bare:
        serve_bare(arguments.serve_bare)
    else:
        os.environ.setdefault("PYTHONHASHSEED", "0")
        with work_folder("karakana-bench-", keep=arguments.keep) as folder:
            asyncio.run(main(arguments, folder))
