"""Payouts wired to a fake Daraja over loopback: our callback routes on one uvicorn, the fake on
another, a real Daraja client between them, a real SQLite (or PostgreSQL) store underneath."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Generic, Protocol, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.applications import Starlette

from bot.payments.daraja import DarajaClient, DarajaConfig, RequestAnswer, security_credential
from bot.payments.routes import mpesa_routes
from bot.payments.runner import DEFAULT_MAX_IN_FLIGHT, Notifier, PayoutRunner
from conversations.i18n import Catalogue
from conversations.notices import RevenueBand
from conversations.registry import REGISTRY
from domain import events, ledger, payouts
from domain.model import (
    Account,
    AccountKind,
    ArtisanProfile,
    ArtisanStatus,
    Channel,
    ChannelIdentity,
    Payout,
    Person,
    Role,
)
from domain.store import Store
from tests.fakes.daraja_api import FakeDaraja
from tests.fakes.server import InFlight, serving
from tests.integration.factory_fixtures import bare_person

INITIATOR_PASSWORD = "Safaricom999!*!"
CALLBACK_TOKEN = "cb-token-only-daraja-knows-0123"
BAND = RevenueBand(low=Decimal("0.25"), high=Decimal("0.40"))


def self_signed_certificate() -> tuple[bytes, rsa.RSAPrivateKey]:
    """A throwaway certificate in the role of M-Pesa's public one, with its private key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake.safaricom.test")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM), key


_CERTIFICATE: tuple[bytes, rsa.RSAPrivateKey] | None = None


def certificate() -> tuple[bytes, rsa.RSAPrivateKey]:
    global _CERTIFICATE
    if _CERTIFICATE is None:
        _CERTIFICATE = self_signed_certificate()
    return _CERTIFICATE


def daraja_config(
    api_base_url: str,
    callback_base_url: str,
    *,
    timeout: float,
    requests_per_second: float | None = None,
    callback_token: str = CALLBACK_TOKEN,
) -> DarajaConfig:
    return DarajaConfig(
        api_base_url=api_base_url,
        consumer_key=FakeDaraja.consumer_key,
        consumer_secret=FakeDaraja.consumer_secret,
        shortcode="600999",
        initiator_name="karakana_api",
        security_credential=security_credential(INITIATOR_PASSWORD, certificate()[0]),
        callback_base_url=callback_base_url,
        request_timeout=timeout,
        requests_per_second=requests_per_second,
        callback_token=callback_token,
    )


class LateGateway:
    """The routes need a gateway before the client (which needs the routes' URL) exists."""

    client: DarajaClient

    async def send_payment(
        self, *, originator_conversation_id: str, msisdn: str, amount_cents: int, occasion: str = ""
    ) -> RequestAnswer:
        return await self.client.send_payment(
            originator_conversation_id=originator_conversation_id,
            msisdn=msisdn,
            amount_cents=amount_cents,
            occasion=occasion,
        )

    async def query_status(
        self, *, originator_conversation_id: str, transaction_id: str | None = None
    ) -> bool:
        return await self.client.query_status(
            originator_conversation_id=originator_conversation_id, transaction_id=transaction_id
        )

    async def query_balance(self, *, query_id: int) -> bool:
        return await self.client.query_balance(query_id=query_id)


def notifier(catalogue: Catalogue | None = None) -> Notifier:
    loaded = catalogue or Catalogue.load()

    async def notify(
        session: AsyncSession, recorded: Sequence[events.Event], now: datetime
    ) -> None:
        await REGISTRY.notify(session, recorded, catalogue=loaded, now=now, band=BAND)

    return notify


class RunningDaraja(Protocol):
    """A fake Daraja the harness can start: in this process (``FakeDaraja``) or in its own
    (``tests.fakes.daraja_process.DarajaProcess``, for the benchmark)."""

    base_url: str

    def running(self) -> contextlib.AbstractAsyncContextManager[object]: ...

    async def drain(self) -> None: ...


D = TypeVar("D", bound=RunningDaraja)


@dataclass
class Harness(Generic[D]):
    store: Store
    daraja: D
    client: DarajaClient
    runner: PayoutRunner
    callbacks_url: str
    routes: InFlight  # our callback routes, as served

    async def settle(self) -> None:
        """Wait until nothing more happens by itself: every callback the fake has scheduled is
        delivered, and our routes are done with all they do, after answering too.

        The fake's ``drain`` alone is not enough: a status answer of "not found" is
        acknowledged first and the request sent again after, from our routes, and only that
        second request schedules the callback that settles the payout. So this waits for both,
        in rounds, until the fake had nothing left to deliver while our routes sat idle
        throughout (no request begun or ended, none in hand): then neither can set the other
        going again.
        """
        while True:
            await self.routes.wait_idle()
            changes = self.routes.changes
            await self.daraja.drain()
            if self.routes.idle and self.routes.changes == changes:
                return


@contextlib.asynccontextmanager
async def mpesa_harness(
    store: Store,
    clock: Callable[[], datetime],
    *,
    request_timeout: float = 1.0,
    hang: float = 2.0,
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
    requests_per_second: float | None = None,
    daraja: FakeDaraja | None = None,
) -> AsyncIterator[Harness[FakeDaraja]]:
    """``requests_per_second`` paces our client; ``daraja`` may carry its own latency and rate
    limit (``FakeDaraja(latency=..., requests_per_second=...)``)."""
    async with harness_with(
        store,
        clock,
        daraja if daraja is not None else FakeDaraja(hang_seconds=hang),
        request_timeout=request_timeout,
        max_in_flight=max_in_flight,
        requests_per_second=requests_per_second,
    ) as h:
        yield h


