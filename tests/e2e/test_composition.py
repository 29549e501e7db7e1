"""The composition root as `karakana run` wires it: the scheduler in the process, matching rounds
that make offers, M-Pesa payouts sent after an admin approves them in chat, an admin's CSV
imported from a chat document, all over real HTTP on loopback against the fake Telegram and
Daraja servers."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlmodel import col, func, select

from bot.demo import seed_demo
from bot.main import Factory, KarakanaBot, build_bot
from bot.settings import Settings
from domain.explosion import FACTORY_ZONE, factory_today
from domain.model import (
    Channel,
    Offer,
    Order,
    OutboxMessage,
    Payout,
    PayoutBatch,
    PayoutBatchStatus,
    PayoutStatus,
    Product,
    Role,
    SchedulerLease,
)
from domain.services.people import add_person
from domain.store import Store
from scheduler.leases import slot_key
from tests.e2e.harness import WEBHOOK_SECRET, eventually
from tests.fakes.daraja_api import FakeDaraja
from tests.fakes.server import listening_socket
from tests.fakes.telegram_api import FakeTelegram
from tests.integration.factory_fixtures import active_artisan, ident, owed_earnings
from tests.integration.mpesa_harness import INITIATOR_PASSWORD, certificate
from tests.integration.payout_chat import float_known

ADMIN_CHAT = 7001
ARTISAN_CHAT = 7002


@dataclass
class Composed:
    url: str
    bot: KarakanaBot
    store: Store
    telegram: FakeTelegram

    async def say(self, chat_id: int, text: str) -> None:
        update = self.telegram.text_update(chat_id, text)
        response = await self.telegram.deliver(
            f"{self.url}/telegram/webhook", update, secret_token=WEBHOOK_SECRET
        )
        assert response.status_code == 200

    def texts_to(self, chat_id: int) -> list[str]:
        return [
            str(p["text"])
            for p in self.telegram.sent("sendMessage")
            if str(p.get("chat_id")) == str(chat_id)
        ]


@contextlib.asynccontextmanager
async def composed(
    store: Store,
    tmp_path: Path,
    telegram: FakeTelegram,
    daraja: FakeDaraja | None,
    **overrides: Any,
) -> AsyncIterator[Composed]:
    # Nagle off, as production's uvicorn has it: no ~40 ms stall to hide a race.
    sock = listening_socket()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    values: dict[str, Any] = {
        "database_url": "sqlite+aiosqlite:///unused.db",
        "media_dir": tmp_path / "media",
        "models_dir": tmp_path / "models",
        "match_seed": 7,
        "public_base_url": url,
        "telegram_bot_token": telegram.token,
        "telegram_api_base_url": telegram.base_url,
        "telegram_webhook_secret": WEBHOOK_SECRET,
        "telegram_send_rate": 50,
        "payout_minimum": "100",
    }
    if daraja is not None:
        pem = tmp_path / "mpesa.cer"
        pem.write_bytes(certificate()[0])
        values |= {
            "mpesa_api_base_url": daraja.base_url,
            "mpesa_consumer_key": daraja.consumer_key,
            "mpesa_consumer_secret": daraja.consumer_secret,
            "mpesa_shortcode": "600999",
            "mpesa_initiator_name": "karakana_api",
            "mpesa_initiator_password": INITIATOR_PASSWORD,
            "mpesa_certificate_path": pem,
            "mpesa_request_timeout": 2,
        }
    settings = Settings(_env_file=None, **(values | overrides))
    bot = build_bot(
        Factory(settings=settings, store=store), webchat=False, poll_interval=0.05, schedule=True
    )
    server = uvicorn.Server(
        uvicorn.Config(bot.app, lifespan="on", log_config=None, log_level="warning")
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield Composed(url, bot, store, telegram)
    finally:
        server.should_exit = True
        await task
        sock.close()


async def _people_owed(store: Store, earnings: list[int]) -> int:
    """An admin on Telegram, who verified artisans on Telegram owed ``earnings`` cents (as
    received work earns); returns the admin's id."""
    now = datetime.now(UTC)
    async with store.transaction() as session:
        admin = await add_person(
            session,
            role=Role.ADMIN,
            name="Amina",
            channel=Channel.TELEGRAM,
            address=str(ADMIN_CHAT),
            now=now,
        )
        await owed_earnings(
            session,
            verified_by=ident(admin),
            now=now,
            owed={f"Artisan {n}": cents for n, cents in enumerate(earnings)},
            channel=Channel.TELEGRAM,
        )
    return ident(admin)


async def _payouts(store: Store) -> list[Payout]:
    async with store.read() as session:
        rows = list((await session.exec(select(Payout).order_by(col(Payout.id)))).all())
        session.expunge_all()
    return rows


