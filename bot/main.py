"""The composition root: the one place that reads settings and builds concrete objects.

Everything else receives what it needs as arguments. The CLI builds a ``Factory`` per command;
``build_bot`` wires the one long-running process (``karakana run``): the Starlette app with the
channels' webhooks and the local web chat, the python-telegram-bot Application (webhook mode
without an Updater, or long polling when Telegram cannot reach us), the outbox dispatcher and the
re-processing of messages accepted before the last stop, all on one asyncio loop.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import socket
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import uvicorn
from starlette.applications import Starlette
from starlette.routing import BaseRoute
from telegram import Update
from telegram.ext import Application, ContextTypes, TypeHandler

from bot.channels import TelegramGateway, WhatsAppGateway
from bot.database import check_database_current
from bot.dispatcher import Backoff, Dispatcher, Sender, release_held
from bot.inbound import Inbound, MediaFetcher
from bot.media import LocalMediaStore
from bot.server import Health, create_app
from bot.settings import Settings
from bot.telegram_channel import (
    ALLOWED_UPDATES,
    CallbackSigner,
    TelegramMediaFetcher,
    TelegramSender,
    build_application,
    register_webhook,
)
from bot.whatsapp import MediaDownloader, WhatsAppSender
from conversations.engine import Engine
from conversations.messages import Incoming
from domain.explosion import factory_today
from domain.model import Channel
from domain.store import Store

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_SECONDS = 10.0  # in-flight messages get this long to finish at SIGTERM


def load_settings() -> Settings:
    """Settings from the environment and ``.env``; raises pydantic's ValidationError if bad."""
    return Settings()


def utc_now() -> datetime:
    """The real clock; only the composition root reads it, services are handed ``now``."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Factory:
    """What a command needs: the settings, the store, and the time."""

    settings: Settings
    store: Store

    @property
    def zone(self) -> ZoneInfo:
        return self.settings.zone

    def now(self) -> datetime:
        return utc_now()

    def engine(self) -> Engine:
        """The conversation engine every channel shares."""
        return Engine(
            self.store,
            idle_timeout=timedelta(minutes=self.settings.conversation_idle_minutes),
        )

    def today(self) -> date:
        """The calendar day at the factory (Nairobi), which is what due dates are read in."""
        return factory_today(self.now(), self.zone)


@asynccontextmanager
async def open_factory(settings: Settings, *, check_schema: bool = True) -> AsyncIterator[Factory]:
    """The factory on ``settings``' database, closed afterwards.

    Unless told otherwise it first refuses a database behind the code's migrations (raising
    ``bot.database.DatabaseNotCurrent``, whose message names ``karakana db upgrade``).
    """
    if check_schema:
        await check_database_current(settings.database_url)
    store = Store.from_url(settings.database_url)
    try:
        yield Factory(settings=settings, store=store)
    finally:
        await store.close()


# --- the long-running process ---------------------------------------------------------------------

Telegram = Application[Any, Any, Any, Any, Any, Any]


@dataclass
class KarakanaBot:
    """The parts of the running process, for ``karakana run`` and the end-to-end tests."""

    app: Starlette
    engine: Engine
    inbound: Inbound
    dispatcher: Dispatcher
    media_store: LocalMediaStore
    telegram: Telegram | None
    telegram_polling: bool

    @property
    def channels(self) -> list[str]:
        return sorted(channel.value for channel in self.dispatcher.channels)


def _webchat_routes(
    factory: Factory, engine: Engine, media_store: LocalMediaStore, clock: Callable[[], datetime]
) -> list[BaseRoute]:
    """The local web chat (bot/webchat.py), when it is installed."""
    if importlib.util.find_spec("bot.webchat") is None:
        return []
    from bot.webchat import webchat_routes

    return webchat_routes(
        factory.store,
        engine,
        media_store,
        clock=clock,
        max_image_bytes=factory.settings.media_max_bytes,
    )


def build_bot(
    factory: Factory,
    *,
    extra_routes: Sequence[BaseRoute] = (),
    webchat: bool = True,
    clock: Callable[[], datetime] | None = None,
    backoff: Backoff | None = None,
    poll_interval: float = 0.5,
    media_not_found_delays: Sequence[float] = (0.5, 1.0, 2.0),
) -> KarakanaBot:
    """Wire the process from ``factory.settings``; nothing runs until the app's lifespan starts."""
    settings = factory.settings
    now = clock or factory.now
    store = factory.store
    engine = factory.engine()
    media_store = LocalMediaStore(settings.media_dir)
    senders: dict[Channel, Sender] = {}
    fetchers: dict[Channel, MediaFetcher] = {}
    closers: list[Callable[[], Any]] = []
    rates = {
        Channel.WHATSAPP: settings.whatsapp_send_rate,
        Channel.TELEGRAM: settings.telegram_send_rate,
    }

    whatsapp_parts: tuple[str, str] | None = None
    if settings.whatsapp_configured:
        assert settings.twilio_auth_token is not None
        assert settings.public_base_url is not None
        assert settings.twilio_account_sid is not None
        assert settings.twilio_whatsapp_from is not None
        auth_token = settings.twilio_auth_token.get_secret_value()
        whatsapp_parts = (auth_token, settings.public_base_url)
        whatsapp_sender = WhatsAppSender(
            account_sid=settings.twilio_account_sid,
            auth_token=auth_token,
            from_number=settings.twilio_whatsapp_from,
            api_base_url=settings.twilio_api_base_url,
            status_callback_url=f"{settings.public_base_url}/whatsapp/status",
        )
        downloader = MediaDownloader(
            account_sid=settings.twilio_account_sid,
            auth_token=auth_token,
            store=media_store,
            api_base_url=settings.twilio_api_base_url,
            max_bytes=settings.media_max_bytes,
            not_found_delays=media_not_found_delays,
        )
        senders[Channel.WHATSAPP] = whatsapp_sender
        fetchers[Channel.WHATSAPP] = downloader
        closers.extend([whatsapp_sender.aclose, downloader.aclose])

    telegram: Telegram | None = None
    signer: CallbackSigner | None = None
    if settings.telegram_configured:
        assert settings.telegram_bot_token is not None
        token = settings.telegram_bot_token.get_secret_value()
        telegram = build_application(
            token,
            api_base_url=settings.telegram_api_base_url,
            polling=not settings.telegram_uses_webhook,
        )
        signer = CallbackSigner.for_bot_token(token)
        senders[Channel.TELEGRAM] = TelegramSender(telegram.bot, signer=signer, store=media_store)
        fetchers[Channel.TELEGRAM] = TelegramMediaFetcher(
            telegram.bot, store=media_store, max_bytes=settings.media_max_bytes
        )

    dispatcher = Dispatcher(
        store,
        senders,
        clock=now,
        templates=settings.whatsapp_template_sids,
        rates=rates,
        max_attempts=settings.outbox_max_attempts,
        backoff=backoff,
        poll_interval=poll_interval,
    )

    async def after_handled(incoming: Incoming) -> None:
        if incoming.channel is Channel.WHATSAPP:
            await release_held(store, incoming.channel, incoming.address, now=now())
        dispatcher.wake()

    inbound = Inbound(
        store,
        engine,
        clock=now,
        fetchers=fetchers,
        max_media_bytes=settings.media_max_bytes,
        after_handled=after_handled,
    )
    whatsapp_gateway = (
        None
        if whatsapp_parts is None
        else WhatsAppGateway(
            auth_token=whatsapp_parts[0],
            public_base_url=whatsapp_parts[1],
            inbound=inbound,
            store=store,
            clock=now,
        )
    )
    telegram_gateway = None
    if telegram is not None and signer is not None:
        secret = settings.telegram_webhook_secret
        telegram_gateway = TelegramGateway(
            bot=telegram.bot,
            signer=signer,
            inbound=inbound,
            store=store,
            catalogue=engine.catalogue,
            clock=now,
            webhook_secret=None if secret is None else secret.get_secret_value(),
        )
    polling = telegram is not None and not settings.telegram_uses_webhook

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        dispatching: asyncio.Task[None] | None = None
        try:
            if telegram is not None and telegram_gateway is not None:
                await _start_telegram(telegram, telegram_gateway, settings, polling=polling)
            await dispatcher.recover()
            await inbound.recover()
            dispatching = asyncio.create_task(dispatcher.run(), name="outbox-dispatcher")
            log.info(
                "Karakana is running",
                extra={"channels": ",".join(sorted(c.value for c in senders)) or "web chat"},
            )
            yield
        finally:
            # Stop taking new work, finish what is in flight, then send what it queued.
            updater = None if telegram is None else telegram.updater
            if updater is not None and updater.running:
                await updater.stop()
            await inbound.drain(grace=SHUTDOWN_GRACE_SECONDS)
            if telegram_gateway is not None:
                await telegram_gateway.drain(grace=2.0)
            dispatcher.stop()
            if dispatching is not None:
                await dispatching
                try:
                    await dispatcher.flush(grace=5.0)
                except Exception:
                    log.exception("could not send everything before stopping")
            for close in closers:
                await close()
            if telegram is not None:
                if telegram.running:
                    await telegram.stop()
                await telegram.shutdown()
            log.info("Karakana stopped")

    local = _webchat_routes(factory, engine, media_store, now) if webchat else []
    routes = [*local, *extra_routes]
    app = create_app(
        health=Health(store, dispatcher),
        whatsapp=whatsapp_gateway,
        telegram=telegram_gateway,
        telegram_webhook=not polling,
        extra_routes=routes,
        lifespan=lifespan,
    )
    return KarakanaBot(
        app=app,
        engine=engine,
        inbound=inbound,
        dispatcher=dispatcher,
        media_store=media_store,
        telegram=telegram,
        telegram_polling=polling,
    )


