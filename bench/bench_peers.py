"""Karakana against two peer Telegram bots, in the same run, driven by one load generator.

    .venv/bin/pip install -e '.[bench]'          # aiogram, redis (python-telegram-bot is ours)
    .venv/bin/python bench/bench_peers.py                       # Redis on 127.0.0.1:6379
    .venv/bin/python bench/bench_peers.py --rounds 2 --seconds 10 --redis redis://127.0.0.1:6379/7

The systems, each a server process of its own on loopback:

- Karakana: ``karakana run`` on SQLite, one process, on Telegram and (separately) on WhatsApp;
- python-telegram-bot: ConversationHandler + PicklePersistence behind a Starlette webhook
  (bench/peers/ptb_bot.py, the pattern of PTB's customwebhookbot example);
- aiogram 3: FSM in RedisStorage behind aiogram's own aiohttp webhook handler
  (bench/peers/aiogram_bot.py).

All of them answer the same chat (bench_inbound's artisan script: the menu, an offer, ACCEPT,
submitting work with a photo downloaded from the provider, a count, a confirmation, then
browsing) and reply through the same fake provider (tests/fakes/telegram_api.py, twilio_api.py),
which tells the load generator when each reply arrives. The peers keep their conversation state
in their own persistence; they do not dedupe, keep no transaction around a message and have no
outbox, which Karakana does.

For each system, in turn, within each round: a warm-up, ``--concurrency`` artisans with a message
in flight (closed loop: messages/s, and the server's CPU per message from /proc/<pid>/stat), then
open-loop arrivals at each of ``--rates`` (p50 / p99 from the webhook's first byte to the reply
reaching the fake provider). Redis's own CPU (its INFO) is reported beside aiogram's; it may
include other clients of the same Redis.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from bench.bench_inbound import (  # noqa: E402
    WEBHOOK_SECRET,
    Artisan,
    Load,
    Replies,
    Result,
    cpu_seconds,
    seed,
    wire,
)
from bench.work_folder import add_keep_option, work_folder  # noqa: E402
from domain.model import Channel  # noqa: E402
from domain.store import Store  # noqa: E402
from tests.e2e.server_process import ServerProcess, free_port  # noqa: E402
from tests.fakes.telegram_api import FakeTelegram  # noqa: E402
from tests.fakes.twilio_api import FakeTwilio  # noqa: E402

PEERS = ROOT / "bench" / "peers"


@dataclass
class System:
    name: str
    url: str
    pids: list[int]
    artisans: list[Artisan]
    redis: str | None = None  # aiogram's Redis, whose CPU is counted beside it
    results: dict[str, list[Result]] = field(default_factory=dict)
    redis_cpu: list[float] = field(default_factory=list)  # ms a message, closed loop


async def redis_cpu_seconds(url: str) -> float:
    import redis.asyncio as aioredis

    client = aioredis.from_url(url)
    try:
        info = await client.info("cpu")
    finally:
        await client.aclose()
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def forget_peer_state(url: str) -> None:
    """Only the keys aiogram_bot.py writes (its prefix), never anyone else's."""
    import redis.asyncio as aioredis

    client = aioredis.from_url(url)
    try:
        async for key in client.scan_iter(match="peerbench:*", count=1000):
            await client.delete(key)
    finally:
        await client.aclose()


@contextlib.asynccontextmanager
async def peer(
    script: str, extra: Sequence[str], telegram: FakeTelegram, workdir: Path
) -> AsyncIterator[tuple[str, int]]:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(PEERS / script),
        "--port",
        str(port),
        "--api",
        telegram.base_url,
        "--token",
        telegram.token,
        "--secret",
        WEBHOOK_SECRET,
        *extra,
        cwd=workdir,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(400):
                if process.returncode is not None:
                    raise RuntimeError(f"{script} exited with {process.returncode}")
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.post(f"{url}/telegram/webhook", json={}) as response:
                        if response.status in (401, 403):  # up, and checking the secret
                            break
                await asyncio.sleep(0.05)
            else:
                raise RuntimeError(f"{script} did not start")
        yield url, process.pid
    finally:
        if process.returncode is None:
            process.terminate()
            await process.wait()