async def _ran_a_week_ago(store: Store, job: str) -> None:
    """Karakana last ran ``job`` a week and a day ago (and was down since): its slot was missed.
    (On a database where it never ran, a job first runs at its next slot, not at start-up.)"""
    ran = datetime.now(UTC) - timedelta(days=8)
    async with store.transaction() as session:
        session.add(SchedulerLease(job=job, completed_key=slot_key(ran), completed_at=ran))


async def test_approving_payouts_in_chat_sends_them_to_mpesa_and_settles_them_from_callbacks(
    store: Store, tmp_path: Path, telegram: FakeTelegram
) -> None:
    await _people_owed(store, [150_000, 80_000])
    await _ran_a_week_ago(store, "weekly_payout_batch")
    # With a callback token, as production should run: Daraja's results come back to secret URLs.
    async with (
        FakeDaraja().running() as daraja,
        composed(
            store, tmp_path, telegram, daraja, mpesa_callback_token="payout-token-0123456789abcdef"
        ) as k,
    ):

        async def batch_waiting() -> bool:
            async with store.read() as session:
                statuses = (await session.exec(select(PayoutBatch.status))).all()
            return list(statuses) == [PayoutBatchStatus.AWAITING_APPROVAL]

        # Karakana was down through the weekly slot: the batch job runs at start-up, asks admins.
        await eventually(batch_waiting)
        assert daraja.b2c_requests == []  # nothing goes before an admin approves

        # Approval needs the float: the first message wakes the payout waker, which asks M-Pesa.
        await k.say(ADMIN_CHAT, "/payouts")
        await eventually(lambda: float_known(store))
        await k.say(ADMIN_CHAT, "/approve_payouts")
        await eventually(
            lambda: any(text.startswith("Approve payout batch") for text in k.texts_to(ADMIN_CHAT))
        )
        await k.say(ADMIN_CHAT, "yes")

        async def all_paid() -> bool:
            return all(p.status is PayoutStatus.SUCCEEDED for p in await _payouts(store))

        await eventually(all_paid, within=60)
        payouts = await _payouts(store)
        assert sorted(p.amount_cents for p in payouts) == [80_000, 150_000]
        assert {p.originator_conversation_id for p in payouts} == set(daraja.paid)
        assert all(count == 1 for count in daraja.accepted.values())
        assert all(
            p.mpesa_receipt == daraja.paid[p.originator_conversation_id].receipt for p in payouts
        )
        await eventually(
            lambda: any("Approved payout batch" in text for text in k.texts_to(ADMIN_CHAT))
        )


async def test_healthz_shows_the_scheduler_running_with_each_jobs_next_run(
    store: Store, tmp_path: Path, telegram: FakeTelegram
) -> None:
    async with (
        FakeDaraja().running() as daraja,
        composed(store, tmp_path, telegram, daraja) as k,
        httpx.AsyncClient(trust_env=False) as client,
    ):
        health = (await client.get(f"{k.url}/healthz")).json()
        callback = await client.post(f"{k.url}/mpesa/b2c/result", json={"Result": {}})
    checks = health["checks"]
    assert checks["scheduler"] == "ok"
    assert {
        "matching_round",
        "expire_offers",
        "reminders",
        "weekly_payout_batch",
        "send_payouts",
        "housekeeping",
    } <= set(checks["next_runs"])
    assert all(datetime.fromisoformat(at) for at in checks["next_runs"].values())
    # Daraja's callbacks are mounted: an unusable one is acknowledged and ignored.
    assert callback.status_code == 200
    assert callback.json()["ResultDesc"].startswith("ignored")


async def test_the_scheduled_matching_round_offers_open_jobs_and_queues_the_offers(
    store: Store, tmp_path: Path, telegram: FakeTelegram
) -> None:
    async with store.transaction() as session:
        await seed_demo(session, now=datetime.now(UTC), zone=FACTORY_ZONE)
        last_seeded = (await session.exec(select(func.max(Offer.id)))).one() or 0
    await _ran_a_week_ago(store, "matching_round")  # then down: the round missed runs at start-up
    async with composed(store, tmp_path, telegram, None) as k:

        async def offered_artisans() -> list[int]:  # by the scheduled round, not the seed
            async with store.read() as session:
                new = select(Offer.artisan_id).where(col(Offer.id) > last_seeded)
                return list((await session.exec(new)).all())

        offered = await eventually(offered_artisans, within=60)
        assert k.bot.scheduler is not None
        assert k.bot.scheduler.running
        assert k.bot.payments is None  # no M-Pesa configured: no runner, no callback routes
    offered_to = set(offered)
    async with store.read() as session:
        told = set(
            (
                await session.exec(
                    select(OutboxMessage.person_id).where(
                        col(OutboxMessage.person_id).in_(offered_to)
                    )
                )
            ).all()
        )
    assert told == offered_to  # every artisan offered work is told about it