async def _start_telegram(
    telegram: Telegram, gateway: TelegramGateway, settings: Settings, *, polling: bool
) -> None:
    await telegram.initialize()
    if not polling:
        assert settings.public_base_url is not None
        assert gateway.webhook_secret is not None
        await register_webhook(
            telegram.bot,
            url=f"{settings.public_base_url}/telegram/webhook",
            secret_token=gateway.webhook_secret,
        )
        return

    async def on_update(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await gateway.receive(update)

    telegram.add_handler(TypeHandler(Update, on_update))
    await telegram.start()
    assert telegram.updater is not None
    # A webhook left over from a deployment would make getUpdates fail.
    await telegram.bot.delete_webhook()
    await telegram.updater.start_polling(allowed_updates=list(ALLOWED_UPDATES))


def uvicorn_server(bot: KarakanaBot, settings: Settings) -> uvicorn.Server:
    config = uvicorn.Config(
        bot.app,
        host=settings.host,
        port=settings.port,
        lifespan="on",
        log_config=None,  # our JSON logging, masked, already configured
        access_log=False,
        timeout_graceful_shutdown=int(SHUTDOWN_GRACE_SECONDS),
    )
    return uvicorn.Server(config)


async def serve(
    factory: Factory,
    *,
    extra_routes: Sequence[BaseRoute] = (),
    sockets: list[socket.socket] | None = None,
) -> None:
    """Run until SIGTERM or SIGINT (uvicorn catches them and shuts the lifespan down gracefully)."""
    bot = build_bot(factory, extra_routes=extra_routes)
    await uvicorn_server(bot, factory.settings).serve(sockets=sockets)
