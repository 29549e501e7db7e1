"""Outbox throughput: how fast the dispatcher empties a backlog into the providers (not a test).

    .venv/bin/python bench/bench_outbox.py                  # 2,000 people x 10 messages, SQLite
    .venv/bin/python bench/bench_outbox.py --people 500 --each 20

The backlog (business messages, half to WhatsApp numbers inside their 24-hour window, half to
Telegram chats) is queued first; then the process that ``karakana run`` builds (``build_bot``,
its lifespan: Telegram start-up, recovery, the dispatcher) starts with the send rate limits
raised out of the way, against the fake Twilio and fake Telegram servers on loopback, and the
clock runs until every message is SENT. Afterwards each person's messages must have reached the
provider exactly once each and in the order they were queued.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlmodel import SQLModel, func, select

import domain.model  # noqa: F401  (every table on the metadata)
from bench.work_folder import run_in_work_folder
from bot.main import Factory, build_bot
from bot.settings import Settings
from conversations.messages import Reply
from conversations.outbox import enqueue
from domain.model import (
    Channel,
    InboundMessage,
    InboundStatus,
    OutboxKind,
    OutboxMessage,
    OutboxStatus,
)
from domain.store import Store
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.twilio_api import FakeTwilio

WEBHOOK_SECRET = "bench-telegram-webhook-secret-0123456789"  # noqa: S105 (a fake)


def addresses(people: int) -> list[tuple[Channel, str]]:
    return [
        (Channel.WHATSAPP, f"+2547{40_000_000 + n:08d}")
        if n % 2 == 0
        else (Channel.TELEGRAM, str(800_000_000 + n))
        for n in range(people)
    ]


async def queue_backlog(store: Store, people: int, each: int) -> int:
    now = datetime.now(UTC)
    async with store.engine.begin() as connection:
        await connection.run_sync(SQLModel.metadata.create_all)
    everyone = addresses(people)
    async with store.transaction() as session:
        for n, (channel, address) in enumerate(everyone):
            if channel is Channel.WHATSAPP:  # they wrote to us today: the window is open
                session.add(
                    InboundMessage(
                        channel=channel,
                        provider_message_id=f"SMbench{n}",
                        address=address,
                        payload="{}",
                        received_at=now,
                        processed_at=now,
                        status=InboundStatus.PROCESSED,
                    )
                )
    # Round-robin over people, so the backlog interleaves as a busy day's would.
    for k in range(each):
        async with store.transaction() as session:
            for channel, address in everyone:
                await enqueue(
                    session,
                    channel=channel,
                    address=address,
                    reply=Reply(f"Ujumbe {k} kwa {address}"),
                    kind=OutboxKind.BUSINESS,
                    now=now,
                )
    return people * each


async def main(args: argparse.Namespace, workdir: Path) -> None:
    store = Store.from_url(f"sqlite+aiosqlite:///{workdir / 'karakana.db'}")
    began = time.perf_counter()
    total = await queue_backlog(store, args.people, args.each)
    print(f"queued {total:,} messages in {time.perf_counter() - began:.1f} s")
    twilio, telegram = FakeTwilio(), FakeTelegram()
    async with twilio.running(), telegram.running():
        settings = Settings(
            _env_file=None,
            database_url="sqlite+aiosqlite:///unused.db",  # the store passed in is used
            media_dir=workdir / "media",
            public_base_url="http://127.0.0.1:9",  # nothing calls us back in this benchmark
            twilio_account_sid=twilio.account_sid,
            twilio_auth_token=twilio.auth_token,
            twilio_whatsapp_from=twilio.whatsapp_from,
            twilio_api_base_url=twilio.base_url,
            telegram_bot_token=telegram.token,
            telegram_api_base_url=telegram.base_url,
            telegram_webhook_secret=WEBHOOK_SECRET,
            whatsapp_send_rate=1_000_000,
            telegram_send_rate=1_000_000,
        )
        bot = build_bot(Factory(settings=settings, store=store), webchat=False)
        waiting = select(func.count()).where(OutboxMessage.status != OutboxStatus.SENT)
        async with bot.app.router.lifespan_context(bot.app):
            began = time.perf_counter()
            bot.dispatcher.wake()
            while True:
                async with store.read() as session:
                    left = (await session.exec(waiting)).one()
                if left == 0:
                    break
                await asyncio.sleep(0.1)
            seconds = time.perf_counter() - began
    await store.close()

    # Per person: every message once, in the order queued.
    got: dict[str, list[str]] = defaultdict(list)
    for message in twilio.messages:
        got[message.to.removeprefix("whatsapp:")].append(message.body or "")
    for params in telegram.sent("sendMessage"):
        got[str(params["chat_id"])].append(str(params["text"]))
    broken = [
        address
        for _, address in addresses(args.people)
        if got[address] != [f"Ujumbe {k} kwa {address}" for k in range(args.each)]
    ]
    sent = sum(len(texts) for texts in got.values())
    print(
        json.dumps(
            {
                "messages": total,
                "people": args.people,
                "seconds": round(seconds, 2),
                "messages_per_second": round(total / seconds, 1),
                "provider_sends": sent,
                "people_out_of_order_or_missing": len(broken),
            }
        )
    )
    if broken or sent != total:
        raise SystemExit(f"ordering or exactly-once broken for {broken[:5]}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--each", type=int, default=10)
    run_in_work_folder(parser, "karakana-outbox-", main)