@contextlib.asynccontextmanager
async def harness_with(
    store: Store,
    clock: Callable[[], datetime],
    daraja: D,
    *,
    request_timeout: float = 1.0,
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
    requests_per_second: float | None = None,
) -> AsyncIterator[Harness[D]]:
    """:func:`mpesa_harness` against any fake Daraja, started here."""
    gateway = LateGateway()
    notify = notifier()
    routes = InFlight(
        Starlette(
            routes=mpesa_routes(
                store, gateway=gateway, clock=clock, notify=notify, callback_token=CALLBACK_TOKEN
            )
        )
    )
    async with (
        serving(routes) as callbacks_url,  # outermost: the fake's callback client closes first
        daraja.running(),
        DarajaClient(
            daraja_config(
                daraja.base_url,
                callbacks_url,
                timeout=request_timeout,
                requests_per_second=requests_per_second,
            )
        ) as client,
    ):
        gateway.client = client
        runner = PayoutRunner(
            store, client, clock=clock, notify=notify, max_in_flight=max_in_flight
        )
        harness = Harness(store, daraja, client, runner, callbacks_url, routes)
        yield harness
        # Our routes send with the client and the fake calls our routes: no order of closing
        # suits both while either is busy, so nothing closes until all is at rest.
        await harness.settle()


async def approved_batch(
    store: Store,
    now: datetime,
    earnings: Sequence[int],
    *,
    with_identities: bool = True,
) -> tuple[int, list[int]]:
    """Artisans owed ``earnings`` (cents), an admin, and one approved batch paying them all."""
    admin, artisans = await owed_artisans(store, now, earnings, with_identities=with_identities)
    return await approve_new_batch(store, now, admin), artisans


async def owed_artisans(
    store: Store,
    now: datetime,
    earnings: Sequence[int],
    *,
    with_identities: bool = True,
    chunk: int = 1000,
) -> tuple[int, list[int]]:
    """An admin and one artisan per amount of ``earnings`` (cents) owed, with a Telegram chat
    each (for the receipts); written ``chunk`` artisans a transaction.

    In bulk, for the 25,000 of the benchmark: people, profiles and payables are inserted a chunk
    at a time, and the earnings go through the ledger's bulk path, under its own rules and with
    the same accounts, keys and codes as ``ledger.record_earning``.
    """
    async with store.transaction() as session:
        admin = await bare_person(session, "Amina", Role.ADMIN, now=now)
        if with_identities:
            session.add(ChannelIdentity(person_id=admin, channel=Channel.TELEGRAM, address="tg-a"))
        production = await ledger.ensure_account(session, ledger.WORKSHOP_PRODUCTION)
        assert production.id is not None
        production_id = production.id
    artisans: list[int] = []
    for start in range(0, len(earnings), chunk):
        numbers = range(start, min(len(earnings), start + chunk))
        async with store.transaction() as session:
            people = [
                Person(name=f"Artisan {n}", role=Role.ARTISAN, created_at=now) for n in numbers
            ]
            session.add_all(people)
            await session.flush()
            ids = [p.id for p in people if p.id is not None]
            payables = [
                Account(
                    code=ledger.artisan_payable_code(person_id),
                    name=f"Owed to {person.name}",
                    kind=AccountKind.LIABILITY,
                    artisan_id=person_id,
                )
                for person_id, person in zip(ids, people, strict=True)
            ]
            profiles = [
                ArtisanProfile(
                    person_id=person_id,
                    workshop=f"Artisan {n}'s workshop",
                    mpesa_number=f"+2547{n:08d}",
                    status=ArtisanStatus.ACTIVE,
                )
                for person_id, n in zip(ids, numbers, strict=True)
            ]
            session.add_all([*profiles, *payables])
            if with_identities:
                session.add_all(
                    [
                        ChannelIdentity(
                            person_id=person_id, channel=Channel.TELEGRAM, address=f"tg-{person_id}"
                        )
                        for person_id in ids
                    ]
                )
            await session.flush()
            await ledger.record_new_transfers(
                session,
                [
                    ledger.NewTransfer(
                        idempotency_key=ledger.earning_key(f"work:{n}"),
                        debit_account_id=production_id,
                        credit_account_id=payable.id or 0,
                        amount_cents=earnings[n],
                        code=ledger.EARNING,
                        reference=f"work:{n}",
                    )
                    for n, payable in zip(numbers, payables, strict=True)
                ],
                now=now,
            )
            artisans.extend(ids)
    return admin, artisans


async def approve_new_batch(store: Store, now: datetime, admin: int) -> int:
    """One batch paying everyone owed, approved by ``admin``; its id."""
    async with store.transaction() as session:
        batch = await payouts.create_payout_batch(session, minimum_cents=100, now=now)
        assert batch is not None
        assert batch.id is not None
        await payouts.approve_batch(session, batch_id=batch.id, admin_id=admin, now=now)
        events.drain(session)
    return batch.id


async def all_payouts(store: Store) -> list[Payout]:
    async with store.read() as session:
        rows = list((await session.exec(select(Payout).order_by(col(Payout.id)))).all())
        session.expunge_all()  # keep them readable after the snapshot ends
    return rows