async def run_system(
    http: aiohttp.ClientSession,
    system: System,
    twilio: FakeTwilio,
    telegram: FakeTelegram,
    replies: Replies,
    args: argparse.Namespace,
) -> None:
    load = Load([system.url], system.artisans, twilio, telegram, replies)
    await load.closed(http, 8, 2)  # warm up: imports, caches, connection pools

    async def measure(name: str, phase: asyncio.Future[Result] | asyncio.Task[Result]) -> Result:
        before = cpu_seconds(system.pids)
        redis_before = await redis_cpu_seconds(system.redis) if system.redis else 0.0
        began = time.perf_counter()
        result = await phase
        result.server_cpu = cpu_seconds(system.pids) - before
        # An open-loop phase ends once its last reply is in: served/s is over that whole time.
        result.seconds = max(result.seconds, time.perf_counter() - began)
        result.name = f"{system.name}, {name}"
        if system.redis and name == "closed" and result.latencies:
            spent = await redis_cpu_seconds(system.redis) - redis_before
            system.redis_cpu.append(spent / len(result.latencies) * 1000)
        system.results.setdefault(name, []).append(result)
        print(result.row(), f"load {os.getloadavg()[0]:.1f}", flush=True)
        return result

    closed = asyncio.ensure_future(load.closed(http, args.concurrency, args.seconds))
    if args.profile and "closed" not in system.results:
        async with profiling(system, args.profile, args.seconds):
            await measure("closed", closed)
    else:
        await measure("closed", closed)
    for rate in args.rates:
        await measure(f"{rate:g}/s", asyncio.ensure_future(load.open(http, rate, args.seconds)))


