"""The composition root: the one place that reads settings and builds concrete objects.

Everything else receives what it needs as arguments. The CLI builds a ``Factory`` per command;
``build_bot`` wires the one long-running process (``karakana run``): the Starlette app with the
channels' webhooks (or, as a local demo with no channel, the web chat), the python-telegram-bot
Application (webhook mode without an Updater, or long polling when Telegram cannot reach us), the
outbox dispatcher, the re-processing of messages accepted before the last stop, the APScheduler
jobs (matching rounds, offer expiry, reminders, payout batches, housekeeping) and, when M-Pesa is
configured, the payout runner with Daraja's callback routes, all on one asyncio loop.
"""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import logging
import secrets
import socket
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

import uvicorn
from apscheduler.schedulers.asyncio import AsyncIOScheduler  # type: ignore[import-untyped]
from starlette.applications import Starlette
from starlette.routing import BaseRoute
from telegram import Update
from telegram.ext import Application, ContextTypes, TypeHandler

from bot.channels.customers import RetailerCallbackSender, ShopifySender
from bot.channels.dispatcher import Backoff, Dispatcher, Gate, Sender, release_held
from bot.channels.gateways import MediaLinks, TelegramGateway, WhatsAppGateway
from bot.channels.inbound import Inbound, MediaFetcher
from bot.channels.media import LocalMediaStore, MediaDocuments, MediaStore
from bot.channels.sms import SmsSender
from bot.channels.sms_routes import SmsBudget, SmsGateway, renderer, sms_routes
from bot.channels.telegram import (
    ALLOWED_UPDATES,
    CallbackSigner,
    TelegramMediaFetcher,
    TelegramSender,
    build_application,
    register_webhook,
)
from bot.channels.whatsapp import MediaDownloader, WhatsAppSender
from bot.db.database import check_database_current
from bot.db.sqlite_inline import connect_inline
from bot.intake import intake_routes
from bot.matchmaker import Matchmaker
from bot.payments.daraja import DarajaClient, DarajaConfig, security_credential
from bot.payments.routes import mpesa_routes
from bot.payments.runner import PayoutRunner
from bot.payments.waker import PayoutWaker
from bot.scheduling import (
    InFlight,
    JobSettings,
    ScheduledJob,
    build_scheduler,
    karakana_jobs,
    record_first_runs,
)
from bot.server import Health, create_app, media_routes
from bot.settings import Settings, webchat_refusal
from bot.statements.attachments import MediaAttachments
from bot.statements.routes import verify_routes
from bot.storage.media import ObjectMediaStore
from bot.storage.models import ObjectModelRegistry
from bot.storage.objects import ObjectStore, ObjectStoreConfig, shared_object_store
from conversations.engine import Engine
from conversations.i18n import Catalogue, default_catalogue
from conversations.messages import Incoming
from conversations.notices import RevenueBand
from conversations.ports import AdminPolicy, DocumentReader, MatchRunner
from conversations.registry import REGISTRY
from domain.explosion import factory_today
from domain.model import Channel
from domain.store import Store
from matching.models import ModelRegistry
from matching.retraining import nightly_retrainer
from matching.round import RoundOptions

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_SECONDS = 10.0  # in-flight messages get this long to finish at SIGTERM
# The outbox's channels to customers' systems rather than to people (bot/channels/customers.py).
CUSTOMER_CHANNELS = frozenset({Channel.SHOPIFY, Channel.RETAILER_CALLBACK})


def load_settings() -> Settings:
    """Settings from the environment and ``.env``; raises pydantic's ValidationError if bad."""
    return Settings()


def round_options(settings: Settings) -> RoundOptions:
    """The matching round's options: production's defaults (matching.round.RoundOptions, the
    object the simulator runs too) with the ones Settings names."""
    return RoundOptions().with_(
        offer_ttl=settings.offer_ttl,
        min_lot=settings.min_lot,
        max_splits=settings.max_splits,
        over_offer=settings.over_offer,
    )


