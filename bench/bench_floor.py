"""What the fixed stack costs a message at the least (not part of the tests).

    .venv/bin/python bench/bench_floor.py

The inbound benchmark compares Karakana with a bare endpoint. This one asks a narrower question:
how much CPU do the pieces the design card fixes (python-telegram-bot, the twilio SDK, SQLModel
over aiosqlite, Starlette under uvicorn) cost for one message, each timed alone in this process,
with the fake providers in a process of their own as Safaricom's, Twilio's and Telegram's servers
are. The sum is a floor under any design of the chat path that keeps those pieces: whatever the
flows do on top comes in addition.

Each figure is this process's user + system CPU (``time.process_time``) over many calls, divided
by the calls: the client side of a provider call only, the fake server's CPU is not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import uvloop  # noqa: E402
from sqlalchemy import select, text  # noqa: E402
from sqlmodel import SQLModel  # noqa: E402
from telegram import Update  # noqa: E402
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]  # noqa: E402

import domain.model  # noqa: E402, F401  (registers every table)
from bench.bench_inbound import bare_ceiling, bare_server, cpu_seconds  # noqa: E402
from bot.channels.media import LocalMediaStore  # noqa: E402
from bot.channels.telegram import CallbackSigner, TelegramSender, build_application  # noqa: E402
from bot.channels.whatsapp import WhatsAppSender, verify_signature  # noqa: E402
from bot.db.sqlite_inline import connect_inline  # noqa: E402
from conversations.messages import Choice, Reply  # noqa: E402
from domain.model import Person, Role  # noqa: E402
from domain.store import Store  # noqa: E402
from tests.fakes.telegram_api import FakeTelegram  # noqa: E402
from tests.fakes.twilio_api import FakeTwilio  # noqa: E402

MENU = Reply(
    "Habari Wanjiku! What would you like to do?",
    choices=(
        Choice("menu:1:offers", "My offers"),
        Choice("menu:2:jobs", "My jobs"),
        Choice("menu:3:earnings", "My earnings"),
    ),
)
FORM = {
    "MessageSid": "SM" + "0" * 32,
    "AccountSid": "AC" + "0" * 32,
    "From": "whatsapp:+254700000001",
    "To": "whatsapp:+14155238886",
    "Body": "menu",
    "NumMedia": "0",
    "ProfileName": "Wanjiku",
    "WaId": "254700000001",
}
UPDATE = {
    "update_id": 500001,
    "message": {
        "message_id": 7,
        "date": 1_764_000_000,
        "chat": {"id": 700000001, "type": "private", "first_name": "Wanjiku"},
        "from": {"id": 700000001, "is_bot": False, "first_name": "Wanjiku"},
        "text": "menu",
    },
}


def cpu_per_call(calls: int, work: Callable[[], object]) -> float:
    """Milliseconds of this process's CPU for one synchronous call."""
    work()
    started = time.process_time()
    for _ in range(calls):
        work()
    return (time.process_time() - started) / calls * 1000


async def cpu_per_await(
    calls: int, work: Callable[[], Awaitable[object]], *, in_flight: int = 1
) -> float:
    """Milliseconds of this process's CPU for one awaited call, ``in_flight`` at a time."""
    await work()
    slots = asyncio.Semaphore(in_flight)

    async def one() -> None:
        async with slots:
            await work()

    started = time.process_time()
    await asyncio.gather(*(one() for _ in range(calls)))
    return (time.process_time() - started) / calls * 1000


async def web_pieces(calls: int) -> dict[str, float]:
    auth_token = "0" * 32
    url = "https://karakana.example/whatsapp/webhook"
    signature = RequestValidator(auth_token).compute_signature(url, FORM)
    origin, path = "https://karakana.example", "/whatsapp/webhook"
    assert verify_signature(auth_token, origin, path, FORM, signature)
    return {
        "Twilio signature check (twilio RequestValidator)": cpu_per_call(
            calls,
            lambda: verify_signature(auth_token, origin, path, FORM, signature),
        ),
        "Telegram update parsed (python-telegram-bot Update.de_json)": cpu_per_call(
            calls, lambda: Update.de_json(json.loads(json.dumps(UPDATE)), None)
        ),
    }


async def bare_round_trip(seconds: float, concurrency: int) -> dict[str, float]:
    """The inbound benchmark's own ceiling phase, split: its client's CPU and the server's."""
    twilio = FakeTwilio()
    async with bare_server() as (url, pid), aiohttp.ClientSession() as http:
        client_before, server_before = time.process_time(), cpu_seconds([pid])
        result = await bare_ceiling(http, url, twilio, concurrency, seconds)
        client = time.process_time() - client_before
        server = cpu_seconds([pid]) - server_before
    requests = len(result.latencies)
    print(f"bare endpoint: {requests / result.seconds:,.0f} requests/s, {concurrency} in flight")
    return {
        "load generator: one signed form POST (aiohttp client, as bench_inbound.py)": client
        / requests
        * 1000,
        "bare endpoint: one form POST parsed and answered (uvicorn, Starlette)": server
        / requests
        * 1000,
    }


