"""An admin starts a payout batch over a real webhook, and another admin approves or cancels it.

Amina (English) sends /make_payouts on WhatsApp through a Twilio-signed webhook; Zawadi (Kiswahili)
hears on Telegram who made the batch and approves it there, after confirming the total it pays;
Amina hears who approved it. Each
hears of their own action once, in their command's reply. The batch remembers Amina as its maker
and Zawadi as its approver. M-Pesa is not configured in this harness, so both are told the money
stays reserved until it is. Cancelled instead, the batch pays nobody and its money is available
again for the next one; Amina hears who cancelled it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import col, select

from conversations.i18n import t
from domain import ledger
from domain.model import (
    Channel,
    Language,
    Payout,
    PayoutBatch,
    PayoutBatchStatus,
    PayoutStatus,
    Person,
    Role,
)
from domain.services.people import add_person
from tests.e2e.harness import Running, eventually, settle
from tests.integration.factory_fixtures import ident, payee

AMINA = "+254722000201"
ZAWADI = 7_300_001  # a Telegram chat id
OWED = {"Wanjiru": 150_000, "Baraka": 80_000, "Njeri": 5_000}  # Njeri's KES 50 waits


async def _two_admins_and_three_artisans_owed(karakana: Running) -> tuple[Person, Person, int]:
    """Amina and Zawadi, and what Wanjiru, Baraka and Njeri earned; returns the payout minimum."""
    now = datetime.now(UTC)
    async with karakana.store.transaction() as session:
        amina = await add_person(
            session,
            role=Role.ADMIN,
            name="Amina",
            channel=Channel.WHATSAPP,
            address=AMINA,
            language=Language.EN,
            now=now,
        )
        zawadi = await add_person(
            session,
            role=Role.ADMIN,
            name="Zawadi",
            channel=Channel.TELEGRAM,
            address=str(ZAWADI),
            language=Language.SW,
            now=now,
        )
        for name, cents in OWED.items():
            artisan = await payee(session, name, now=now)
            await ledger.record_earning(
                session,
                artisan_id=artisan,
                amount_cents=cents,
                reference=f"delivery:{name}",
                now=now,
            )
    minimum = karakana.settings.payout_minimum_cents
    assert OWED["Njeri"] < minimum <= OWED["Baraka"]
    return amina, zawadi, minimum


async def test_an_admin_makes_a_batch_in_chat_and_another_approves_it_seeing_who_made_it(
    karakana: Running,
) -> None:
    amina, zawadi, minimum = await _two_admins_and_three_artisans_owed(karakana)

    await karakana.whatsapp(AMINA, "/make_payouts")

    await eventually(lambda: len(karakana.texts_to(AMINA)) >= 2)
    made = karakana.texts_to(AMINA)
    async with karakana.store.transaction() as session:
        [batch] = await session.exec(select(PayoutBatch))
    assert made == [
        t(
            "en",
            "admin.payouts_made",
            id=batch.id,
            count=2,
            total="KES 2,300",
            minimum=f"KES {minimum // 100:,}",
        ),
        t("en", "admin.mpesa_not_configured"),
    ]
    notice = t(
        "sw",
        "payouts.batch_waiting_started_by",
        name="Amina",
        batch=batch.id,
        count=2,
        total="2,300",
    )
    assert await eventually(lambda: karakana.telegram_texts(ZAWADI)) == [notice]

    await karakana.telegram_update(
        karakana.telegram.text_update(ZAWADI, f"/approve_payouts {batch.id}")
    )
    # Zawadi sees the total and is asked to confirm; she answers in Kiswahili.
    await eventually(lambda: len(karakana.telegram_texts(ZAWADI)) >= 2)
    question = karakana.telegram_texts(ZAWADI)[1]
    assert question.startswith(
        t(
            "sw",
            "admin.approve_confirm",
            id=batch.id,
            by=t("sw", "admin.batch_started_by", name="Amina"),
            count=2,
            total="KES 2,300",
        )
    )
    await karakana.telegram_update(karakana.telegram.text_update(ZAWADI, "ndiyo"))

    # Zawadi's reply names Amina as the maker; Amina hears Zawadi approved it, Zawadi only once.
    await eventually(lambda: len(karakana.telegram_texts(ZAWADI)) >= 3)
    reply = t(
        "sw",
        "admin.approved_not_sent",
        id=batch.id,
        by=t("sw", "admin.batch_started_by", name="Amina"),
        count=2,
        total="KES 2,300",
    )
    heard = t("en", "payouts.batch_approved", name="Zawadi", batch=batch.id, total="2,300")
    assert await eventually(lambda: karakana.texts_to(AMINA)[2:]) == [heard]
    await settle()  # anything more for either admin would have been sent with Amina's notice
    assert karakana.telegram_texts(ZAWADI) == [notice, question, reply]
    assert len(await karakana.outbox(str(ZAWADI))) == 3
    assert len(karakana.texts_to(AMINA)) == 3
    async with karakana.store.transaction() as session:
        stored = await session.get(PayoutBatch, ident(batch))
        payouts = list(await session.exec(select(Payout).order_by(col(Payout.amount_cents))))
    assert stored is not None
    assert (stored.status, stored.created_by, stored.approved_by) == (
        PayoutBatchStatus.APPROVED,
        amina.id,
        zawadi.id,
    )
    # Kept for when M-Pesa is set up: reserved, never sent, never dropped.
    assert [(p.amount_cents, p.status) for p in payouts] == [
        (80_000, PayoutStatus.PENDING),
        (150_000, PayoutStatus.PENDING),
    ]


async def test_an_admin_cancels_the_batch_another_made_and_the_money_is_available_again(
    karakana: Running,
) -> None:
    await _two_admins_and_three_artisans_owed(karakana)
    await karakana.whatsapp(AMINA, "/make_payouts")
    await eventually(lambda: karakana.telegram_texts(ZAWADI))  # told a batch waits
    async with karakana.store.transaction() as session:
        [batch] = await session.exec(select(PayoutBatch))

    await karakana.telegram_update(karakana.telegram.text_update(ZAWADI, "/cancel_payouts"))

    reply = t(
        "sw",
        "admin.payouts_cancelled",
        id=batch.id,
        by=t("sw", "admin.batch_started_by", name="Amina"),
        count=2,
        total="KES 2,300",
    )
    heard = t(
        "en", "payouts.batch_cancelled", name="Zawadi", batch=batch.id, count=2, total="2,300"
    )
    assert await eventually(lambda: karakana.telegram_texts(ZAWADI)[1:]) == [reply]
    assert await eventually(lambda: karakana.texts_to(AMINA)[2:]) == [heard]
    await settle()
    assert len(karakana.telegram_texts(ZAWADI)) == 2  # the reply, not a notice as well
    async with karakana.store.transaction() as session:
        stored = await session.get(PayoutBatch, ident(batch))
        payouts = list(await session.exec(select(Payout)))
        balances = await ledger.artisan_balances(session, [p.artisan_id for p in payouts])
    assert stored is not None
    assert stored.status is PayoutBatchStatus.CANCELLED
    assert {p.status for p in payouts} == {PayoutStatus.CANCELLED}
    assert sorted(b.available_cents for b in balances.values()) == [80_000, 150_000]