def object_store_config(settings: Settings) -> ObjectStoreConfig | None:
    """The object store's settings (bot/storage), or None when ``OBJECT_STORE_URL`` is unset."""
    if settings.object_store_url is None:
        return None
    key_id, secret = settings.object_store_access_key_id, settings.object_store_secret_access_key
    return ObjectStoreConfig(
        url=settings.object_store_url,
        endpoint_url=settings.object_store_endpoint_url,
        region=settings.object_store_region,
        access_key_id=None if key_id is None else key_id.get_secret_value(),
        secret_access_key=None if secret is None else secret.get_secret_value(),
    )


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

    def admin_policy(self) -> AdminPolicy:
        settings = self.settings
        return AdminPolicy(
            share_low=settings.revenue_share_min,
            share_high=settings.revenue_share_max,
            payout_minimum_cents=settings.payout_minimum_cents,
            mpesa_configured=settings.mpesa_configured,
            cancelled_work_grace_days=settings.cancelled_work_grace_days,
            payout_max_per_artisan_cents=settings.payout_max_per_artisan_cents,
            payout_max_per_batch_cents=settings.payout_max_per_batch_cents,
            payout_maker_checker=settings.payout_maker_checker,
        )

    def object_store(self) -> ObjectStore | None:
        """The bucket for media and models (bot/storage), or None: local folders."""
        config = object_store_config(self.settings)
        return None if config is None else shared_object_store(config)

    def media_store(self) -> MediaStore:
        """Where photos, charts, PDFs and CSVs are kept: the object store, else ``MEDIA_DIR``."""
        objects = self.object_store()
        if objects is None:
            return LocalMediaStore(self.settings.media_dir)
        return ObjectMediaStore(objects)

    def _stored_media(self) -> ObjectMediaStore | None:
        """The object store's media, for the housekeeping purge; None with local folders."""
        objects = self.object_store()
        return None if objects is None else ObjectMediaStore(objects)

    def model_registry(self) -> ModelRegistry:
        """Matching's model versions: in the object store, else under ``MODELS_DIR``."""
        objects = self.object_store()
        if objects is None:
            return ModelRegistry(self.settings.models_dir)
        return ObjectModelRegistry(objects)

    def matchmaker(self) -> Matchmaker:
        settings = self.settings
        return Matchmaker(
            registry=self.model_registry(),
            seed=settings.match_seed,
            options=round_options(settings),
        )

    def documents(self) -> DocumentReader:
        """Documents admins send (an orders CSV), read back from the media store."""
        return MediaDocuments(self.media_store())

    def attachments(self) -> MediaAttachments:
        """The impact chart and statements' PDFs, drawn here and kept in the media store."""
        settings = self.settings
        # Without a public URL (the local demo) statements point at where `karakana run` listens.
        base = settings.public_base_url or f"http://{settings.host}:{settings.port}"
        return MediaAttachments(
            self.media_store(), public_base_url=base, currency=settings.currency
        )

    def engine(self, *, matcher: MatchRunner | None = None) -> Engine:
        """The conversation engine every channel shares: with every role's flows, commands and
        notices (the registry), money in the configured currency, the media store's documents,
        the admins' policy from settings and, unless given one, a matchmaker of its own."""
        return Engine(
            self.store,
            registry=REGISTRY,
            catalogue=default_catalogue().with_currency(self.settings.currency),
            idle_timeout=timedelta(minutes=self.settings.conversation_idle_minutes),
            documents=self.documents(),
            matcher=matcher or self.matchmaker(),
            admin_policy=self.admin_policy(),
            attachments=self.attachments(),
        )

    def job_settings(self) -> JobSettings:
        settings = self.settings
        return JobSettings(
            match_interval=settings.match_interval,
            offer_expiry_interval=settings.offer_expiry_interval,
            payout_weekday=settings.payout_day,
            payout_time=settings.payout_time,
            payout_minimum_cents=settings.payout_minimum_cents,
            payout_auto_approve_limit_cents=settings.payout_auto_approve_limit_cents,
            payout_max_per_artisan_cents=settings.payout_max_per_artisan_cents,
            payout_max_per_batch_cents=settings.payout_max_per_batch_cents,
            payout_send_interval=settings.payout_send_interval,
            payouts_in_doubt_after=settings.payouts_in_doubt_after,
            reminders_time=settings.reminders_time,
            reminders_due_soon=timedelta(days=settings.reminders_due_soon_days),
            material_request_reminder_after=settings.material_request_reminder_after,
            question_reminder_after=settings.question_reminder_after,
            housekeeping_time=settings.housekeeping_time,
            retraining_time=settings.retraining_time,
            media_root=settings.media_dir,
            stored_media=self._stored_media(),
            media_max_age=timedelta(days=settings.media_max_age_days),
            zone=settings.zone,
            outbox_max_age=timedelta(days=settings.outbox_max_age_days),
            revenue_band=RevenueBand(settings.revenue_share_min, settings.revenue_share_max),
        )

    def today(self) -> date:
        """The calendar day at the factory (Nairobi), which is what due dates are read in."""
        return factory_today(self.now(), self.zone)


