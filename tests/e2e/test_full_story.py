"""The whole story, over real HTTP on loopback against the running server and both fake providers.

Wanjiru registers on WhatsApp; Juma, the field agent for Kibera, verifies her on Telegram with a
button (whose keyboard is then taken off). A confirmed order goes through the production matching
round and she is offered work; she takes part of one offer by its typed code and part of the other
by a numbered reply. She posts an album of photos (one signed webhook per photo, each photo served
by the fake Twilio), says done and the count; Juma passes some and rejects the rest with a reason;
she reworks and resubmits, Juma passes the rework; she arranges a drop-off; Juma counts it in;
she reads the receipt and her earnings in chat. Every step is checked on what the fakes received
and in the store.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations.i18n import default_catalogue, t
from conversations.registry import REGISTRY
from domain.ledger import artisan_balance, trial_balance
from domain.model import (
    Allocation,
    ArtisanProfile,
    ArtisanStatus,
    Channel,
    ChannelIdentity,
    Component,
    CustomerKind,
    Delivery,
    DeliveryStatus,
    Job,
    Offer,
    OfferStatus,
    QcReview,
    Submission,
    SubmissionPhoto,
)
from domain.services.orders import confirm_order, create_order, get_or_create_customer
from matching.round import run_matching_round as matching_round
from scheduler.jobs import run_matching_round
from tests.e2e.harness import Running, eventually
from tests.integration.conversation_driver import REGISTRATION_ANSWERS, seed_catalogue

WANJIRU = "+254712345678"
JUMA = 7_100_001
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 4
RATE_CENTS = 2_000  # every component's piece rate in seed_catalogue: KES 20


class Story:
    """Wanjiru on WhatsApp and Juma on Telegram, talking to the running Karakana."""

    def __init__(self, karakana: Running) -> None:
        self.k = karakana

    # -- Wanjiru on WhatsApp -------------------------------------------------------------------

    def wanjiru_read(self) -> list[str]:
        return self.k.texts_to(WANJIRU)

    async def wanjiru(self, text: str = "", *, until: str | None = None, **form: Any) -> str:
        """Wanjiru writes; returns everything she is sent in answer (waiting for ``until``)."""
        before = len(self.wanjiru_read())
        await self.k.whatsapp(WANJIRU, text, **form)

        def answered() -> str:
            new = "\n".join(self.wanjiru_read()[before:])
            return new if new and (until is None or until in new) else ""

        return await eventually(answered)

    async def wanjiru_photo(self) -> str:
        url = self.k.twilio.add_media(JPEG, "image/jpeg")
        return await self.wanjiru(media={url: "image/jpeg"})

    async def wanjiru_told(self, words: str) -> str:
        """A business message to Wanjiru containing ``words`` (waiting for it)."""
        return await eventually(lambda: next((m for m in self.wanjiru_read() if words in m), ""))

    # -- Juma on Telegram ----------------------------------------------------------------------

    def juma_messages(self) -> list[dict[str, Any]]:
        return [p for p in self.k.telegram.sent("sendMessage") if str(p["chat_id"]) == str(JUMA)]

    async def juma_gets(
        self, words: str, after: int = 0, *, button: str | None = None
    ) -> dict[str, Any]:
        """The first message to Juma (from index ``after``) with ``words`` (and ``button``)."""

        def wanted(message: dict[str, Any]) -> bool:
            return words in message["text"] and (button is None or button in labels(message))

        return await eventually(
            lambda: next((m for m in self.juma_messages()[after:] if wanted(m)), None)
        )

    async def juma_says(self, text: str) -> None:
        await self.k.telegram_update(self.k.telegram.text_update(JUMA, text))

    async def juma_presses(self, message: dict[str, Any], label: str) -> None:
        buttons = [b for row in message["reply_markup"]["inline_keyboard"] for b in row]
        [button] = [b for b in buttons if b["text"] == label]
        await self.k.telegram_update(self.k.telegram.callback_update(JUMA, button["callback_data"]))


def labels(message: dict[str, Any]) -> list[str]:
    keyboard = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return [b["text"] for row in keyboard for b in row]


async def _store(karakana: Running, read: Callable[[Any], Any]) -> Any:
    async with karakana.store.transaction() as session:
        return await read(session)


async def _component_name(session: AsyncSession, job_id: int) -> str:
    job = await session.get(Job, job_id)
    assert job is not None
    component = await session.get(Component, job.component_id)
    assert component is not None
    return component.name


async def test_the_whole_story_from_registration_to_earnings_over_both_channels(
    karakana: Running,
) -> None:
    story = Story(karakana)
    store = karakana.store
    await seed_catalogue(store)
    juma = await karakana.add_staff("Juma", channel=Channel.TELEGRAM, address=str(JUMA))
    assert juma.id is not None

    # 1. Wanjiru registers on WhatsApp.
    for answer in REGISTRATION_ANSWERS:
        last = await story.wanjiru(answer)
    assert last == t("en", "registration.received", name="Wanjiru Kamau")
    async with store.transaction() as session:
        identity = (
            await session.exec(select(ChannelIdentity).where(ChannelIdentity.address == WANJIRU))
        ).one()
        wanjiru = identity.person_id

    # 2. Juma verifies her with the button; its keyboard is then removed.
    request = await story.juma_gets("Wanjiru Kamau")
    assert labels(request) == [t("en", "agent.verify_button")]
    await story.juma_presses(request, t("en", "agent.verify_button"))
    await story.juma_gets(t("en", "agent.verified", id=wanjiru, name="“Wanjiru Kamau”"))
    [edit] = await eventually(lambda: karakana.telegram.sent("editMessageReplyMarkup"))
    assert str(edit["chat_id"]) == str(JUMA)
    assert "reply_markup" not in edit or not edit["reply_markup"]
    await story.wanjiru_told(t("en", "registration.verified", name="Wanjiru Kamau"))
    profile = await _store(karakana, lambda s: s.get(ArtisanProfile, wanjiru))
    assert profile.status is ArtisanStatus.ACTIVE

    # 3. A retailer's order is confirmed; the production matching round offers her work.
    now = datetime.now(UTC)
    async with store.transaction() as session:
        customer = await get_or_create_customer(
            session, name="Maasai Market Crafts", kind=CustomerKind.RETAILER
        )
        assert customer.id is not None
        order = await create_order(
            session,
            customer_id=customer.id,
            reference="PO-1",
            due_date=date.today() + timedelta(days=30),
            lines=[("NECK-1", 20)],
            now=now,
        )
        assert order.id is not None
        await confirm_order(session, order.id, now=now)
    await run_matching_round(
        store,
        clock=lambda: datetime.now(UTC),
        match=functools.partial(matching_round, rng=np.random.default_rng(7)),
        notify=REGISTRY.notifier(default_catalogue()),
    )
    karakana.bot.dispatcher.wake()
    offers = await _store(
        karakana,
        lambda s: s.exec(select(Offer).where(Offer.artisan_id == wanjiru).order_by(col(Offer.id))),
    )
    offers = list(offers)
    assert len(offers) == 2, "a beading job and a hook job fit her skills"
    first, second = offers
    for offer in offers:
        told = await story.wanjiru_told(f"PART {offer.id} ")
        assert f"1. {t('en', 'artisan.offer_accept_all')}" in told
        assert f"2. {t('en', 'artisan.offer_accept_part')}" in told

    # 4. She takes part of the first by its typed code...
    took = await story.wanjiru(f"PART {first.id} 10")
    assert f"#{first.id}" in took
    assert "10 ×" in took
    # ...and part of the second by a numbered reply to its message.
    asked = await story.wanjiru("2", until="How many")
    assert "“" + t("en", "artisan.offer_accept_part") + "”" in asked
    took = await story.wanjiru("I can do 8")
    assert f"#{second.id}" in took
    assert "8 ×" in took
    allocations = list(
        await _store(
            karakana,
            lambda s: s.exec(select(Allocation).order_by(col(Allocation.id))),
        )
    )
    assert [(a.artisan_id, a.quantity) for a in allocations] == [(wanjiru, 10), (wanjiru, 8)]
    statuses = {
        o.id: o.status
        for o in await _store(karakana, lambda s: s.exec(select(Offer)))
        if o.artisan_id == wanjiru
    }
    assert set(statuses.values()) == {OfferStatus.PARTLY_ACCEPTED}
    job = allocations[0]
    job_component = await _store(karakana, lambda s: _component_name(s, job.job_id))

    # 5. She posts an album of three photos for the first job, says done and the count.
    await story.wanjiru("menu")
    which = await story.wanjiru(t("en", "menu.item.submit"))
    assert f"1. #{job.id}" in which  # two jobs: she picks which one
    asked = await story.wanjiru("1")
    assert asked == t("en", "artisan.photos_ask", id=job.id, component=job_component)
    for n in (1, 2, 3):
        got = await story.wanjiru_photo()
        assert t("en", "artisan.photos_got", count=n) in got
    assert t("en", "artisan.count_ask", max=10) in await story.wanjiru("done")
    confirm = await story.wanjiru("10")
    assert confirm.startswith(
        t("en", "artisan.submit_confirm", count=10, component=job_component, id=job.id, photos=3)
    )
    await story.wanjiru("1", until="#")
    submission = (
        await _store(karakana, lambda s: s.exec(select(Submission).order_by(col(Submission.id))))
    ).first()
    assert (submission.allocation_id, submission.count) == (job.id, 10)
    photos = list(
        await _store(
            karakana,
            lambda s: s.exec(
                select(SubmissionPhoto).where(SubmissionPhoto.submission_id == submission.id)
            ),
        )
    )
    assert len(photos) == 3
    assert len([f for f in karakana.twilio.media_fetches if f.status == 200]) == 3

    # 6. Juma is told on Telegram, checks it: the photos, then 7 pass and 3 are rejected.
    check = t("en", "agent.notice.check_button")
    notice = await story.juma_gets(f"#{submission.id}", button=check)
    sent_before = len(karakana.telegram.sent("sendPhoto"))
    await story.juma_presses(notice, check)
    shown = await story.juma_gets(f"#{submission.id}", button=t("en", "agent.qc.approve_some"))
    assert len(karakana.telegram.sent("sendPhoto")) - sent_before == 3
    count_before = len(story.juma_messages())
    await story.juma_presses(shown, t("en", "agent.qc.approve_some"))
    await story.juma_gets("How many", after=count_before)
    count_before = len(story.juma_messages())
    await story.juma_says("7")
    why = await story.juma_gets("rejected", after=count_before)
    count_before = len(story.juma_messages())
    await story.juma_presses(why, labels(why)[0])
    await story.juma_gets("note", after=count_before)
    count_before = len(story.juma_messages())
    await story.juma_says("Sand the edges smooth")
    await story.juma_gets("7 passed, 3 rejected", after=count_before)
    review = (await _store(karakana, lambda s: s.exec(select(QcReview)))).one()
    assert (review.passed, review.rejected, review.reviewer_id) == (7, 3, juma.id)
    assert (review.reasons, review.note) == ("poor_finish", "Sand the edges smooth")

    # 7. Wanjiru hears the result, reworks the three and sends them again; Juma passes them.
    result = await story.wanjiru_told(f"Quality check of #{submission.id}")
    assert "7 passed, 3 not accepted" in result
    assert "Sand the edges smooth" in result
    await story.wanjiru("menu")
    await story.wanjiru(t("en", "menu.item.submit"))
    await story.wanjiru(
        "1", until=t("en", "artisan.photos_ask", id=job.id, component=job_component)
    )
    await story.wanjiru_photo()
    assert t("en", "artisan.count_ask", max=3) in await story.wanjiru("done")
    await story.wanjiru("3")
    await story.wanjiru("1", until="#")
    rework = (
        await _store(
            karakana, lambda s: s.exec(select(Submission).order_by(col(Submission.id).desc()))
        )
    ).first()
    assert (rework.allocation_id, rework.count) == (job.id, 3)
    notice = await story.juma_gets(f"#{rework.id}", button=check)
    count_before = len(story.juma_messages())
    await story.juma_presses(notice, check)
    shown = await story.juma_gets(
        f"#{rework.id}", after=count_before, button=t("en", "agent.qc.approve_all", count=3)
    )
    count_before = len(story.juma_messages())
    await story.juma_presses(shown, t("en", "agent.qc.approve_all", count=3))
    await story.wanjiru_told(
        t("en", "artisan.qc_all_passed", passed=3, component=job_component, id=rework.id)
    )

    # 8. She arranges a drop-off of all ten passed pieces.
    await story.wanjiru("menu")
    assert t("en", "artisan.delivery_how") in await story.wanjiru(t("en", "menu.item.delivery"))
    how_many = await story.wanjiru("1")
    assert t("en", "artisan.delivery_how_many", max=10) in how_many
    await story.wanjiru("10")
    booked = await story.wanjiru("1")
    delivery = (await _store(karakana, lambda s: s.exec(select(Delivery)))).one()
    assert (delivery.allocation_id, delivery.declared_quantity) == (job.id, 10)
    assert f"#{delivery.id}" in booked

    # 9. Juma counts it in at the central workshop.
    count_before = len(story.juma_messages())
    await story.juma_says("/receipt")
    pick = await story.juma_gets(t("en", "agent.receipt.ask_delivery"), after=count_before)
    count_before = len(story.juma_messages())
    await story.juma_presses(pick, labels(pick)[0])
    count = await story.juma_gets("How many pieces arrived?", after=count_before)
    count_before = len(story.juma_messages())
    await story.juma_presses(count, t("en", "agent.receipt.all_arrived", count=10))
    await story.juma_gets(f"delivery #{delivery.id}", after=count_before)
    received = await _store(karakana, lambda s: s.get(Delivery, delivery.id))
    assert received.status is DeliveryStatus.RECEIVED
    assert received.received_quantity == 10

    # 10. Wanjiru reads the receipt and her earnings; the ledger agrees and balances.
    await story.wanjiru_told(
        t(
            "en",
            "artisan.delivery_received",
            id=delivery.id,
            received=10,
            component=job_component,
            earned="KES 200",  # 10 pieces at KES 20
        )
    )
    await story.wanjiru("menu")
    earnings = await story.wanjiru(t("en", "menu.item.earnings"), until="KES")
    assert "KES 200" in earnings
    balance = await _store(karakana, lambda s: artisan_balance(s, wanjiru))
    assert balance.earned_cents == 10 * RATE_CENTS
    assert balance.available_cents == 10 * RATE_CENTS
    assert (await _store(karakana, trial_balance)).balanced
