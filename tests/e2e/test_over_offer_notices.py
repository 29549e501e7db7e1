"""Over-offering through the real webhooks: one job offered to more workshops than its pieces cover.

Ten carved horn pendants are offered six each to three carvers (twice the job, as the matching
round may): Wanjiru on WhatsApp (English), Baraka on Telegram and Njeri on WhatsApp (both in
Kiswahili). Wanjiru accepts all six by a typed code over a Twilio-signed webhook; Baraka presses
"accept all" on Telegram and is told, in Kiswahili, that he got the four that were left; the job
is then full, so Njeri's offer is withdrawn and she is told why at the fake Twilio. Her late
"KUBALI" changes nothing. Each is checked on what the fake providers received and in the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlmodel import col, select

from conversations.formatting import written_date
from conversations.i18n import default_catalogue, t
from conversations.registry import REGISTRY
from domain import events
from domain.model import Allocation, Channel, Job, Language, Offer, OfferStatus, Person
from domain.quantities import job_tally
from domain.services.offers import make_offer
from domain.services.people import register_artisan, verify_artisan
from tests.e2e.harness import Running, eventually, settle
from tests.integration.factory_fixtures import (
    HORN,
    Staff,
    confirmed_order,
    hire_staff,
    ident,
    stock_catalogue,
)

WANJIRU = "+254712000101"
NJERI = "+254712000103"
BARAKA = 7_200_001  # a Telegram chat id
PENDANTS = 10
OFFERED = 6  # to each of three carvers: 18 in open offers for a job of 10
PENDANT = "Carved horn pendant"  # factory_fixtures' HORN-PENDANT, KES 150 a piece


async def _carver(
    karakana: Running,
    staff: Staff,
    name: str,
    *,
    channel: Channel,
    address: str,
    language: Language,
) -> Person:
    now = datetime.now(UTC)
    async with karakana.store.transaction() as session:
        person = await register_artisan(
            session,
            name=name,
            workshop=f"{name}'s workshop",
            area="Kibera",
            skills={HORN: 30},
            mpesa_number="0712 345 678",
            language=language,
            channel=channel,
            address=address,
            now=now,
        )
        await verify_artisan(session, artisan_id=ident(person), agent_id=staff.agent, now=now)
        events.drain(session)  # their welcome is another test's story
        return person


async def _offer_to_each(karakana: Running, job_id: int, carvers: Sequence[Person]) -> list[int]:
    """Six pendants to each carver, with the over-offering ratio of 2, notified as a round does."""
    now = datetime.now(UTC)
    async with karakana.store.transaction() as session:
        offers = [
            await make_offer(
                session,
                job_id=job_id,
                artisan_id=ident(carver),
                quantity=OFFERED,
                expires_at=now + timedelta(hours=24),
                now=now,
                over_offer=2.0,
            )
            for carver in carvers
        ]
        await REGISTRY.notify(
            session, events.drain(session), catalogue=default_catalogue(), now=now
        )
    karakana.bot.dispatcher.wake()
    return [ident(offer) for offer in offers]


async def _whatsapp_answer(karakana: Running, number: str, text: str) -> str:
    """``number`` writes on WhatsApp; the first message sent back after it."""
    before = len(karakana.texts_to(number))
    await karakana.whatsapp(number, text)
    return await eventually(lambda: next(iter(karakana.texts_to(number)[before:]), ""))


def _due(language: str, due_date: date) -> str:
    return written_date(language, due_date)


async def _stored_offers(karakana: Running) -> dict[int, Offer]:
    async with karakana.store.transaction() as session:
        return {ident(o): o for o in await session.exec(select(Offer))}


async def _allocations(karakana: Running) -> list[Allocation]:
    async with karakana.store.transaction() as session:
        return list(await session.exec(select(Allocation).order_by(col(Allocation.id))))


async def test_the_last_to_accept_gets_what_is_left_and_the_third_hears_the_job_is_full(
    karakana: Running,
) -> None:
    now = datetime.now(UTC)
    async with karakana.store.transaction() as session:
        await stock_catalogue(session)
        staff = await hire_staff(session, now=now)
        order = await confirmed_order(session, now=now, due_date=date.today() + timedelta(days=30))
    job_id = order.jobs["HORN-PENDANT"]
    wanjiru = await _carver(
        karakana,
        staff,
        "Wanjiru",
        channel=Channel.WHATSAPP,
        address=WANJIRU,
        language=Language.EN,
    )
    baraka = await _carver(
        karakana,
        staff,
        "Baraka",
        channel=Channel.TELEGRAM,
        address=str(BARAKA),
        language=Language.SW,
    )
    njeri = await _carver(
        karakana, staff, "Njeri", channel=Channel.WHATSAPP, address=NJERI, language=Language.SW
    )
    # Both WhatsApp carvers wrote today, so their 24-hour windows are open for free-form offers.
    for number in (WANJIRU, NJERI):
        await _whatsapp_answer(karakana, number, "Habari")

    first, second, third = await _offer_to_each(karakana, job_id, [wanjiru, baraka, njeri])

    await eventually(lambda: any(f"ACCEPT {first}" in m for m in karakana.texts_to(WANJIRU)))
    await eventually(lambda: any(f"KUBALI {third}" in m for m in karakana.texts_to(NJERI)))
    baraka_offer = await eventually(
        lambda: next((m for m in karakana.telegram.sent("sendMessage") if _offers(m, second)), None)
    )

    # Wanjiru takes all six by the typed code.
    took = await _whatsapp_answer(karakana, WANJIRU, f"ACCEPT {first}")
    [mine] = await _allocations(karakana)
    assert took == t(
        "en",
        "artisan.offer_accepted",
        id=first,
        quantity=OFFERED,
        component=PENDANT,
        due=_due("en", mine.due_date),
        total="KES 900",
    )

    # Baraka presses "accept all" for six; only four are left, and he is told so in Kiswahili.
    told_before = len(karakana.telegram_texts(BARAKA))
    await karakana.telegram_update(
        karakana.telegram.callback_update(
            BARAKA, _button(baraka_offer, t("sw", "artisan.offer_accept_all"))
        )
    )
    answer = await eventually(lambda: karakana.telegram_texts(BARAKA)[told_before:])
    rest = (await _allocations(karakana))[-1]
    assert answer == [
        t(
            "sw",
            "artisan.offer_accepted_last",
            id=second,
            quantity=PENDANTS - OFFERED,
            component=PENDANT,
            due=_due("sw", rest.due_date),
            total="KES 600",
        )
    ]

    # The job is full: Njeri's offer is withdrawn and she hears why, once, in Kiswahili.
    filled = t("sw", "artisan.offer_filled_notice", id=third, quantity=OFFERED, component=PENDANT)
    await eventually(lambda: filled in karakana.texts_to(NJERI))
    assert await _whatsapp_answer(karakana, NJERI, f"KUBALI {third}") == t(
        "sw", "artisan.offer_withdrawn", id=third
    )
    await settle()
    assert karakana.texts_to(NJERI).count(filled) == 1

    allocations = await _allocations(karakana)
    assert [(a.artisan_id, a.offer_id, a.quantity) for a in allocations] == [
        (ident(wanjiru), first, OFFERED),
        (ident(baraka), second, PENDANTS - OFFERED),
    ]
    async with karakana.store.transaction() as session:
        tally = await job_tally(session, job_id)
        job = await session.get(Job, job_id)
    assert job is not None
    assert tally.allocated == sum(a.quantity for a in allocations) == job.quantity == PENDANTS
    offers = await _stored_offers(karakana)
    assert (offers[first].status, offers[first].accepted_quantity) == (OfferStatus.ACCEPTED, 6)
    assert (offers[second].status, offers[second].accepted_quantity) == (
        OfferStatus.PARTLY_ACCEPTED,
        PENDANTS - OFFERED,
    )
    assert offers[third].status is OfferStatus.WITHDRAWN


def _offers(message: dict[str, Any], offer_id: int) -> bool:
    return str(message["chat_id"]) == str(BARAKA) and f"#{offer_id}" in message["text"]


def _button(message: dict[str, Any], label: str) -> str:
    """The signed callback data of the message's button labelled ``label``."""
    buttons = [b for row in message["reply_markup"]["inline_keyboard"] for b in row]
    [button] = [b for b in buttons if b["text"] == label]
    return str(button["callback_data"])