@asynccontextmanager
async def open_factory(settings: Settings, *, check_schema: bool = True) -> AsyncIterator[Factory]:
    """The factory on ``settings``' database, closed afterwards.

    Unless told otherwise it first refuses a database behind the code's migrations (raising
    ``bot.db.database.DatabaseNotCurrent``, whose message names ``karakana db upgrade``).
    """
    if check_schema:
        await check_database_current(settings.database_url)
    # SQLite calls run on the event loop's thread: a statement takes microseconds, far less than
    # aiosqlite's thread hand-offs (bot/db/sqlite_inline.py; docs/benchmarks.md, "Inbound chat").
    store = Store.from_url(settings.database_url, sqlite_connect=connect_inline)
    try:
        yield Factory(settings=settings, store=store)
    finally:
        await store.close()


# --- M-Pesa ---------------------------------------------------------------------------------------


class MpesaNotConfigured(Exception):
    """Payouts cannot be sent: the M-Pesa settings are missing (the message says which)."""


@dataclass
class Payments:
    """M-Pesa, wired: the Daraja client, the payout runner, its callback routes, the waker."""

    client: DarajaClient
    runner: PayoutRunner
    routes: list[BaseRoute]
    waker: PayoutWaker

    async def aclose(self) -> None:
        await self.waker.aclose()
        await self.client.aclose()


def daraja_config(settings: Settings) -> DarajaConfig:
    """Daraja's configuration from settings; raises ``MpesaNotConfigured`` without them or with
    a certificate that cannot encrypt the initiator password."""
    if not settings.mpesa_configured:
        raise MpesaNotConfigured(
            "M-Pesa is not configured: set MPESA_CONSUMER_KEY, MPESA_CONSUMER_SECRET, "
            "MPESA_SHORTCODE, MPESA_INITIATOR_NAME, MPESA_INITIATOR_PASSWORD and "
            "MPESA_CERTIFICATE_PATH (see .env.example)"
        )
    assert settings.mpesa_consumer_key is not None
    assert settings.mpesa_consumer_secret is not None
    assert settings.mpesa_shortcode is not None
    assert settings.mpesa_initiator_name is not None
    assert settings.mpesa_initiator_password is not None
    assert settings.mpesa_certificate_path is not None
    assert settings.public_base_url is not None
    try:
        credential = security_credential(
            settings.mpesa_initiator_password.get_secret_value(),
            settings.mpesa_certificate_path.read_bytes(),
        )
    except (OSError, ValueError) as exc:
        raise MpesaNotConfigured(
            f"MPESA_CERTIFICATE_PATH {settings.mpesa_certificate_path} cannot be used: {exc}"
        ) from exc
    return DarajaConfig(
        api_base_url=settings.mpesa_api_base_url,
        consumer_key=settings.mpesa_consumer_key.get_secret_value(),
        consumer_secret=settings.mpesa_consumer_secret.get_secret_value(),
        shortcode=settings.mpesa_shortcode,
        initiator_name=settings.mpesa_initiator_name,
        security_credential=credential,
        callback_base_url=settings.public_base_url,
        request_timeout=settings.mpesa_request_timeout,
        requests_per_second=settings.mpesa_requests_per_second,
        callback_token=callback_token(settings),
    )


