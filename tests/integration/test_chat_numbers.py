"""Numbers typed in chat are read one way in every flow (domain/numbers.py), through the engine:
signed, fractional and exponent forms are refused with the flow's own hint, thousands
separators are the same number, and nothing a person types can crash a step."""

from __future__ import annotations

import pytest
from sqlmodel import select

from conversations.i18n import t
from conversations.messages import MediaItem
from domain.model import Delivery, Offer, OfferStatus, Submission
from tests.integration.factory_fixtures import Floor

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