async def provider_pieces(calls: int, in_flight: int, media: Path) -> dict[str, float]:
    telegram_url, twilio_url = await _fake_providers_elsewhere()
    telegram = build_application(FakeTelegram.token, api_base_url=telegram_url)
    signer = CallbackSigner.for_bot_token(FakeTelegram.token)
    results: dict[str, float] = {}
    async with telegram:
        sender = TelegramSender(telegram.bot, signer=signer, store=LocalMediaStore(media))
        results[
            "reply sent to Telegram (python-telegram-bot Bot.send_message)"
        ] = await cpu_per_await(calls, lambda: sender.send("700000001", MENU), in_flight=in_flight)
    async with WhatsAppSender(
        account_sid=FakeTwilio.account_sid,
        auth_token=FakeTwilio.auth_token,
        from_number=FakeTwilio.whatsapp_from,
        api_base_url=twilio_url,
        status_callback_url="https://karakana.example/whatsapp/status",
    ) as whatsapp:
        results[
            "reply sent to WhatsApp (twilio Client.messages.create_async)"
        ] = await cpu_per_await(
            calls,
            lambda: whatsapp.send("whatsapp:+254700000001", MENU),
            in_flight=in_flight,
        )
    return results


async def store_pieces(calls: int, folder: Path) -> dict[str, float]:
    store = Store.from_url(
        f"sqlite+aiosqlite:///{folder / 'floor.db'}", sqlite_connect=connect_inline
    )
    async with store.engine.begin() as connection:
        await connection.run_sync(SQLModel.metadata.create_all)
    async with store.transaction() as session:
        session.add(Person(name="Wanjiku", role=Role.ARTISAN, created_at=datetime.now(UTC)))
    by_id = select(Person).where(Person.id == 1)  # type: ignore[arg-type]
    person_row = select(*Person.__table__.columns).where(Person.__table__.c.id == 1)  # type: ignore[attr-defined]

    async def orm_get() -> None:
        async with store.read() as session:
            for _ in range(10):
                session.expunge_all()
                await session.get(Person, 1)

    async def orm_select() -> None:
        async with store.read() as session:
            for _ in range(10):
                session.expunge_all()
                (await session.exec(by_id)).one()  # type: ignore[call-overload]

    async def core_select() -> None:
        async with store.read() as session:
            connection = await session.connection()
            for _ in range(10):
                (await connection.execute(person_row)).first()

    async def empty_write() -> None:
        async with store.transaction() as session:
            connection = await session.connection()
            await connection.execute(text("UPDATE person SET name = name WHERE id = 1"))

    try:
        return {
            "ORM Session.get by primary key (SQLModel, aiosqlite)": await cpu_per_await(
                calls // 10, orm_get
            )
            / 10,
            "ORM select of one row (SQLModel, aiosqlite)": await cpu_per_await(
                calls // 10, orm_select
            )
            / 10,
            "Core select of one row (SQLAlchemy, aiosqlite)": await cpu_per_await(
                calls // 10, core_select
            )
            / 10,
            "write transaction: one UPDATE and COMMIT": await cpu_per_await(calls, empty_write),
        }
    finally:
        await store.close()


async def _fake_providers_elsewhere() -> tuple[str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--serve-fakes", stdout=asyncio.subprocess.PIPE
    )
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), timeout=30)
    urls = json.loads(line)
    _children.append(process)
    return urls["telegram"], urls["twilio"]


_children: list[asyncio.subprocess.Process] = []


async def serve_fakes() -> None:
    async with FakeTelegram().running() as telegram, FakeTwilio().running() as twilio:
        print(json.dumps({"telegram": telegram.base_url, "twilio": twilio.base_url}), flush=True)
        await asyncio.Event().wait()  # until terminated; a few thousand logged calls are nothing


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="karakana-floor-") as folder:
        figures: dict[str, Any] = {}
        figures |= await bare_round_trip(args.seconds, concurrency=32)
        figures |= await web_pieces(args.calls)
        figures |= await store_pieces(args.calls, Path(folder))
        try:
            figures |= await provider_pieces(args.calls, args.in_flight, Path(folder) / "media")
        finally:
            for child in _children:
                child.terminate()
                with contextlib.suppress(ProcessLookupError):
                    await child.wait()
    print(f"CPU per call in this process, {args.calls:,} calls, sends {args.in_flight} in flight")
    print("| piece | CPU ms per call |")
    print("|---|---|")
    for name, value in figures.items():
        print(f"| {name} | {value:.3f} |")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--in-flight", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0, help="of the bare round trip")
    parser.add_argument("--serve-fakes", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse(sys.argv[1:])
    uvloop.install()
    asyncio.run(serve_fakes() if arguments.serve_fakes else main(arguments))