def callback_token(settings: Settings) -> str:
    """The secret in Daraja's callback URLs; empty (callbacks at the bare paths) when unset."""
    token = settings.mpesa_callback_token
    return "" if token is None else token.get_secret_value()


def build_payments(
    factory: Factory, catalogue: Catalogue, clock: Callable[[], datetime]
) -> Payments | None:
    """The payout runner and Daraja's callback routes, or None when M-Pesa is not configured
    (payout batches are then still made and approved, and admins told nothing is sent)."""
    settings = factory.settings
    if not settings.mpesa_configured:
        return None
    client = DarajaClient(daraja_config(settings))
    notify = REGISTRY.notifier(
        catalogue, RevenueBand(settings.revenue_share_min, settings.revenue_share_max)
    )
    runner = PayoutRunner(
        factory.store,
        client,
        clock=clock,
        notify=notify,
        max_in_flight=settings.mpesa_max_in_flight,
        # A float query unanswered as long as a payout in doubt lost its callback: asked again.
        balance_retry_after=max(settings.payouts_in_doubt_after, timedelta(minutes=1)),
    )
    if not settings.mpesa_callback_token:
        log.warning(
            "MPESA_CALLBACK_TOKEN is not set: anyone who can reach PUBLIC_BASE_URL can post a "
            "payment result (only payouts we know are touched, and each is checked once)"
        )
    routes = mpesa_routes(
        factory.store,
        gateway=client,
        clock=clock,
        notify=notify,
        callback_token=callback_token(settings),
    )
    waker = PayoutWaker(factory.store, runner, in_doubt_after=settings.payouts_in_doubt_after)
    return Payments(client=client, runner=runner, routes=routes, waker=waker)


def scheduler_report(scheduler: AsyncIOScheduler) -> dict[str, str | None]:
    """Each job's next run (ISO 8601), for /healthz."""
    return {
        job.id: None if job.next_run_time is None else job.next_run_time.isoformat()
        for job in scheduler.get_jobs()
    }


# --- the long-running process ---------------------------------------------------------------------

Telegram = Application[Any, Any, Any, Any, Any, Any]


@dataclass
class KarakanaBot:
    """The parts of the running process, for ``karakana run`` and the end-to-end tests."""

    app: Starlette
    engine: Engine
    inbound: Inbound
    dispatcher: Dispatcher
    media_store: MediaStore
    telegram: Telegram | None
    telegram_polling: bool
    matchmaker: Matchmaker
    scheduler: AsyncIOScheduler | None = None
    payments: Payments | None = None

    @property
    def channels(self) -> list[str]:
        return sorted(
            channel.value
            for channel in self.dispatcher.channels
            if channel not in CUSTOMER_CHANNELS
        )


def _webchat_routes(
    factory: Factory, engine: Engine, media_store: MediaStore, clock: Callable[[], datetime]
) -> list[BaseRoute]:
    """The local web chat (bot/channels/webchat.py), when it is installed and the settings allow it.

    It has no login, so it is refused (and the reason logged) beside any real channel or on a
    non-loopback HOST: ``bot.settings.webchat_refusal``. This is the only place it is mounted.
    """
    refusal = webchat_refusal(factory.settings)
    if refusal is not None:
        log.warning("%s", refusal)
        return []
    if importlib.util.find_spec("bot.channels.webchat") is None:
        return []
    from bot.channels.webchat import webchat_routes

    return webchat_routes(
        factory.store,
        engine,
        media_store,
        clock=clock,
        max_image_bytes=factory.settings.media_max_bytes,
    )


