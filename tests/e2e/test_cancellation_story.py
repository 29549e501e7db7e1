"""An order cancelled midway, over real HTTP with the fake providers: who is told, who is paid.

Wanjiru (English) holds a lot of horn pendants, four of them passed QC, and an open offer of
brass hooks; Otieno (Kiswahili) holds a lot of bangles with two waiting for QC. The admin cancels
the order on WhatsApp with ``CANCELLED_WORK_GRACE_DAYS=3``. Each artisan reads, in their language,
what stops and what happens to their pieces; Wanjiru still delivers her four passed pieces and
the agent's receipt pays them; Otieno's two pass QC and the admin writes them off as paid, and
``/order`` lists the write-off. The ledger shows both earnings and balances, and neither artisan's
record counts a late lot or a refused offer.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations.formatting import numeric_date, weekday_date
from conversations.i18n import default_catalogue, t
from conversations.registry import REGISTRY
from domain import events, ledger
from domain.explosion import factory_today
from domain.model import Allocation, Delivery, DeliveryStatus, Submission, Transfer, WriteOff
from domain.reputation import artisan_history
from domain.services import work
from domain.store import Store
from tests.conftest import FakeClock
from tests.e2e.harness import Running, eventually, running_karakana
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.twilio_api import FakeTwilio
from tests.integration.factory_fixtures import (
    CHATS,
    PENDANT_RATE,
    accepted_offer,
    build_factory,
    ident,
    open_offer,
    place_order,
    submitted_work,
)

T = TypeVar("T")
ADMIN, AGENT = CHATS["admin"][1], CHATS["agent"][1]
WANJIRU, OTIENO = CHATS["wanjiru"][1], CHATS["otieno"][1]


@pytest.fixture
async def karakana(
    store: Store, tmp_path: Path, twilio: FakeTwilio, telegram: FakeTelegram
) -> AsyncIterator[Running]:
    settings = {"cancelled_work_grace_days": 3}
    async with running_karakana(
        store, tmp_path, twilio, telegram, extra_settings=settings
    ) as running:
        yield running


async def _act(karakana: Running, step: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """A domain step in one transaction, its notices queued as the engine queues them."""
    async with karakana.store.transaction() as session:
        result = await step(session)
        await REGISTRY.notify(
            session, events.drain(session), catalogue=default_catalogue(), now=datetime.now(UTC)
        )
    karakana.bot.dispatcher.wake()
    return result


async def _writes(karakana: Running, number: str, text: str, *, until: str) -> str:
    """``number`` writes on WhatsApp; everything they are sent next, once it includes ``until``."""
    before = len(karakana.texts_to(number))
    await karakana.whatsapp(number, text)

    def answered() -> str:
        new = "\n".join(karakana.texts_to(number)[before:])
        return new if until in new else ""

    return await eventually(answered)


async def _told(karakana: Running, number: str, text: str) -> str:
    """The message to ``number`` that says ``text`` (a channel may add its choices below)."""
    return await eventually(
        lambda: next((m for m in karakana.texts_to(number) if m.startswith(text)), "")
    )


async def test_an_order_cancelled_midway_tells_each_artisan_and_pays_every_passed_piece(
    karakana: Running,
) -> None:
    store = karakana.store
    clock = FakeClock(datetime.now(UTC))
    factory = await build_factory(store, clock)
    order = await place_order(store, clock, lines={"NECKLACE-HORN": 10, "BANGLE-BRASS": 6})
    now = clock.now()
    async with store.transaction() as s:
        pendants = await accepted_offer(
            s, job_id=order.jobs["HORN-PENDANT"], artisan_id=factory.wanjiru, quantity=6, now=now
        )
        first = await submitted_work(
            s, allocation_id=ident(pendants), artisan_id=factory.wanjiru, count=4, now=now
        )
        await work.review_submission(
            s,
            submission_id=ident(first),
            reviewer_id=factory.agent,
            passed=4,
            rejected=0,
            reasons=[],
            now=now,
        )
        bangles = await accepted_offer(
            s, job_id=order.jobs["BRASS-BANGLE"], artisan_id=factory.otieno, quantity=6, now=now
        )
        waiting = await submitted_work(
            s, allocation_id=ident(bangles), artisan_id=factory.otieno, count=2, now=now
        )
        hooks = await open_offer(
            s, job_id=order.jobs["BRASS-HOOK"], artisan_id=factory.wanjiru, quantity=5, now=now
        )
        events.drain(s)  # the setup's own news is not what this story is about
    # Both artisans wrote today, so business messages reach them without a template.
    await _writes(karakana, WANJIRU, "hi", until="")
    await _writes(karakana, OTIENO, "habari", until="")

    # 1. The admin cancels the order on WhatsApp.
    said = await _writes(
        karakana,
        ADMIN,
        f"/cancel {order.order_id} customer withdrew",
        until=f"#{order.order_id}",
    )  # what stops, and a question: yes
    said = await _writes(karakana, ADMIN, "yes", until=f"#{order.order_id}")
    assert said == t("en", "admin.cancelled", id=order.order_id, jobs=3, count=3)

    # 2. Each is told in their language what stops and what happens to their pieces.
    en, sw = functools.partial(t, "en"), functools.partial(t, "sw")
    grace_end = weekday_date(en, factory_today(now) + timedelta(days=3))
    wanjiru_notice = "\n".join(
        [
            en(
                "artisan.job_cancelled_notice",
                job=pendants.job_id,
                quantity=6,
                component="Carved horn pendant",
            ),
            en("artisan.job_cancelled_deliver", count=4),
            en("artisan.job_cancelled_grace", count=2, date=grace_end, days=3),
            en("artisan.job_cancelled_record"),
        ]
    )
    await _told(karakana, WANJIRU, wanjiru_notice)
    offer_notice = en(
        "artisan.offer_cancelled_notice", id=hooks.id, quantity=5, component="Brass hook"
    )
    await _told(karakana, WANJIRU, offer_notice)
    otieno_notice = "\n".join(
        [
            sw(
                "artisan.job_cancelled_notice",
                job=bangles.job_id,
                quantity=6,
                component="Brass bangle",
            ),
            sw("artisan.job_cancelled_in_review", count=2),
            sw(
                "artisan.job_cancelled_grace",
                count=4,
                date=weekday_date(sw, factory_today(now) + timedelta(days=3)),
                days=3,
            ),
            sw("artisan.job_cancelled_record"),
        ]
    )
    await _told(karakana, OTIENO, otieno_notice)

    # 3. Wanjiru still delivers her four passed pieces, and the receipt pays them.
    await _writes(karakana, WANJIRU, "menu", until="")
    await _writes(karakana, WANJIRU, en("menu.item.delivery"), until=en("artisan.delivery_how"))
    asked = await _writes(karakana, WANJIRU, "1", until="4")
    assert en("artisan.delivery_how_many", max=4) in asked
    await _writes(karakana, WANJIRU, "4", until="")
    await _writes(karakana, WANJIRU, "1", until="#")
    async with store.transaction() as s:
        delivery = (await s.exec(select(Delivery))).one()
    assert (delivery.allocation_id, delivery.declared_quantity) == (pendants.id, 4)
    await _writes(karakana, AGENT, "/receipt", until=t("en", "agent.receipt.ask_delivery"))
    await _writes(karakana, AGENT, "1", until="How many pieces arrived?")
    assert "KES 600" in await _writes(karakana, AGENT, "4", until="KES")
    await _told(
        karakana,
        WANJIRU,
        en(
            "artisan.delivery_received",
            job=pendants.job_id,
            received=4,
            component="Carved horn pendant",
            earned="KES 600",
        ),
    )

    # 4. Otieno's two pieces pass QC; the admin writes them off as paid, and he is told.
    await _act(
        karakana,
        lambda s: work.review_submission(
            s,
            submission_id=ident(waiting),
            reviewer_id=factory.agent,
            passed=2,
            rejected=0,
            reasons=[],
            now=datetime.now(UTC),
        ),
    )
    written = await _writes(
        karakana, ADMIN, f"/writeoff {bangles.id} customer gone, he keeps them", until="KES"
    )
    async with store.transaction() as s:
        entry = (await s.exec(select(WriteOff))).one()
        lot = await s.get(Allocation, ident(bangles))
        assert lot is not None
        bangle_rate = lot.piece_rate_cents
    amount = f"KES {2 * bangle_rate // 100:,}"
    assert written == t(
        "en",
        "admin.written_off",
        id=bangles.id,
        job=bangles.job_id,
        artisan="“Otieno”",
        pieces=2,
        amount=amount,
        write_off=entry.id,
    )
    await _told(
        karakana,
        OTIENO,
        sw(
            "artisan.written_off_notice",
            job=bangles.job_id,
            pieces=2,
            component="Brass bangle",
            amount=amount,
            reason="“customer gone, he keeps them”",
        ),
    )

    # /order lists the write-off: the lot, the artisan, the pieces, the money, who and why.
    shown = await _writes(karakana, ADMIN, f"/order {order.order_id}", until="Write-off #")
    assert (
        t(
            "en",
            "admin.order_write_off_line",
            id=entry.id,
            lot=bangles.id,
            artisan="“Otieno”",
            pieces=2,
            component="Brass bangle",
            amount=amount,
            by="“Achieng”",
            date=numeric_date(entry.created_at),
            reason="“customer gone, he keeps them”",
        )
        in shown
    )

    # 5. The ledger: an earning for the delivery, a write-off for the bangles, all balanced.
    async with store.transaction() as s:
        transfers = (await s.exec(select(Transfer).order_by(col(Transfer.created_at)))).all()
        wanjiru = await ledger.artisan_balance(s, factory.wanjiru)
        otieno = await ledger.artisan_balance(s, factory.otieno)
        trial = await ledger.trial_balance(s)
        received = await s.get(Delivery, delivery.id)
        resubmitted = (await s.exec(select(Submission).order_by(col(Submission.id)))).all()
    assert received is not None
    assert received.status is DeliveryStatus.RECEIVED
    assert [(x.code, x.reference, x.amount_cents) for x in transfers] == [
        (ledger.EARNING, f"delivery:{delivery.id}", 4 * PENDANT_RATE),
        (ledger.WRITE_OFF, f"write_off:{entry.id}", 2 * bangle_rate),
    ]
    assert (wanjiru.earned_cents, otieno.earned_cents) == (4 * PENDANT_RATE, 2 * bangle_rate)
    assert trial.balanced
    assert len(resubmitted) == 2  # nothing else was submitted on the cancelled lots

    # 6. Nobody's record is hurt: no lot counted late, no offer counted declined or expired.
    async with store.read() as s:
        for artisan in (factory.wanjiru, factory.otieno):
            history = await artisan_history(s, artisan, now=now + timedelta(days=60))
            assert (history.allocations_due, history.allocations_on_time) == (0, 0)
            assert (history.offers_declined, history.offers_expired) == (0, 0)
