"""USSD step latency of the real ``karakana run`` server (not part of the tests).

    .venv/bin/python bench/bench_ussd.py                       # 50 sessions at once, 20 s
    .venv/bin/python bench/bench_ussd.py --sessions 50 --seconds 20 --artisans 500

Africa's Talking waits a few seconds for each USSD answer, and the issue's target is a p99 under
300 ms per step at 50 concurrent sessions. Verified artisans with SMS identities (as a feature
phone artisan has) each hold an open offer; ``--sessions`` of them dial at once, in a closed
loop: each posts its next step once the last answer arrived, as Africa's Talking does when
people answer: after ``--think`` seconds (reading the screen and typing; people take several),
and with no pause at all (0: faster than anyone types, the saturation point). Each artisan's
sessions walk the menu: the first accepts their offer (home, offers, the offer, accept), later
ones look at their jobs, their earnings, the offers list and say work is ready (how many,
confirm), and once nothing is left to say ready only browse. Latency is from the request's first
byte to the whole answer: one step, its transaction and its commit.

The load generator shares one process; the server runs in its own (SQLite, one process).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from sqlmodel import func, select  # noqa: E402

from bench.work_folder import add_keep_option, work_folder  # noqa: E402
from domain.model import (  # noqa: E402
    Allocation,
    Channel,
    Component,
    CustomerKind,
    Language,
    Person,
    Role,
    Submission,
    UssdSession,
)
from domain.services import offers, orders, people  # noqa: E402
from domain.store import Store  # noqa: E402
from tests.e2e.server_process import ServerProcess  # noqa: E402
from tests.fakes.twilio_api import FakeTwilio  # noqa: E402

TOKEN = "bench-ussd-callback-token-0123456789"  # noqa: S105 (a fake)
PRODUCT = "HRN-PND-01"  # the demo's horn pendant
SKILL = "horn_carving"
PIECES = 10
_sessions = itertools.count(1)


@dataclass
class Artisan:
    phone: str  # local form, as Africa's Talking may send it
    accepted: bool = False
    ready: bool = False
    browse: itertools.cycle[tuple[str, ...]] = field(
        default_factory=lambda: itertools.cycle([("2",), ("4",), ("1", "0")])
    )

    def script(self) -> tuple[str, ...]:
        """This session's answers after the opening screen."""
        if not self.accepted:
            self.accepted = True
            return ("1", "1", "1")  # offers, the offer, accept all
        if not self.ready:
            self.ready = True
            return ("3", "2", "1")  # work ready, 2 pieces, yes
        return next(self.browse)


async def seed(store: Store, count: int) -> list[Artisan]:
    """``count`` verified SMS artisans, each with an open offer of ``PIECES`` horn pieces."""
    now = datetime.now(UTC)
    async with store.read() as session:
        agent = (await session.exec(select(Person).where(Person.role == Role.FIELD_AGENT))).first()
        assert agent is not None, "the demo seed has field agents"
        assert agent.id is not None
        agent_id = agent.id
    artisans: list[Artisan] = []
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
                reference=f"USSD-{uuid.uuid4().hex[:8]}",
                due_date=now.date() + timedelta(days=28),
                lines=[(PRODUCT, size * PIECES)],
                now=now,
            )
            assert order.id is not None
            jobs = await orders.confirm_order(session, order.id, now=now)
            horn = None
            for job in jobs:
                component = await session.get(Component, job.component_id)
                if component is not None and component.skill == SKILL:
                    horn = job.id
            assert horn is not None
            for i in range(start, start + size):
                local = f"07{40_000_000 + i:08d}"
                person = await people.register_artisan(
                    session,
                    name=f"Fundi {i}",
                    workshop=f"Karakana {i}",
                    area="Kibera",
                    skills={SKILL: 500},
                    mpesa_number=local,
                    language=Language.SW if i % 2 else Language.EN,
                    channel=Channel.SMS,
                    address=f"+2547{40_000_000 + i:08d}",
                    now=now,
                )
                assert person.id is not None
                await people.verify_artisan(
                    session, artisan_id=person.id, agent_id=agent_id, now=now
                )
                await offers.make_offer(
                    session,
                    job_id=horn,
                    artisan_id=person.id,
                    quantity=PIECES,
                    expires_at=now + timedelta(days=2),
                    now=now,
                )
                artisans.append(Artisan(local))
    return artisans


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    sessions: int = 0
    server_cpu: float = 0.0  # seconds of the server process's CPU during the row

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def dial(
    http: aiohttp.ClientSession,
    url: str,
    artisan: Artisan,
    result: Result,
    record: bool,
    think: float = 0.0,
) -> None:
    session_id = f"ATUid_bench_{next(_sessions)}"
    path: list[str] = []
    for answer in ("", *artisan.script()):
        if answer:
            path.append(answer)
            if think:
                await asyncio.sleep(think)  # reading the screen and typing the answer
        form = {
            "sessionId": session_id,
            "serviceCode": "*384*1234#",
            "phoneNumber": artisan.phone,
            "networkCode": "63902",
            "text": "*".join(path),
        }
        began = time.perf_counter()
        async with http.post(url, data=form) as answered:
            body = await answered.text()
        took = time.perf_counter() - began
        if answered.status != 200 or not body.startswith(("CON ", "END ")):
            result.errors += 1
            return
        if record:
            result.latencies.append(took)
        if body.startswith("END "):
            break
    result.sessions += 1


