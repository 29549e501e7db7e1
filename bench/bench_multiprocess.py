"""Several ``karakana run`` processes, one PostgreSQL database, one object store, one SIGKILL.

    .venv/bin/python bench/bench_multiprocess.py \
        --postgres postgresql+asyncpg://postgres@127.0.0.1:5432/postgres

What runs (docs/benchmarks.md, "Several processes, one database, one object store"):

- a local S3 server (moto, its own process) with one bucket: every process keeps the photos it
  receives there (``OBJECT_STORE_URL``), none in its ``MEDIA_DIR``;
- a throwaway PostgreSQL database (made here, dropped at the end) and ``--workers`` processes
  on it, with the matching round and offer expiry every ``--job-interval`` so the scheduler has
  slots to contend for;
- bench/bench_inbound.py's artisans and script (menu, offer, accept, a photo, a count, browsing),
  ``--concurrency`` in flight, spread round-robin over the processes as a load balancer would.
  A webhook that fails (connection refused, a 5xx) is posted again, same MessageSid or
  update_id, to the next process: what Twilio's retry behind a health-checked balancer does;
- after a third of ``--seconds``, one process is SIGKILLed mid-load; at two thirds it is started
  again (systemd's ``Restart=always``), since a process's start-up is what recovers messages a
  dead one left half done (``Inbound.recover``, ``Dispatcher.recover``).

Then it waits for the outbox to drain and checks, printing a verdict: every webhook answered 200
is one inbound row, processed and answered; every outbox row is SENT and reached the fake
provider exactly once, except rows caught SENDING by the kill (the documented at-least-once
window, bot/channels/dispatcher.py) or re-queued by the restart's recovery; every photo a
submission refers to is in the bucket and served by every process through a signed ``/media``
link; and each scheduled job ran once per slot (its "ran" log lines across all processes equal
the slots completed in the scheduler_lease table, polled throughout).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from sqlmodel import col, func, select  # noqa: E402

from bench.bench_inbound import (  # noqa: E402
    FIRST_FLOW,
    WEBHOOK_SECRET,
    Artisan,
    Load,
    Replies,
    _Recording,
    seed,
)
from bench.work_folder import add_keep_option, work_folder  # noqa: E402
from bot.channels.gateways import MediaLinks  # noqa: E402
from bot.storage.objects import ObjectStore, ObjectStoreConfig  # noqa: E402
from conversations.messages import MediaItem  # noqa: E402
from domain.model import (  # noqa: E402
    Channel,
    InboundMessage,
    InboundStatus,
    OutboxMessage,
    OutboxStatus,
    SchedulerLease,
    SubmissionPhoto,
)
from domain.services.dead_letters import HELD_CODES  # noqa: E402
from domain.store import Store  # noqa: E402
from tests.e2e.server_process import ServerProcess, free_port  # noqa: E402
from tests.fakes.telegram_api import FakeTelegram  # noqa: E402
from tests.fakes.twilio_api import FakeTwilio  # noqa: E402

KEY_ID, SECRET, REGION = "bench-key-id", "bench-secret-key", "us-east-1"
SENDS = ("sendMessage", "sendPhoto", "sendDocument")
SCHEDULED = ("matching_round", "expire_offers")


class Balancer:
    """Round-robin over the processes that are up; a failed post goes to the next one."""

    def __init__(self, servers: list[ServerProcess], load: Load) -> None:
        self.servers = servers
        self.down: set[int] = set()
        self.load = load
        self.accepted: dict[str, tuple[Channel, str]] = {}  # provider message id -> sender
        self.reposts = 0
        self.late = 0
        self.handled = 0

    def retarget(self, url: str, worker: int) -> str:
        return url.replace(self.servers[worker].url, self.servers[self.next_up(worker)].url)

    def next_up(self, worker: int) -> int:
        for step in range(1, len(self.servers) + 1):
            candidate = (worker + step) % len(self.servers)
            if candidate not in self.down:
                return candidate
        raise RuntimeError("every process is down")

    async def one(self, http: aiohttp.ClientSession, artisan: Artisan) -> None:
        if artisan.worker in self.down:
            artisan.worker = self.next_up(artisan.worker)
        url, headers, body, _photo = self.load.request(artisan)
        twilio = self.load.twilio
        message_id = (
            body["MessageSid"] if isinstance(body, dict) else str(json.loads(body)["update_id"])
        )
        loop = asyncio.get_running_loop()
        artisan.reply = loop.create_future()
        self.load.replies.waiting[(artisan.channel, artisan.address)] = artisan
        while True:  # Twilio and Telegram post a webhook again until they get a 200
            try:
                async with http.post(url, data=body, headers=headers) as response:
                    await response.read()
                    if response.status == 200:
                        break
            except aiohttp.ClientError:
                pass
            self.reposts += 1
            worker = artisan.worker
            artisan.worker = self.next_up(worker)
            url = self.retarget(url, worker)
            if isinstance(body, dict):  # Twilio signs the URL it posts to
                headers = {"X-Twilio-Signature": twilio.sign(url, body)}
            await asyncio.sleep(0.05)
        self.accepted[message_id] = (artisan.channel, artisan.address)
        try:
            await asyncio.wait_for(artisan.reply, 20.0)
            self.handled += 1
        except TimeoutError:
            self.late += 1  # e.g. a photo the killed process was fetching: recovered at restart
        finally:
            self.load.replies.waiting.pop((artisan.channel, artisan.address), None)
            await asyncio.sleep(0.05)
            (self.load.idle.appendleft if artisan.step < FIRST_FLOW else self.load.idle.append)(
                artisan
            )

    async def run(self, http: aiohttp.ClientSession, concurrency: int, seconds: float) -> None:
        deadline = time.perf_counter() + seconds

        async def user() -> None:
            while time.perf_counter() < deadline:
                while not self.load.idle:  # noqa: ASYNC110 (a deque refilled by other tasks)
                    await asyncio.sleep(0.001)
                await self.one(http, self.load.idle.popleft())

        await asyncio.gather(*(user() for _ in range(concurrency)))


async def sending(store: Store) -> Counter[tuple[str, str]]:
    """Outbox rows SENDING now, per (channel, address)."""
    async with store.read() as session:
        rows = await session.exec(
            select(OutboxMessage.channel, OutboxMessage.address).where(
                OutboxMessage.status == OutboxStatus.SENDING
            )
        )
        return Counter((Channel(c).value, a) for c, a in rows)


async def watch_leases(store: Store, seen: set[tuple[str, str]], stop: asyncio.Event) -> None:
    while not stop.is_set():
        async with store.read() as session:
            for lease in await session.exec(select(SchedulerLease)):
                if lease.completed_key is not None:
                    seen.add((lease.job, lease.completed_key))
        await asyncio.sleep(0.1)


def ran_lines(servers: list[ServerProcess], since: datetime) -> Counter[str]:
    ran: Counter[str] = Counter()
    for server in servers:
        for log in server.workdir.glob("karakana-*.log"):
            for line in log.read_text(errors="replace").splitlines():
                if not line.startswith("{"):
                    continue
                entry = json.loads(line)
                message = str(entry.get("message", ""))
                if (
                    message.startswith("scheduled job ")
                    and message.endswith(" ran")
                    and datetime.fromisoformat(entry["time"]) >= since
                ):
                    ran[message.split()[2]] += 1
    return ran


def held_addresses() -> sa.Select[Any]:
    return select(OutboxMessage.address).where(
        OutboxMessage.status == OutboxStatus.QUEUED,
        col(OutboxMessage.error_code).in_(HELD_CODES),
    )


async def drained(store: Store, within: float) -> bool:
    """Wait until nothing is left to send or handle; give up after ``within`` s without progress
    (on a loaded machine the backlog after the load can take minutes)."""
    deadline = time.perf_counter() + within
    last: tuple[int, int] | None = None
    while time.perf_counter() < deadline:
        async with store.read() as session:
            active = (
                await session.exec(
                    select(func.count()).where(
                        col(OutboxMessage.status).in_((OutboxStatus.QUEUED, OutboxStatus.SENDING)),
                        # Held for the 24-hour window (no template in the bench) waits by design,
                        # and so does what is queued after it for the same person (in order).
                        col(OutboxMessage.address).not_in(held_addresses()),
                    )
                )
            ).one()
            received = (
                await session.exec(
                    select(func.count()).where(InboundMessage.status == InboundStatus.RECEIVED)
                )
            ).one()
        if active == 0 and received == 0:
            return True
        if (active, received) != last:
            last = (active, received)
            deadline = time.perf_counter() + within
        await asyncio.sleep(0.2)
    return False


async def main(args: argparse.Namespace, workdir: Path) -> int:
    from sqlalchemy import text
    from sqlalchemy.engine import make_url
    from sqlalchemy.ext.asyncio import create_async_engine

    name = f"karakana_multi_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(args.postgres, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    database_url = make_url(args.postgres).set(database=name).render_as_string(False)
    s3_port = free_port()
    moto = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(s3_port),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    endpoint = f"http://127.0.0.1:{s3_port}"
    bucket = f"karakana-{uuid.uuid4().hex[:8]}"
    config = ObjectStoreConfig(f"s3://{bucket}/bench", endpoint, REGION, KEY_ID, SECRET)
    sends: Counter[tuple[str, str]] = Counter()
    replies = Replies()
    twilio, telegram = FakeTwilio(), FakeTelegram()

    def on_twilio(message: Any) -> None:
        address = message.to.removeprefix("whatsapp:")
        sends[("whatsapp", address)] += 1
        replies.arrived(Channel.WHATSAPP, address)

    def on_telegram(call: Any) -> None:
        if call.method in SENDS:
            sends[("telegram", str(call.params.get("chat_id")))] += 1
            replies.arrived(Channel.TELEGRAM, str(call.params.get("chat_id")))

    twilio.messages = _Recording(on_twilio)
    telegram.calls = _Recording(on_telegram)
    servers: list[ServerProcess] = []
    failures: list[str] = []
    try:
        objects = ObjectStore(config)
        for _ in range(200):
            try:
                objects._client.create_bucket(Bucket=bucket)
                break
            except Exception:  # the S3 server is still starting
                await asyncio.sleep(0.05)
        async with twilio.running(), telegram.running():
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
                    "LOG_LEVEL": "INFO",  # the scheduler's "ran" lines are INFO
                    "MATCH_INTERVAL": f"{args.job_interval}s",
                    "OFFER_EXPIRY_INTERVAL": f"{args.job_interval}s",
                    "OBJECT_STORE_URL": config.url,
                    "OBJECT_STORE_ENDPOINT_URL": endpoint,
                    "OBJECT_STORE_REGION": REGION,
                    "OBJECT_STORE_ACCESS_KEY_ID": KEY_ID,
                    "OBJECT_STORE_SECRET_ACCESS_KEY": SECRET,
                }
                servers.append(server)
            await servers[0].prepare()
            store = Store.from_url(database_url)
            artisans = await seed(store, args.artisans)
            await asyncio.gather(*(server.start(within=300) for server in servers))
            load = Load([s.url for s in servers], artisans, twilio, telegram, replies)
            balancer = Balancer(servers, load)
            since = datetime.now(UTC)
            seen: set[tuple[str, str]] = set()
            stop = asyncio.Event()
            await watch_once(store, seen)
            baseline = set(seen)
            watcher = asyncio.create_task(watch_leases(store, seen, stop))
            victim = servers[1]
            began = time.perf_counter()
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
                running = asyncio.create_task(balancer.run(http, args.concurrency, args.seconds))
                await asyncio.sleep(args.seconds / 3)
                before_kill = balancer.handled
                victim.kill()
                balancer.down.add(1)
                await victim.wait()
                at_kill = await sending(store)
                print(f"SIGKILLed worker 1 after {balancer.handled:,} replies", flush=True)
                await asyncio.sleep(args.seconds / 3)
                at_restart = await sending(store)
                await victim.start(within=300)
                balancer.down.discard(1)
                print("worker 1 started again", flush=True)
                await running
            elapsed = time.perf_counter() - began
            ok = await drained(store, 60.0)
            stop.set()
            await watcher
            await watch_once(store, seen)
            failures += await check(
                store, objects, servers, twilio, balancer, sends, at_kill, at_restart, ok, since
            )
            ran = ran_lines(servers, since)
            completed = Counter(job for job, _key in seen - baseline)
            for job in SCHEDULED:
                verdict = "ok" if ran[job] == completed[job] else "MISMATCH"
                print(
                    f"scheduler: {job} ran {ran[job]} time(s), {completed[job]} slot(s) ({verdict})"
                )
                if ran[job] != completed[job] or completed[job] == 0:
                    failures.append(f"{job}: {ran[job]} runs logged for {completed[job]} slots")
            await store.close()
    finally:
        for server in servers:
            await server.stop()
        moto.terminate()
        await moto.wait()
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()

    print()
    print(
        f"{args.workers} processes on PostgreSQL + S3 (moto), {args.artisans:,} artisans, "
        f"{args.concurrency} in flight, {args.seconds:.0f} s; worker 1 SIGKILLed at "
        f"{args.seconds / 3:.0f} s (after {before_kill:,} replies), restarted at "
        f"{2 * args.seconds / 3:.0f} s"
    )
    print(
        f"webhooks answered 200: {len(balancer.accepted):,} "
        f"({len(balancer.accepted) / elapsed:,.0f}/s); re-posted after a failure: "
        f"{balancer.reposts}; replies later than 20 s: {balancer.late}; "
        f"sends seen: {sum(sends.values()):,}"
    )
    print("VERDICT: " + ("PASS" if not failures else "FAIL\n  " + "\n  ".join(failures)))
    return 0 if not failures else 1


async def watch_once(store: Store, seen: set[tuple[str, str]]) -> None:
    async with store.read() as session:
        for lease in await session.exec(select(SchedulerLease)):
            if lease.completed_key is not None:
                seen.add((lease.job, lease.completed_key))


async def check(
    store: Store,
    objects: ObjectStore,
    servers: list[ServerProcess],
    twilio: FakeTwilio,
    balancer: Balancer,
    sends: Counter[tuple[str, str]],
    at_kill: Counter[tuple[str, str]],
    at_restart: Counter[tuple[str, str]],
    drained_ok: bool,
    since: datetime,
) -> list[str]:
    failures: list[str] = []
    if not drained_ok:
        failures.append("the outbox or the inbound queue stopped draining for 60 s")
    async with store.transaction() as session:  # commits: the rows stay readable after
        inbound = {
            row.provider_message_id: row for row in await session.exec(select(InboundMessage))
        }
        outbox = list(await session.exec(select(OutboxMessage)))
        # This run's photos (the demo's seeded submissions name photos that were never sent).
        photos = list(
            (
                await session.exec(
                    select(SubmissionPhoto.media_ref).where(SubmissionPhoto.added_at >= since)
                )
            ).all()
        )
    answered = {m.in_reply_to for m in outbox}
    lost = [i for i in balancer.accepted if i not in inbound]
    unprocessed = [
        i
        for i in balancer.accepted
        if i in inbound and inbound[i].status is not InboundStatus.PROCESSED
    ]
    unanswered = [i for i in balancer.accepted if i in inbound and inbound[i].id not in answered]
    print(
        f"inbound: {len(balancer.accepted):,} accepted, {len(lost)} lost, "
        f"{len(unprocessed)} not processed, {len(unanswered)} unanswered; "
        f"{len(inbound):,} inbound rows in all"
    )
    for what, ids in (("lost", lost), ("not processed", unprocessed), ("unanswered", unanswered)):
        if ids:
            failures.append(f"inbound {what}: {ids[:5]}")
    rows: Counter[tuple[str, str]] = Counter()
    held = behind = 0
    stuck: list[str] = []
    waiting_for_window = {
        m.address for m in outbox if m.status is OutboxStatus.QUEUED and m.error_code in HELD_CODES
    }
    for message in outbox:
        if message.channel not in (Channel.WHATSAPP, Channel.TELEGRAM):
            continue
        if message.status is OutboxStatus.QUEUED and message.error_code in HELD_CODES:
            held += 1  # a business message to someone outside the 24-hour window: waits
        elif message.status is OutboxStatus.QUEUED and message.address in waiting_for_window:
            behind += 1  # queued after a held message to the same person: sent in order, later
        elif message.status is OutboxStatus.SENT:
            rows[(Channel(message.channel).value, message.address)] += 1
        else:
            stuck.append(
                f"outbox {message.id} to {message.channel}:{message.address} ended "
                f"{message.status} (error {message.error_code}, {message.attempts} attempts, "
                f"next at {message.next_attempt_at}, kind {message.kind})"
            )
    if stuck:
        failures.append(f"{len(stuck)} outbox row(s) neither sent nor held, e.g.:")
        failures += stuck[:5]
    extra_kill = extra_restart = unexplained = missing = 0
    for key in set(rows) | set(sends):
        extra = sends[key] - rows[key]
        if extra < 0:
            missing += -extra
        elif extra > 0:
            by_kill = min(extra, at_kill[key])
            by_restart = min(extra - by_kill, at_restart[key])
            extra_kill += by_kill
            extra_restart += by_restart
            unexplained += extra - by_kill - by_restart
    print(
        f"outbox: {sum(rows.values()):,} rows, {sum(sends.values()):,} sends; sent twice: "
        f"{extra_kill} in flight at the kill (allowed; {sum(at_kill.values())} were SENDING), "
        f"{extra_restart} re-queued by the restart's recovery ({sum(at_restart.values())} were "
        f"SENDING then), {unexplained} unexplained; never sent: {missing}; held for the "
        f"24-hour window (no template configured, by design): {held}, and {behind} queued "
        "behind them for the same people"
    )
    if unexplained or missing:
        failures.append(f"outbox: {unexplained} unexplained duplicates, {missing} never sent")
    if extra_restart:
        failures.append(
            f"outbox: {extra_restart} send(s) doubled because the restarted process re-queued "
            "rows other live processes were sending (Dispatcher.recover takes every SENDING row)"
        )
    # Photos: in the bucket, none on local disk, and served by every process.
    local = [p for s in servers for p in (s.workdir / "media").glob("*") if p.is_file()]
    in_bucket = {o.key.removeprefix("media/") for o in objects.list("media/")}
    absent = [ref for ref in photos if ref not in in_bucket]
    served = 0
    async with aiohttp.ClientSession() as http:
        for n, ref in enumerate(photos[:30]):
            server = servers[n % len(servers)]
            links = MediaLinks.for_auth_token(
                twilio.auth_token, server.url, clock=lambda: datetime.now(UTC)
            )
            async with http.get(links.url_for(MediaItem("image/jpeg", 0, ref))) as response:
                if response.status == 200 and await response.read() == objects.get(f"media/{ref}"):
                    served += 1
    print(
        f"media: {len(photos):,} submission photos, {len(in_bucket):,} objects in the bucket, "
        f"{len(absent)} missing, {len(local)} files on local disk; {served}/{min(30, len(photos))} "
        "served back through signed /media links, round-robin over the processes"
    )
    if absent or local or served < min(30, len(photos)) or not photos:
        failures.append("media: not every photo is in the bucket and served by every process")
    return failures


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", required=True, help="server URL; a database is made/dropped")
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--artisans", type=int, default=600)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--job-interval", type=int, default=10, help="seconds between rounds")
    add_keep_option(parser)
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse(sys.argv[1:])
    os.environ.setdefault("PYTHONHASHSEED", "0")
    with work_folder("karakana-multi-", keep=arguments.keep) as folder:
        code = asyncio.run(main(arguments, folder))
    sys.exit(code)
