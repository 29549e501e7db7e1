"""Money goes only to a confirmed number, end to end over real HTTP: Karakana as ``karakana run``
builds it, on Telegram and M-Pesa (the fake Daraja) on loopback.

Wanjiru changes her M-Pesa number in chat; Kamau, the field agent for Kibera, presses the button
on the notice and confirms it; the admin makes and approves a batch, and Wanjiru's payout goes to
the new number. Baraka changes his too, nobody confirms it: his payout is held, he was told why
(in Kiswahili), and the admin's /payouts says so.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvicorn
from sqlmodel import col, select

from bot.main import Factory, build_bot
from bot.settings import Settings
from conversations.i18n import t
from domain import ledger
from domain.model import (
    Channel,
    Language,
    MpesaNumberChange,
    Payout,
    PayoutStatus,
    Role,
)
from domain.services.people import add_person
from domain.store import Store
from tests.e2e.harness import WEBHOOK_SECRET, eventually
from tests.fakes.daraja_api import FakeDaraja
from tests.fakes.server import listening_socket
from tests.fakes.telegram_api import FakeTelegram
from tests.integration.factory_fixtures import active_artisan, ident
from tests.integration.mpesa_harness import INITIATOR_PASSWORD, certificate
from tests.integration.payout_chat import float_known

ADMIN = 7101
KAMAU = 7102
WANJIRU = 7103
BARAKA = 7104


@contextlib.asynccontextmanager
async def karakana(
    store: Store, tmp_path: Path, telegram: FakeTelegram, daraja: FakeDaraja
) -> AsyncIterator[str]:
    sock = listening_socket()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    pem = tmp_path / "mpesa.cer"
    pem.write_bytes(certificate()[0])
    settings = Settings(
        _env_file=None,
        database_url="sqlite+aiosqlite:///unused.db",
        media_dir=tmp_path / "media",
        models_dir=tmp_path / "models",
        public_base_url=url,
        telegram_bot_token=telegram.token,
        telegram_api_base_url=telegram.base_url,
        telegram_webhook_secret=WEBHOOK_SECRET,
        telegram_send_rate=50,
        payout_minimum="100",
        mpesa_api_base_url=daraja.base_url,
        mpesa_consumer_key=daraja.consumer_key,
        mpesa_consumer_secret=daraja.consumer_secret,
        mpesa_shortcode="600999",
        mpesa_initiator_name="karakana_api",
        mpesa_initiator_password=INITIATOR_PASSWORD,
        mpesa_certificate_path=pem,
        mpesa_request_timeout=2,
        mpesa_callback_token="payee-story-token-0123456789",
    )
    bot = build_bot(Factory(settings=settings, store=store), webchat=False, poll_interval=0.05)
    server = uvicorn.Server(
        uvicorn.Config(bot.app, lifespan="on", log_config=None, log_level="warning")
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield url
    finally:
        server.should_exit = True
        await task
        sock.close()


async def _people(store: Store) -> tuple[int, int]:
    now = datetime.now(UTC)
    async with store.transaction() as session:
        await add_person(
            session,
            role=Role.ADMIN,
            name="Amina",
            channel=Channel.TELEGRAM,
            address=str(ADMIN),
            now=now,
        )
        kamau = await add_person(
            session,
            role=Role.FIELD_AGENT,
            name="Kamau",
            channel=Channel.TELEGRAM,
            address=str(KAMAU),
            areas=["Kibera"],
            now=now,
        )
        people = []
        for name, chat, number, language in (
            ("Wanjiru Achieng", WANJIRU, "+254711000101", Language.EN),
            ("Baraka Otieno", BARAKA, "+254711000102", Language.SW),
        ):
            artisan = ident(
                await active_artisan(
                    session,
                    verified_by=ident(kamau),
                    now=now,
                    name=name,
                    language=language,
                    channel=Channel.TELEGRAM,
                    address=str(chat),
                    mpesa_number=number,
                )
            )
            await ledger.record_earning(
                session, artisan_id=artisan, amount_cents=120_000, reference=f"w:{chat}", now=now
            )
            people.append(artisan)
    return people[0], people[1]


async def test_a_confirmed_new_number_is_paid_and_an_unconfirmed_one_holds_the_payout(
    store: Store, tmp_path: Path, telegram: FakeTelegram
) -> None:
    wanjiru, baraka = await _people(store)
    daraja = FakeDaraja(payee_names={"254722000333": "WANJIRU ACHIENG"})
    async with daraja.running(), karakana(store, tmp_path, telegram, daraja) as url:

        async def say(chat: int, text: str) -> None:
            update = telegram.text_update(chat, text)
            response = await telegram.deliver(
                f"{url}/telegram/webhook", update, secret_token=WEBHOOK_SECRET
            )
            assert response.status_code == 200

        def messages(chat: int) -> list[dict[str, Any]]:
            return [m for m in telegram.sent("sendMessage") if str(m.get("chat_id")) == str(chat)]

        def texts(chat: int) -> list[str]:
            return [str(m["text"]) for m in messages(chat)]

        await say(WANJIRU, "/mpesa 0722 000 333")
        await say(BARAKA, "/mpesa 0733 000 444")
        await eventually(lambda: len(messages(KAMAU)) >= 2)
        async with store.transaction() as session:
            changes = {c.artisan_id: c for c in await session.exec(select(MpesaNumberChange))}
        assert await eventually(lambda: texts(WANJIRU)) == [
            t("en", "artisan.mpesa_requested", number="+254722000333", id=changes[wanjiru].id)
        ]
        assert await eventually(lambda: texts(BARAKA)) == [
            t("sw", "artisan.mpesa_requested", number="+254733000444", id=changes[baraka].id)
        ]

        # Kamau presses "Confirm number" on Wanjiru's notice only.
        [notice] = [m for m in messages(KAMAU) if "Wanjiru" in m["text"]]
        [[button]] = notice["reply_markup"]["inline_keyboard"]
        assert button["text"] == t("en", "agent.mpesa_confirm_button")
        await telegram.deliver(
            f"{url}/telegram/webhook",
            telegram.callback_update(KAMAU, button["callback_data"]),
            secret_token=WEBHOOK_SECRET,
        )
        heard = t("en", "artisan.mpesa_confirmed", name="Kamau", new="+254*****333")
        await eventually(lambda: heard in texts(WANJIRU))

        await say(ADMIN, "/payouts")
        held = t(
            "en",
            "admin.payout_held_line",
            id=baraka,
            name="“Baraka Otieno”",
            amount="KES 1,200",
            reason=t("en", "admin.hold_number_unconfirmed"),
        )
        await eventually(lambda: any(held in text for text in texts(ADMIN)))
        await say(ADMIN, "/make_payouts")
        made = t("en", "admin.payouts_made", id=1, count=1, total="KES 1,200", minimum="KES 100")
        await eventually(lambda: made in texts(ADMIN))
        # The batch waits and the float is not known: handling /make_payouts woke the payout
        # waker, which asked M-Pesa's Account Balance; approval waits for its answer.
        await eventually(lambda: float_known(store))
        await say(ADMIN, "/approve_payouts")
        asked = t(
            "en",
            "admin.approve_confirm",
            id=1,
            by=t("en", "admin.batch_started_by", name="Amina"),
            count=1,
            total="KES 1,200",
        )
        await eventually(lambda: any(text.startswith(asked) for text in texts(ADMIN)))
        await say(ADMIN, "yes")

        async def paid() -> list[Payout]:
            async with store.transaction() as session:
                rows = list(await session.exec(select(Payout).order_by(col(Payout.id))))
            return [p for p in rows if p.status is PayoutStatus.SUCCEEDED]

        [payout] = await eventually(paid, within=60)
        assert (payout.artisan_id, payout.msisdn) == (wanjiru, "+254722000333")
        assert [r["PartyB"] for r in daraja.b2c_requests] == ["254722000333"]
        async with store.transaction() as session:
            payouts = list(await session.exec(select(Payout)))
            balance = await ledger.artisan_balance(session, baraka)
        assert [p.artisan_id for p in payouts] == [wanjiru]  # Baraka's is held, not sent
        assert balance.available_cents == 120_000