def _ussd_routes(
    factory: Factory, catalogue: Catalogue, clock: Callable[[], datetime]
) -> list[BaseRoute]:
    """``POST /ussd/<AT_CALLBACK_TOKEN>`` (bot/channels/ussd.py), when the token is set: the USSD
    menu needs no API key (it answers in the HTTP response), only the secret in its URL."""
    token = factory.settings.at_callback_token
    if token is None:
        return []
    from bot.channels.ussd import ussd_routes
    from conversations.ussd.menu import UssdMenu

    settings = factory.settings
    menu = UssdMenu(
        factory.store,
        registry=REGISTRY,
        catalogue=catalogue,
        band=RevenueBand(settings.revenue_share_min, settings.revenue_share_max),
    )
    return ussd_routes(menu, callback_token=token.get_secret_value(), clock=clock)


def console_refusal(settings: Settings) -> str | None:
    """Why the staff console (/console) is not served: in production (any real channel, or a
    HOST other than loopback) it needs CONSOLE_SECRET_KEY; None when it may be served."""
    if settings.console_secret_key is not None:
        return None
    if webchat_refusal(settings) is None:
        return None  # the local demo: a fresh key for this run
    return (
        "The staff console (/console) is off: CONSOLE_SECRET_KEY is not set, and it is required "
        "beside a real channel or on a HOST other than loopback (see .env.example)."
    )


def _console_routes(
    factory: Factory,
    engine: Engine,
    matchmaker: Matchmaker,
    clock: Callable[[], datetime],
    wake_outbox: Callable[[], None],
    payments: Payments | None,
) -> list[BaseRoute]:
    """The staff web console (bot/console/) at /console, or nothing, said in the log, when
    ``console_refusal`` refuses it."""
    settings = factory.settings
    refusal = console_refusal(settings)
    if refusal is not None:
        log.warning("%s", refusal)
        return []
    from bot.console import Console, Cookies, console_routes
    from domain.services.console_login import LoginPolicy

    secret = settings.console_secret_key
    if secret is None:
        log.info("the staff console signs its sessions with a key made for this run (demo)")
        key = secrets.token_bytes(32)
    else:
        key = secret.get_secret_value().encode()
    public = settings.public_base_url or ""
    console = Console(
        store=factory.store,
        key=key,
        clock=clock,
        catalogue=engine.catalogue,
        policy=factory.admin_policy(),
        cookies=Cookies(
            secure=public.startswith("https://"),
            session_seconds=settings.console_session_hours * 3600,
        ),
        login=LoginPolicy(
            code_ttl=timedelta(minutes=settings.console_code_minutes),
            session_ttl=timedelta(hours=settings.console_session_hours),
        ),
        wake_outbox=wake_outbox,
        wake_payouts=(lambda: None) if payments is None else payments.waker.wake,
        explainer=matchmaker,
    )
    return console_routes(console)