async def test_an_admins_csv_document_is_imported_and_an_artisans_is_refused(
    store: Store, tmp_path: Path, telegram: FakeTelegram
) -> None:
    admin = await _people_owed(store, [])
    async with store.transaction() as session:
        await active_artisan(
            session,
            verified_by=admin,
            now=datetime.now(UTC),
            channel=Channel.TELEGRAM,
            address=str(ARTISAN_CHAT),
            skills={"weaving": 5},  # no demo job needs it: no offer races the refusal
        )
        await seed_demo(session, now=datetime.now(UTC), zone=FACTORY_ZONE)
        sku = (await session.exec(select(Product.sku))).first()
        orders_before = (await session.exec(select(func.count()).select_from(Order))).one()
    due = factory_today(datetime.now(UTC)) + timedelta(days=30)
    csv = (
        "customer,customer_kind,reference,due_date,sku,quantity\n"
        f"Maasai Market Crafts,retailer,PO-CHAT-1,{due.isoformat()},{sku},12\n"
    ).encode()
    async with composed(store, tmp_path, telegram, None) as k:
        for chat in (ADMIN_CHAT, ARTISAN_CHAT):
            update = telegram.document_update(chat, csv, mime_type="text/csv", file_name="o.csv")
            update["message"]["caption"] = "/import_orders"
            await telegram.deliver(f"{k.url}/telegram/webhook", update, secret_token=WEBHOOK_SECRET)

        async def imported() -> int:
            async with store.read() as session:
                return int(
                    (await session.exec(select(func.count()).select_from(Order))).one()
                    - orders_before
                )

        assert await eventually(imported) == 1
        await eventually(lambda: k.texts_to(ARTISAN_CHAT))
    async with store.read() as session:
        due_dates = (
            await session.exec(select(col(Order.due_date)).where(Order.reference == "PO-CHAT-1"))
        ).all()
    assert list(due_dates) == [due]
    assert await imported() == 1  # the artisan's copy was not imported
    assert not list((tmp_path / "media").glob("*.csv"))[1:]  # only the admin's file was kept


async def test_karakana_run_starts_the_scheduler_in_its_process_and_stops_it_on_sigterm(
    tmp_path: Path,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    unwanted = ("PUBLIC_BASE_URL", "TWILIO_", "TELEGRAM_", "MPESA_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(unwanted)}
    env |= {
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'karakana.db'}",
        "MEDIA_DIR": str(tmp_path / "media"),
        "MODELS_DIR": str(tmp_path / "models"),
        "PORT": str(port),
        "NO_COLOR": "1",
        "COLUMNS": "200",
    }
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "karakana"),
        "run",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        health = None
        async with httpx.AsyncClient(trust_env=False) as client:
            for _ in range(400):
                try:
                    health = await client.get(f"http://127.0.0.1:{port}/healthz")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
        assert health is not None, "karakana run never answered /healthz"
        process.send_signal(signal.SIGTERM)
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    checks = health.json()["checks"]
    assert checks["scheduler"] == "ok"
    assert "matching_round" in checks["next_runs"]
    assert "nightly_retraining" in checks["next_runs"]
    assert "send_payouts" not in checks["next_runs"]  # no M-Pesa here
    assert process.returncode == 0, stderr.decode()[-2000:]
    assert "M-Pesa is not configured" in stdout.decode()


async def test_with_a_callback_token_payouts_settle_only_through_the_secret_urls(
    store: Store, tmp_path: Path, telegram: FakeTelegram
) -> None:
    token = "s3cret-callback-token-0123456789"
    async with (
        FakeDaraja().running() as daraja,
        composed(store, tmp_path, telegram, daraja, mpesa_callback_token=token) as k,
        httpx.AsyncClient(trust_env=False) as client,
    ):
        bare = await client.post(f"{k.url}/mpesa/b2c/result", json={"Result": {}})
        wrong = await client.post(f"{k.url}/mpesa/{'x' * 32}/b2c/result", json={"Result": {}})
        right = await client.post(f"{k.url}/mpesa/{token}/b2c/result", json={"Result": {}})

    assert (bare.status_code, wrong.status_code) == (404, 404)
    assert right.status_code == 200
    assert right.json()["ResultDesc"].startswith("ignored")


def test_a_callback_token_too_short_to_be_secret_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="MPESA_CALLBACK_TOKEN must be at least 16"):
        Settings(_env_file=None, mpesa_callback_token="short")