async def closed_loop(
    url: str,
    artisans: list[Artisan],
    sessions: int,
    seconds: float,
    *,
    record: bool = True,
    think: float = 0.0,
) -> Result:
    result = Result()
    queue = itertools.cycle(artisans)
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def caller() -> None:
            while time.perf_counter() < deadline:
                await dial(http, url, next(queue), result, record, think)

        await asyncio.gather(*(caller() for _ in range(sessions)))
    return result


async def main(args: argparse.Namespace, workdir: Path) -> None:
    database_url = f"sqlite+aiosqlite:///{workdir / 'karakana.db'}"
    twilio = FakeTwilio()
    async with twilio.running():
        server = ServerProcess(workdir / "server", {})
        server.workdir.mkdir()
        server.settings = {
            "DATABASE_URL": database_url,
            "PUBLIC_BASE_URL": server.url,
            "TWILIO_ACCOUNT_SID": twilio.account_sid,
            "TWILIO_AUTH_TOKEN": twilio.auth_token,
            "TWILIO_WHATSAPP_FROM": twilio.whatsapp_from,
            "TWILIO_API_BASE_URL": twilio.base_url,
            "AT_CALLBACK_TOKEN": TOKEN,
            "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
        }
        await server.prepare()  # upgrades the database and seeds the demo
        store = Store.from_url(database_url)
        began = time.perf_counter()
        artisans = await seed(store, args.artisans)
        print(f"seeded {len(artisans):,} SMS artisans in {time.perf_counter() - began:.1f} s")
        try:
            await server.start()
            url = f"{server.url}/ussd/{TOKEN}"
            await closed_loop(url, artisans[:8], 4, 2, record=False)  # warm up
            results = []
            assert server.process is not None
            pid = server.process.pid
            for think in args.think:
                before = cpu_seconds(pid)
                result = await closed_loop(
                    url, artisans[8:], args.sessions, args.seconds, think=think
                )
                result.server_cpu = cpu_seconds(pid) - before
                results.append((think, result))
        finally:
            await server.stop()
        async with store.read() as session:
            counts = {
                name: int((await session.exec(select(func.count()).select_from(model))).one())
                for name, model in (
                    ("ussd sessions", UssdSession),
                    ("allocations", Allocation),
                    ("submissions", Submission),
                )
            }
        await store.close()
    print()
    print(
        f"{args.sessions} concurrent USSD sessions, {args.seconds:.0f} s per row, SQLite, one "
        f"`karakana run` process, {args.artisans:,} artisans"
    )
    print(
        "| think s | steps | steps/s | sessions | p50 ms | p90 ms | p99 ms | max ms | errors "
        "| server CPU ms/step |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for think, result in results:
        steps = len(result.latencies)
        print(
            f"| {think:g} | {steps:,} | {steps / args.seconds:,.0f} | {result.sessions:,} "
            f"| {result.percentile(50):.0f} | {result.percentile(90):.0f} "
            f"| {result.percentile(99):.0f} | {max(result.latencies) * 1000:.0f} "
            f"| {result.errors} | {result.server_cpu / max(steps, 1) * 1000:.1f} |"
        )
    print(f"load average after: {os.getloadavg()[0]:.1f} (1 min)")
    print(f"in the database afterwards: {counts}")


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--artisans", type=int, default=500)
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument(
        "--think",
        type=float,
        nargs="*",
        default=[2.0, 0.0],
        help="seconds each caller takes to answer a screen, one row each (0: no pause at all)",
    )
    add_keep_option(parser)
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse(sys.argv[1:])
    os.environ.setdefault("PYTHONHASHSEED", "0")
    with work_folder("karakana-bench-ussd-", keep=arguments.keep) as folder:
        asyncio.run(main(arguments, folder))
