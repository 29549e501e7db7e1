"""Artisans arrange deliveries, hear about receipts and see their earnings, through the engine."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import col, select

from conversations.artisan.earnings import next_payout_day
from conversations.artisan.flows.delivery import next_slots
from conversations.i18n import t
from domain import payouts
from domain.model import Delivery, DeliveryMethod, DeliveryStatus, Payout
from tests.integration.factory_fixtures import Floor, texts


async def _deliveries(floor: Floor) -> list[Delivery]:
    async with floor.store.transaction() as session:
        return list((await session.exec(select(Delivery).order_by(col(Delivery.id)))).all())


def test_slots_are_on_working_days_in_nairobi_hours_and_never_already_begun() -> None:
    friday_afternoon = datetime(2026, 3, 6, 12, 30, tzinfo=UTC)  # 15:30 in Nairobi
    assert [slot.isoformat() for slot in next_slots(friday_afternoon, 3)] == [
        "2026-03-09T06:00:00+00:00",  # Monday 09:00 Nairobi: nothing left on Friday, no weekend
        "2026-03-09T11:00:00+00:00",
        "2026-03-10T06:00:00+00:00",
    ]


def test_the_next_payout_day_is_the_coming_friday_or_today_on_a_friday() -> None:
    assert next_payout_day(datetime(2026, 3, 2).date()).isoformat() == "2026-03-06"
    assert next_payout_day(datetime(2026, 3, 6).date()).isoformat() == "2026-03-06"
    assert next_payout_day(datetime(2026, 3, 7).date()).isoformat() == "2026-03-13"


async def test_a_drop_off_in_a_chosen_slot_then_the_receipt_and_the_earnings(floor: Floor) -> None:
    allocation = await floor.passed_pieces("HORN-PENDANT", floor.factory.wanjiru, 10)
    await floor.wanjiru.send("hi")
    [how] = await floor.wanjiru.send("Arrange a delivery")
    assert how.text == t("en", "artisan.delivery_how")
    [how_many] = await floor.wanjiru.send("1")  # drop-off; one job, so no job question
    assert how_many.text.startswith(t("en", "artisan.delivery_how_many", max=10))
    assert [c.label for c in how_many.choices] == ["All 10"]
    assert await floor.wanjiru.say("12") == t("en", "artisan.delivery_count_invalid", max=10)
    [when] = await floor.wanjiru.send("6")
    # Monday 10:00 in Nairobi: today 14:00 is the first slot, then the next working days.
    assert [c.label for c in when.choices][:3] == [
        "Monday 2 March 14:00",
        "Tuesday 3 March 09:00",
        "Tuesday 3 March 14:00",
    ]
    [booked] = await floor.wanjiru.send("2")

    [delivery] = await _deliveries(floor)
    assert booked.text == t(
        "en",
        "artisan.delivery_booked_drop_off",
        job=floor.order.jobs["HORN-PENDANT"],
        count=6,
        when="Tuesday 3 March 09:00",
    )
    assert (delivery.allocation_id, delivery.method, delivery.declared_quantity) == (
        allocation,
        DeliveryMethod.DROP_OFF,
        6,
    )
    assert delivery.slot_start == datetime(2026, 3, 3, 6, 0, tzinfo=UTC)

    assert delivery.id is not None
    await floor.receive(delivery.id, 6)
    assert texts(await floor.told(floor.wanjiru))[-1] == t(
        "en",
        "artisan.delivery_received",
        job=floor.order.jobs["HORN-PENDANT"],
        received=6,
        component="Carved horn pendant",
        earned="KES 900",
    )

    await floor.wanjiru.send("menu")
    [earnings] = await floor.wanjiru.send("My earnings")
    assert earnings.text.startswith(
        t(
            "en",
            "artisan.earnings",
            earned="KES 900",
            paid="KES 0",
            in_payout="KES 0",
            available="KES 900",
            next="Friday 6 March",
        )
    )


async def test_a_short_delivery_is_flagged_politely_and_only_what_arrived_is_paid(
    floor: Floor,
) -> None:
    await floor.passed_pieces("HORN-PENDANT", floor.factory.wanjiru, 10)
    await floor.wanjiru.send("hi")
    for answer in ("4", "1", "All 10", "1"):
        await floor.wanjiru.send(answer)
    [delivery] = await _deliveries(floor)
    assert delivery.id is not None
    await floor.receive(delivery.id, 8)

    short, received = texts(await floor.told(floor.wanjiru))[-2:]
    assert short == t(
        "en",
        "artisan.delivery_short",
        job=floor.order.jobs["HORN-PENDANT"],
        declared=10,
        received=8,
    )
    assert "KES 1,200" in received


async def test_kiswahili_pickup_request(floor: Floor) -> None:
    await floor.passed_pieces("BRASS-BANGLE", floor.factory.otieno, 6)
    await floor.otieno.send("habari")
    await floor.otieno.send("4")
    [how_many] = await floor.otieno.send("2")  # pickup
    assert how_many.text.startswith(t("sw", "artisan.delivery_how_many", max=6))
    [when] = await floor.otieno.send(payload="qty:all")
    assert when.text == t("sw", "artisan.delivery_when_pickup")
    assert when.choices[0].label == "Jumatatu 2 Machi 14:00"
    [booked] = await floor.otieno.send("1")

    [delivery] = await _deliveries(floor)
    assert (delivery.method, delivery.declared_quantity, delivery.status) == (
        DeliveryMethod.PICKUP,
        6,
        DeliveryStatus.ARRANGED,
    )
    assert booked.text == t(
        "sw",
        "artisan.delivery_booked_pickup",
        job=floor.order.jobs["BRASS-BANGLE"],
        count=6,
        when="Jumatatu 2 Machi 14:00",
    )


async def test_with_nothing_passed_there_is_nothing_to_deliver(floor: Floor) -> None:
    await floor.allocation("HORN-PENDANT", floor.factory.wanjiru, 10)
    await floor.wanjiru.send("hi")
    assert await floor.wanjiru.say("4") == t("en", "artisan.nothing_to_deliver")


async def test_earnings_show_the_last_payouts_from_m_pesa(floor: Floor) -> None:
    await floor.passed_pieces("HORN-PENDANT", floor.factory.wanjiru, 10)
    await floor.wanjiru.send("hi")
    for answer in ("4", "1", "All 10", "1"):
        await floor.wanjiru.send(answer)
    [delivery] = await _deliveries(floor)
    assert delivery.id is not None
    await floor.receive(delivery.id, 10)

    now = floor.clock.now()
    batch = await floor.act(lambda s: payouts.create_payout_batch(s, minimum_cents=100, now=now))
    assert batch is not None
    assert batch.id is not None
    batch_id = batch.id
    await floor.act(
        lambda s: payouts.approve_batch(s, batch_id=batch_id, admin_id=floor.factory.admin, now=now)
    )
    async with floor.store.transaction() as session:
        [payout] = (await session.exec(select(Payout))).all()
    key = payout.originator_conversation_id
    await floor.act(lambda s: payouts.mark_sending(s, originator_conversation_id=key, now=now))
    await floor.act(
        lambda s: payouts.settle_success(
            s, originator_conversation_id=key, mpesa_receipt="QKX12AB", now=now
        )
    )

    await floor.wanjiru.send("menu")
    [earnings] = await floor.wanjiru.send("5")
    assert "Paid to your M-Pesa: KES 1,500" in earnings.text
    assert "Waiting for the next payout: KES 0" in earnings.text
    assert t(
        "en", "artisan.payout_line", date="Monday 2 March", amount="KES 1,500", receipt="QKX12AB"
    ) in (earnings.text)
