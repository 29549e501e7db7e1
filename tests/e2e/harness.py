"""The real Karakana process (``bot.main.build_bot``) served by uvicorn on a loopback port, wired to
the fake Twilio and Telegram servers, for end-to-end tests over real HTTP.

The listening socket is bound first so the public base URL (which webhook signatures cover) is
known before the app is built. Retries back off in milliseconds instead of seconds so the suite
stays fast; everything else is what ``karakana run`` builds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, overload

import uvicorn
from sqlmodel import col, select

from bot.channels.dispatcher import Backoff
from bot.main import Factory, KarakanaBot, build_bot
from bot.settings import Settings
from conversations.messages import Reply
from conversations.outbox import enqueue
from domain.model import (
    Channel,
    InboundMessage,
    OutboxKind,
    OutboxMessage,
    OutboxStatus,
    Person,
    Role,
)
from domain.services.people import add_person
from domain.store import Store
from tests.fakes.server import listening_socket
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.twilio_api import FakeTwilio

WEBHOOK_SECRET = "telegram-webhook-secret-for-tests-0123"
T = TypeVar("T")


@dataclass
class Running:
    url: str
    bot: KarakanaBot
    store: Store
    settings: Settings
    twilio: FakeTwilio
    telegram: FakeTelegram

    @property
    def whatsapp_webhook(self) -> str:
        return f"{self.url}/whatsapp/webhook"

    @property
    def status_callback(self) -> str:
        return f"{self.url}/whatsapp/status"

    @property
    def telegram_webhook(self) -> str:
        return f"{self.url}/telegram/webhook"

    async def whatsapp(
        self, number: str, body: str = "", *, signature: str | None = "computed", **form: Any
    ) -> Any:
        """``number`` writes to us on WhatsApp, signed as Twilio signs (or as ``signature``)."""
        fields = self.twilio.inbound_form(from_number=number, body=body, **form)
        return await self.twilio.post_webhook(self.whatsapp_webhook, fields, signature=signature)

    async def telegram_update(
        self, update: dict[str, Any], secret: str | None = WEBHOOK_SECRET
    ) -> Any:
        return await self.telegram.deliver(self.telegram_webhook, update, secret_token=secret)

    def texts_to(self, number: str) -> list[str]:
        """Everything sent to ``number`` on WhatsApp, in the order Twilio received it."""
        return [m.body or "" for m in self.twilio.messages if m.to == f"whatsapp:{number}"]

    def telegram_texts(self, chat_id: int) -> list[str]:
        return [
            str(params["text"])
            for params in self.telegram.sent("sendMessage")
            if str(params.get("chat_id")) == str(chat_id)
        ]

    async def outbox(self, address: str | None = None) -> list[OutboxMessage]:
        async with self.store.transaction() as session:
            statement = select(OutboxMessage).order_by(col(OutboxMessage.id))
            if address is not None:
                statement = statement.where(OutboxMessage.address == address)
            return list(await session.exec(statement))

    async def all_sent(self, address: str) -> list[OutboxMessage]:
        """The outbox to ``address`` once every message in it is marked SENT, else nothing (for
        ``eventually``): a fake provider records a message before the dispatcher's group commit
        marks it sent."""
        messages = await self.outbox(address)
        if messages and all(message.status is OutboxStatus.SENT for message in messages):
            return messages
        return []

    async def inbound(self) -> list[InboundMessage]:
        async with self.store.transaction() as session:
            return list(await session.exec(select(InboundMessage).order_by(col(InboundMessage.id))))

    async def person(self, person_id: int) -> Person:
        async with self.store.transaction() as session:
            person = await session.get(Person, person_id)
            assert person is not None
            return person

    async def add_staff(
        self, name: str, *, channel: Channel, address: str, role: Role = Role.FIELD_AGENT
    ) -> Person:
        async with self.store.transaction() as session:
            return await add_person(
                session,
                role=role,
                name=name,
                channel=channel,
                address=address,
                areas=("Kibera",),
                now=datetime.now(UTC),
            )

    async def queue_business(
        self, person: Person, channel: Channel, address: str, text: str
    ) -> int:
        """A business message, as the scheduler or a domain event would queue it."""
        async with self.store.transaction() as session:
            message = await enqueue(
                session,
                channel=channel,
                address=address,
                reply=Reply(text),
                kind=OutboxKind.BUSINESS,
                now=datetime.now(UTC),
                person_id=person.id,
            )
            assert message.id is not None
            message_id = message.id
        self.bot.dispatcher.wake()
        return message_id


PATIENCE = 30.0
"""Seconds ``eventually`` waits before it calls a check false."""


@overload
async def eventually(
    check: Callable[[], Awaitable[T | None]], *, within: float = PATIENCE
) -> T: ...
@overload
async def eventually(check: Callable[[], T | None], *, within: float = PATIENCE) -> T: ...
async def eventually(check: Callable[[], object], *, within: float = PATIENCE) -> object:
    """Poll ``check`` until it returns something truthy (or fail after ``within`` seconds).

    ``within`` is a ceiling, not a wait: a check that comes true returns at once, so it costs a
    passing test nothing, and it is generous because CI runs two test workers on two busy cores.
    """
    deadline = asyncio.get_running_loop().time() + within
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"still not true after {within} s: {check}")
        await asyncio.sleep(0.02)


async def settle(seconds: float = 0.15) -> None:
    """Give background work time to do something it must not do."""
    await asyncio.sleep(seconds)


@contextlib.asynccontextmanager
async def running_karakana(
    store: Store,
    tmp_path: Path,
    twilio: FakeTwilio,
    telegram: FakeTelegram,
    *,
    public: bool = True,
    public_url: str | None = None,
    whatsapp: bool = True,
    templates: dict[str, str] | None = None,
    media_max_bytes: int = 64 * 1024,
    media_not_found_delays: tuple[float, ...] = (0.05, 0.05),
    max_attempts: int = 4,
    extra_settings: dict[str, Any] | None = None,
) -> AsyncIterator[Running]:
    # Nagle off, as production's uvicorn has it: no ~40 ms stall to hide a race.
    sock = listening_socket()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    values: dict[str, Any] = {
        "database_url": "sqlite+aiosqlite:///unused.db",  # the store passed in is used
        "media_dir": tmp_path / "media",
        "media_max_bytes": media_max_bytes,
        "telegram_bot_token": telegram.token,
        "telegram_api_base_url": telegram.base_url,
        "whatsapp_template_sids": json.dumps(templates or {}),
        "outbox_max_attempts": max_attempts,
        "whatsapp_send_rate": 50,
        "telegram_send_rate": 50,
    }
    if public:
        values |= {
            "public_base_url": public_url or url,
            "telegram_webhook_secret": WEBHOOK_SECRET,
        }
    if whatsapp:
        values |= {
            "twilio_account_sid": twilio.account_sid,
            "twilio_auth_token": twilio.auth_token,
            "twilio_whatsapp_from": twilio.whatsapp_from,
            "twilio_api_base_url": twilio.base_url,
        }
    values |= extra_settings or {}
    settings = Settings(_env_file=None, **values)
    bot = build_bot(
        Factory(settings=settings, store=store),
        webchat=False,
        backoff=Backoff(base=0.05, cap=0.2),
        poll_interval=0.05,
        media_not_found_delays=media_not_found_delays,
    )
    config = uvicorn.Config(
        bot.app, lifespan="on", log_config=None, log_level="warning", timeout_graceful_shutdown=5
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("the server stopped before it started")
            await asyncio.sleep(0.01)
        yield Running(url, bot, store, settings, twilio, telegram)
    finally:
        server.should_exit = True
        await task
        sock.close()
