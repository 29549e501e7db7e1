"""Numbers typed in chat are read one way in every flow (domain/numbers.py), through the engine:
signed, fractional and exponent forms are refused with the flow's own hint, thousands
separators are the same number, and nothing a person types can crash a step."""

from __future__ import annotations

import pytest
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations.admin.shipping import UNTRACKED
from conversations.engine import Engine
from conversations.i18n import t
from conversations.messages import MediaItem, Reply
from conversations.outbox import notify_person
from conversations.ports import AdminPolicy
from conversations.registry import REGISTRY
from domain.model import (
    Channel,
    Delivery,
    Language,
    Offer,
    OfferStatus,
    Order,
    OrderStatus,
    PayoutBatch,
    PayoutBatchStatus,
    Person,
    Submission,
)
from domain.payouts import create_payout_batch
from domain.services.people import set_language
from domain.store import Store
from domain.text import quoted
from tests.conftest import FakeClock
from tests.integration.conversation_driver import Chat
from tests.integration.factory_fixtures import Floor, open_floor, payloads
from tests.integration.mpesa_harness import owed_artisans
from tests.integration.payout_chat import mpesa_said_float

PHOTO = MediaItem("image/jpeg", 50_001, "media/wa/count-1.jpg")
NOT_COUNTS = ["-5", "−3", "- 2", "+4", "2.5", "2,5", "1e3", "99999999999999999999"]


async def _rows(floor: Floor, model: type[Submission] | type[Delivery]) -> list[object]:
    async with floor.store.transaction() as session:
        return list((await session.exec(select(model))).all())


@pytest.mark.parametrize("typed", NOT_COUNTS)
async def test_a_submitted_count_that_is_not_a_plain_number_gets_the_count_hint(
    floor: Floor, typed: str
) -> None:
    await floor.allocation("HORN-PENDANT", floor.factory.wanjiru, 10)
    await floor.wanjiru.send("hi")
    await floor.wanjiru.send("Submit finished work")
    await floor.wanjiru.send(media=(PHOTO,))
    await floor.wanjiru.send("done")

    assert await floor.wanjiru.say(typed) == t("en", "artisan.count_invalid", max=10)
    assert await _rows(floor, Submission) == []


@pytest.mark.parametrize("typed", NOT_COUNTS)
async def test_a_delivery_count_that_is_not_a_plain_number_gets_the_count_hint(
    floor: Floor, typed: str
) -> None:
    await floor.passed_pieces("HORN-PENDANT", floor.factory.wanjiru, 10)
    await floor.wanjiru.send("hi")
    await floor.wanjiru.send("Arrange a delivery")
    await floor.wanjiru.send("1")

    assert await floor.wanjiru.say(typed) == t("en", "artisan.delivery_count_invalid", max=10)
    assert await _rows(floor, Delivery) == []


@pytest.mark.parametrize("typed", ["-1", "2.5", "1e1", "ten"])
async def test_a_qc_count_that_is_not_a_plain_number_gets_the_qc_hint(
    floor: Floor, typed: str
) -> None:
    allocation = await floor.allocation("HORN-PENDANT", floor.factory.wanjiru, 10)
    await floor.submitted(allocation, floor.factory.wanjiru, 10)
    await floor.agent.send("/qc")
    await floor.agent.send("2")  # approve some

    assert t("en", "agent.qc.passed_invalid", count=10) in await floor.agent.say(typed)


async def test_a_receipt_count_of_one_with_a_full_stop_is_one_piece_not_the_first_option(
    floor: Floor,
) -> None:
    allocation = await floor.passed_pieces("HORN-PENDANT", floor.factory.wanjiru, 10)
    delivery_id = await floor.drop_off(allocation, floor.factory.wanjiru, 10)
    await floor.agent.send(f"/receipt {delivery_id}")

    # "1." once picked option 1, "All 10 arrived": a typed number is always a count.
    assert "You counted 1, but 10 were declared" in await floor.agent.say("1.")


@pytest.mark.parametrize("typed", ["-1", "−1", "1e2", "100001"])
async def test_a_receipt_count_that_is_not_a_count_of_pieces_gets_the_receipt_hint(
    floor: Floor, typed: str
) -> None:
    allocation = await floor.passed_pieces("HORN-PENDANT", floor.factory.wanjiru, 10)
    delivery_id = await floor.drop_off(allocation, floor.factory.wanjiru, 10)
    await floor.agent.send(f"/receipt {delivery_id}")

    assert t("en", "agent.receipt.count_invalid", max=100_000) in await floor.agent.say(typed)


@pytest.mark.parametrize("typed", ["²", "١", "５"])
async def test_a_digit_of_another_kind_typed_for_an_option_gets_the_hint_not_an_error(
    floor: Floor, typed: str
) -> None:
    offer_id = await floor.offer("HORN-PENDANT", floor.factory.wanjiru, 10)
    [asked] = await floor.wanjiru.send(f"DECLINE {offer_id}")
    assert asked.choices  # the reasons, as numbered options

    said = await floor.wanjiru.say(typed)

    assert said == t("en", "artisan.decline_reason_invalid", count=len(asked.choices))
    async with floor.store.transaction() as session:
        offer = await session.get(Offer, offer_id)
    assert offer is not None
    assert offer.status is OfferStatus.OPEN


# --- a typed number answers only the newest message (conversations/numbered.py) --------------