@contextlib.asynccontextmanager
async def profiling(system: System, folder: Path, seconds: float) -> AsyncIterator[None]:
    """py-spy (the bench extra) samples the server through its first closed-loop phase."""
    folder.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (before the phase starts)
    stem = folder / system.name.split(",")[0].split()[0].lower()
    stem = stem.with_name(f"{stem.name}-{system.artisans[0].channel.value}")
    spy = Path(sys.executable).parent / "py-spy"
    processes = [
        await asyncio.create_subprocess_exec(
            str(spy),
            "record",
            "--pid",
            str(system.pids[0]),
            "--duration",
            f"{seconds:.0f}",
            "--rate",
            "250",
            "--nonblocking",
            "--format",
            fmt,
            "-o",
            f"{stem}.{suffix}",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        for fmt, suffix in (("raw", "txt"), ("flamegraph", "svg"))
    ]
    try:
        yield
    finally:
        for process in processes:
            await process.wait()
        print(f"profile: {stem}.svg and {stem}.txt (collapsed stacks)", flush=True)


def cpu_per_message(result: Result) -> float:
    return result.server_cpu / len(result.latencies) * 1000 if result.latencies else float("nan")


def spread(values: Sequence[float], digits: int = 2) -> str:
    low, high = min(values), max(values)
    if f"{low:.{digits}f}" == f"{high:.{digits}f}":
        return f"{low:.{digits}f}"
    return f"{low:.{digits}f}-{high:.{digits}f}"


def table(systems: Sequence[System], rates: Sequence[float]) -> list[str]:
    head = "| system | server CPU ms/message | msg/s, 32 in flight |"
    rule = "|---|---|---|"
    for rate in rates:
        head += f" p50 / p99 ms at {rate:g}/s (served/s) |"
        rule += "---|"
    lines = [head + " errors or late |", rule + "---|"]
    for system in systems:
        closed = system.results["closed"]
        cpu = spread([cpu_per_message(r) for r in closed])
        if system.redis_cpu:
            cpu += f" (+{spread(system.redis_cpu)} in Redis)"
        line = f"| {system.name} | {cpu} | {spread([r.rate for r in closed], 0)} |"
        errors = sum(r.errors for rs in system.results.values() for r in rs)
        for rate in rates:
            rs = system.results[f"{rate:g}/s"]
            line += (
                f" {spread([r.percentile(50) for r in rs], 1)} / "
                f"{spread([r.percentile(99) for r in rs], 1)} ({spread([r.rate for r in rs], 0)}) |"
            )
        lines.append(line + f" {errors} |")
    return lines


async def main(args: argparse.Namespace, workdir: Path) -> None:
    load_before = os.getloadavg()
    started = datetime.now(UTC)
    replies = Replies()
    twilio, telegram = FakeTwilio(), FakeTelegram()
    wire(twilio, telegram, replies)
    await forget_peer_state(args.redis)
    database_url = f"sqlite+aiosqlite:///{workdir / 'karakana.db'}"
    server = ServerProcess(workdir / "karakana", {})
    server.workdir.mkdir()
    async with twilio.running(), telegram.running():
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
        await server.prepare()
        store = Store.from_url(database_url)
        artisans = await seed(store, args.artisans)
        await store.close()
        print(f"seeded {len(artisans):,} artisans", flush=True)
        peer_artisans = [
            Artisan(i, Channel.TELEGRAM, str(800_000_000 + i)) for i in range(args.artisans // 2)
        ]
        aiogram_artisans = [
            Artisan(i, Channel.TELEGRAM, str(700_000_000 + i)) for i in range(args.artisans // 2)
        ]
        await server.start()
        try:
            assert server.process is not None
            pids = [server.process.pid]
            async with (
                peer("ptb_bot.py", ["--data", str(workdir / "ptb.pickle")], telegram, workdir) as (
                    ptb_url,
                    ptb_pid,
                ),
                peer("aiogram_bot.py", ["--redis", args.redis], telegram, workdir) as (
                    aiogram_url,
                    aiogram_pid,
                ),
            ):
                systems = [
                    System(
                        "Karakana, Telegram (SQLite, 1 process)",
                        server.url,
                        pids,
                        [a for a in artisans if a.channel is Channel.TELEGRAM],
                    ),
                    System(
                        "Karakana, WhatsApp (SQLite, 1 process)",
                        server.url,
                        pids,
                        [a for a in artisans if a.channel is Channel.WHATSAPP],
                    ),
                    System(
                        "python-telegram-bot, ConversationHandler + PicklePersistence",
                        ptb_url,
                        [ptb_pid],
                        peer_artisans,
                    ),
                    System(
                        "aiogram 3, RedisStorage",
                        aiogram_url,
                        [aiogram_pid],
                        aiogram_artisans,
                        redis=args.redis,
                    ),
                ]
                chosen = [
                    s for s in systems if not args.only or any(o in s.name for o in args.only)
                ]
                connector = aiohttp.TCPConnector(limit=0)
                async with aiohttp.ClientSession(connector=connector) as http:
                    for round_ in range(args.rounds):
                        print(f"round {round_ + 1}", flush=True)
                        for system in chosen:
                            await run_system(http, system, twilio, telegram, replies, args)
        finally:
            await server.stop()
            with contextlib.suppress(Exception):
                await forget_peer_state(args.redis)
    load_after = os.getloadavg()
    print()
    print(
        f"{started:%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, load average "
        f"{load_before[0]:.1f} -> {load_after[0]:.1f}; {args.rounds} round(s) of "
        f"{args.seconds:g} s a phase; command: {' '.join(sys.argv)}"
    )
    print("\n".join(table(chosen, args.rates)))
    print(f"provider sends seen: {replies.sends:,}")


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--artisans", type=int, default=2000, help="per system: half of them")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rates", type=float, nargs="*", default=[100.0, 500.0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/7")
    parser.add_argument("--profile", type=Path, help="folder for py-spy profiles of each server")
    parser.add_argument("--only", nargs="*", help="run only systems whose name contains one")
    add_keep_option(parser)
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse(sys.argv[1:])
    os.environ.setdefault("PYTHONHASHSEED", "0")
    with work_folder("karakana-peers-", keep=arguments.keep) as folder:
        asyncio.run(main(arguments, folder))