def build_bot(
    factory: Factory,
    *,
    extra_routes: Sequence[BaseRoute] = (),
    webchat: bool = True,
    clock: Callable[[], datetime] | None = None,
    backoff: Backoff | None = None,
    poll_interval: float = 0.5,
    media_not_found_delays: Sequence[float] = (0.5, 1.0, 2.0),
    schedule: bool = False,
) -> KarakanaBot:
    """Wire the process from ``factory.settings``; nothing runs until the app's lifespan starts.

    ``webchat=False`` leaves the local web chat out; ``True`` serves it only where
    ``bot.settings.webchat_refusal`` allows (a local demo), never beside a real channel.

    ``schedule`` adds the APScheduler jobs (``serve``, i.e. ``karakana run``, always does; tests
    that drive conversations by hand leave them out so no round or batch fires under them).
    """
    settings = factory.settings
    now = clock or factory.now
    store = factory.store
    matchmaker = factory.matchmaker()
    engine = factory.engine(matcher=matchmaker)
    media_store = factory.media_store()
    payments = build_payments(factory, engine.catalogue, now)
    senders: dict[Channel, Sender] = {}
    fetchers: dict[Channel, MediaFetcher] = {}
    closers: list[Callable[[], Any]] = []
    rates = {
        Channel.WHATSAPP: settings.whatsapp_send_rate,
        Channel.TELEGRAM: settings.telegram_send_rate,
        Channel.SMS: settings.sms_send_rate,
    }
    gates: dict[Channel, Gate] = {}

    whatsapp_parts: tuple[str, str] | None = None
    media_links: MediaLinks | None = None
    if settings.whatsapp_configured:
        assert settings.twilio_auth_token is not None
        assert settings.public_base_url is not None
        assert settings.twilio_account_sid is not None
        assert settings.twilio_whatsapp_from is not None
        auth_token = settings.twilio_auth_token.get_secret_value()
        whatsapp_parts = (auth_token, settings.public_base_url)
        # WhatsApp cannot carry an upload: a photo goes out as a signed link Twilio fetches.
        media_links = MediaLinks.for_auth_token(auth_token, settings.public_base_url, clock=now)
        whatsapp_sender = WhatsAppSender(
            account_sid=settings.twilio_account_sid,
            auth_token=auth_token,
            from_number=settings.twilio_whatsapp_from,
            api_base_url=settings.twilio_api_base_url,
            status_callback_url=f"{settings.public_base_url}/whatsapp/status",
            media_url_for=media_links.url_for,
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

    if settings.sms_configured:
        # SMS through Africa's Talking (bot/channels/sms.py): every reply rendered compactly in
        # the person's language, typed codes from the commands' words; budgets per day.
        assert settings.at_username is not None
        assert settings.at_api_key is not None
        sms_sender = SmsSender(
            username=settings.at_username,
            api_key=settings.at_api_key.get_secret_value(),
            sender_id=settings.at_sender_id,
            api_base_url=settings.at_api_base_url,
            render=renderer(
                store,
                engine.catalogue,
                {n: c.words for n, c in REGISTRY.commands.table.items() if c.words},
            ),
        )
        senders[Channel.SMS] = sms_sender
        closers.append(sms_sender.aclose)
        gates[Channel.SMS] = SmsBudget(
            catalogue=engine.catalogue,
            zone=settings.zone,
            per_person=settings.sms_daily_budget_per_person,
            per_factory=settings.sms_daily_budget,
        )

    # Customers hear about their orders through the same outbox: retailers' callbacks always
    # (only customers who gave a URL get any), Shopify fulfillments when its Admin API is set.
    callbacks_out = RetailerCallbackSender(store, timeout=settings.customer_callback_timeout)
    customer_senders: dict[Channel, Sender] = {Channel.RETAILER_CALLBACK: callbacks_out}
    closers.append(callbacks_out.aclose)
    if settings.shopify_fulfillments_configured:
        assert settings.shopify_api_base_url is not None
        assert settings.shopify_admin_token is not None
        shopify_out = ShopifySender(
            api_base_url=settings.shopify_api_base_url,
            admin_token=settings.shopify_admin_token.get_secret_value(),
            timeout=settings.customer_callback_timeout,
        )
        customer_senders[Channel.SHOPIFY] = shopify_out
        closers.append(shopify_out.aclose)

    dispatcher = Dispatcher(
        store,
        {**senders, **customer_senders},
        clock=now,
        templates=settings.whatsapp_template_sids,
        rates=rates,
        gates=gates,
        max_attempts=settings.outbox_max_attempts,
        backoff=backoff,
        poll_interval=poll_interval,
    )

    scheduler = None
    in_flight = InFlight()
    scheduled: list[ScheduledJob] = []
    if schedule:
        scheduled = karakana_jobs(
            store,
            clock=now,
            catalogue=engine.catalogue,
            settings=factory.job_settings(),
            runner=None if payments is None else payments.runner,
            match=matchmaker,
            retrain=(
                None
                if matchmaker.registry is None
                else nightly_retrainer(store, matchmaker.registry, now)
            ),
        )
        scheduler = build_scheduler(store, scheduled, clock=now, in_flight=in_flight)

    async def after_handled(incoming: Incoming) -> None:
        if incoming.channel is Channel.WHATSAPP:
            await release_held(store, incoming.channel, incoming.address, now=now())
        dispatcher.wake()
        if payments is not None:
            payments.waker.wake()  # an admin may just have approved a batch

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

    local = _webchat_routes(factory, engine, media_store, now) if webchat else []
    serving = sorted(c.value for c in senders) + (["web chat"] if local else [])

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        dispatching: asyncio.Task[None] | None = None
        try:
            if telegram is not None and telegram_gateway is not None:
                await _start_telegram(telegram, telegram_gateway, settings, polling=polling)
            await dispatcher.recover()
            await inbound.recover()
            dispatching = asyncio.create_task(dispatcher.run(), name="outbox-dispatcher")
            if scheduler is not None:
                # A job that never ran here missed nothing: its start-up firing must not run it.
                await record_first_runs(store, scheduled, clock=now)
                scheduler.start()
            if payments is not None:
                payments.waker.wake()  # batches approved while we were down
            log.info(
                "Karakana is running",
                extra={"channels": ",".join(serving) or "none"},
            )
            yield
        finally:
            # Stop taking new work, finish what is in flight, then send what it queued.
            if scheduler is not None and scheduler.running:
                # No new firings; let running jobs finish (one cut short after the grace is
                # safe too: each is idempotent and its lease lets it run again).
                scheduler.pause()
                await in_flight.wait(grace=SHUTDOWN_GRACE_SECONDS)
                scheduler.shutdown(wait=False)
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
            if payments is not None:
                await payments.aclose()
            if telegram is not None:
                if telegram.running:
                    await telegram.stop()
                await telegram.shutdown()
            log.info("Karakana stopped")

    callbacks = [] if payments is None else payments.routes
    media = [] if media_links is None else media_routes(media_links, media_store)
    shopify_secret = settings.shopify_webhook_secret
    orders_in = intake_routes(
        store,
        clock=now,
        notify=REGISTRY.notifier(
            engine.catalogue, RevenueBand(settings.revenue_share_min, settings.revenue_share_max)
        ),
        wake=dispatcher.wake,
        shopify_secret=None if shopify_secret is None else shopify_secret.get_secret_value(),
        shopify_customer=settings.shopify_customer_name,
        shopify_lead_days=settings.shopify_default_lead_days,
    )
    ussd = _ussd_routes(factory, engine.catalogue, now)
    console = _console_routes(factory, engine, matchmaker, now, dispatcher.wake, payments)
    sms_in: list[BaseRoute] = []
    if settings.sms_configured and settings.at_callback_token is not None:
        sms_in = sms_routes(
            SmsGateway(inbound=inbound, store=store, clock=now),
            settings.at_callback_token.get_secret_value(),
        )
    elif settings.sms_configured:
        log.warning(
            "AT_CALLBACK_TOKEN is not set: SMS can be sent but incoming SMS and delivery "
            "reports are refused (Africa's Talking signs nothing; the token is the only proof)"
        )
    # Lenders check artisans' statements here (issue 19): no login, rate-limited per address.
    verify = verify_routes(store, currency=settings.currency)
    routes = [*local, *callbacks, *media, *orders_in, *ussd, *console, *sms_in, *extra_routes]
    routes += verify
    app = create_app(
        health=Health(
            store,
            dispatcher,
            scheduler_running=None if scheduler is None else (lambda: scheduler.running),
            scheduler_jobs=None if scheduler is None else partial(scheduler_report, scheduler),
        ),
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
        matchmaker=matchmaker,
        scheduler=scheduler,
        payments=payments,
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
    bot = build_bot(factory, extra_routes=extra_routes, schedule=True)
    # What is built by now (modules, the app, the libraries' tables) lives as long as the
    # process: kept out of the cyclic collector's full passes, which otherwise walked all of it
    # every few seconds under load, holding every request for 140-160 ms each time.
    gc.freeze()
    await uvicorn_server(bot, factory.settings).serve(sockets=sockets)