async def _ready_to_ship(store: Store, clock: FakeClock, language: Language = Language.EN) -> Floor:
    """Three bangles' pieces passed and counted in; Kamau, at the workshop, assembles them, so
    the admin hears the order is ready, with its Ship button, on her newest message."""
    floor = await open_floor(store, clock, lines={"BANGLE-BRASS": 3})
    await floor.act(lambda s: set_language(s, person_id=floor.factory.admin, language=language))
    await floor.admin.say(f"/workshop {floor.factory.agent} on")
    otieno = floor.factory.otieno
    allocation = await floor.passed_pieces("BRASS-BANGLE", otieno, 3)
    await floor.receive(await floor.drop_off(allocation, otieno, 3), 3)
    await floor.agent.say(f"/assemble {floor.order.lines['BANGLE-BRASS']}")
    [*_, ready] = await floor.told(floor.admin)
    assert payloads(ready) == [f"shipping:{floor.order.order_id}"]
    return floor


async def _order_status(floor: Floor) -> OrderStatus:
    async with floor.store.read() as session:
        order = await session.get(Order, floor.order.order_id)
        assert order is not None
        return order.status


async def test_a_stray_number_after_other_messages_does_not_ship_the_older_ready_order(
    store: Store, clock: FakeClock
) -> None:
    floor = await _ready_to_ship(store, clock)
    assert await floor.admin.say("/assembly") == t("en", "assembly.none_ready")  # said since

    unsure, menu = await floor.admin.send("1")

    assert unsure.text == t("en", "polish.number_stale", text="“1”")
    assert menu.text.startswith(t("en", "menu.title", name="Achieng"))
    assert await _order_status(floor) is OrderStatus.READY
    # The notice's own button still works: a pressed button carries what it does (it asks for
    # the carrier and tracking first: conversations/admin/shipping.py).
    await floor.admin.send(payload=f"shipping:{floor.order.order_id}")
    shipped = await floor.admin.say(payload=UNTRACKED)
    assert shipped == t("en", "admin.shipped", id=floor.order.order_id)
    assert await _order_status(floor) is OrderStatus.SHIPPED


async def test_a_number_answering_the_newest_message_ships_it_in_kiswahili(
    store: Store, clock: FakeClock
) -> None:
    floor = await _ready_to_ship(store, clock, Language.SW)

    chose, asked = await floor.admin.send("1")  # the ready notice is her newest message

    assert chose.text.startswith("Umechagua “" + t("sw", "assembly.notice.ship_button") + "”")
    reference = quoted(floor.order.reference)
    assert asked.text == t("sw", "shipping.ask_carrier", id=floor.order.order_id, order=reference)
    shipped = await floor.admin.say("G4S 12345")
    assert shipped.startswith(t("sw", "admin.shipped", id=floor.order.order_id))
    assert await _order_status(floor) is OrderStatus.SHIPPED


async def _offer_status(floor: Floor, offer_id: int) -> OfferStatus:
    async with floor.store.read() as session:
        offer = await session.get(Offer, offer_id)
        assert offer is not None
        return offer.status


async def _plain_notice(floor: Floor, person_id: int, text: str) -> None:
    async def tell(session: AsyncSession) -> None:
        person = await session.get(Person, person_id)
        assert person is not None
        await notify_person(session, person, Reply(text), now=floor.clock.now())

    await floor.act(tell)


async def test_a_question_answered_by_a_number_after_a_notice_is_asked_again_in_kiswahili(
    floor: Floor,
) -> None:
    offer_id = await floor.offer("HORN-PENDANT", floor.factory.otieno, 6)
    await floor.otieno.send("habari")
    [offers] = await floor.otieno.send(payload="menu:offers")
    assert payloads(offers) == ["pick:1"]
    await _plain_notice(floor, floor.factory.otieno, "Karakana itafungwa Jumamosi.")

    [again] = await floor.otieno.send("1")

    assert again.text == t("sw", "polish.number_stale_question", text="“1”")
    assert payloads(again) == ["pick:1"]  # the list again, newest now
    assert await _offer_status(floor, offer_id) is OfferStatus.OPEN
    picked = await floor.otieno.send("1")
    assert f"#{offer_id}" in picked[-1].text


async def test_a_number_after_a_notice_never_approves_a_payout_batch(
    store: Store, clock: FakeClock
) -> None:
    admin_id, _ = await owed_artisans(store, clock.now(), [150_000, 90_000])
    async with store.transaction() as session:
        batch = await create_payout_batch(session, minimum_cents=100, now=clock.now())
    assert batch is not None
    await mpesa_said_float(store, clock.now())
    engine = Engine(store, registry=REGISTRY, admin_policy=AdminPolicy())
    admin = Chat(engine, clock, address="tg-a", channel=Channel.TELEGRAM)
    [asked] = await admin.send("/approve_payouts")
    assert payloads(asked) == ["payapprove:yes", "payapprove:no"]
    async with store.transaction() as session:
        person = await session.get(Person, admin_id)
        assert person is not None
        await notify_person(session, person, Reply("Weekly report is ready."), now=clock.now())

    [unclear] = await admin.send("1")

    assert unclear.text == t("en", "polish.number_stale_question", text="“1”")
    assert payloads(unclear) == ["payapprove:yes", "payapprove:no"]  # asked again, newest
    async with store.read() as session:
        waiting = await session.get(PayoutBatch, batch.id)
        assert waiting is not None
        assert waiting.status is PayoutBatchStatus.AWAITING_APPROVAL
    approved = await admin.say("1")
    assert approved.startswith(f"Approved payout batch #{batch.id}")
