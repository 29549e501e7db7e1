"""Deliveries counted in at the central workshop, end to end through the engine."""

from __future__ import annotations

import logging

import pytest
from sqlmodel import select

from conversations.i18n import t
from domain.model import Delivery, DeliveryStatus, OutboxKind, Transfer
from domain.store import Store
from tests.conftest import FakeClock
from tests.integration.conversation_driver import outbox, state_of
from tests.integration.factory_fixtures import Floor, open_floor


@pytest.fixture
async def floor(store: Store, clock: FakeClock) -> Floor:
    """Three bangles on the order, so receiving all three readies their line for assembly."""
    return await open_floor(store, clock, lines={"NECKLACE-HORN": 10, "BANGLE-BRASS": 3})


async def passed_and_arranged(
    floor: Floor, *, artisan_id: int, code: str, quantity: int
) -> tuple[int, int]:
    """Pieces made, passed by the far agent and booked for drop-off tomorrow: (allocation,
    delivery)."""
    allocation_id = await floor.allocation(code, artisan_id, quantity)
    submission_id = await floor.submitted(allocation_id, artisan_id, quantity)
    await floor.review(submission_id, quantity, reviewer=floor.factory.far_agent)
    return allocation_id, await floor.drop_off(allocation_id, artisan_id, quantity)


async def _delivery(floor: Floor, delivery_id: int) -> Delivery:
    async with floor.store.transaction() as session:
        delivery = await session.get(Delivery, delivery_id)
        assert delivery is not None
        return delivery


async def _earnings(floor: Floor, delivery_id: int) -> list[Transfer]:
    async with floor.store.transaction() as session:
        rows = await session.exec(
            select(Transfer).where(Transfer.reference == f"delivery:{delivery_id}")
        )
        return list(rows)


async def test_an_agent_picks_a_delivery_from_the_menu_and_records_a_shortfall_with_a_note(
    floor: Floor,
) -> None:
    _, delivery_id = await passed_and_arranged(
        floor, artisan_id=floor.factory.wanjiru, code="HORN-PENDANT", quantity=10
    )
    agent = floor.agent
    [menu] = await agent.send("menu")
    assert t("en", "menu.item.receipt") in [c.label for c in menu.choices]
    [pick] = await agent.send(payload="menu:receipt")
    assert pick.text == t("en", "agent.receipt.ask_delivery")
    assert [c.payload for c in pick.choices] == [f"rcpt:{delivery_id}"]
    assert f"#{delivery_id} “Wanjiru”: 10 × Carved horn pendant" in pick.choices[0].label

    [count] = await agent.send("1")
    assert "How many pieces arrived?" in count.text
    assert "drop-off" in count.text
    assert t("en", "agent.receipt.count_invalid", max=100_000) in await agent.say("lots")
    # "1" is one piece, never the first option ("All 10 arrived"): the mismatch is queried.
    assert "You counted 1, but 10 were declared" in await agent.say("1")
    await agent.send("back")
    assert "You counted 8, but 10 were declared" in await agent.say("8")
    artisan_address = floor.wanjiru.address
    before = await outbox(floor.store, address=artisan_address, kind=OutboxKind.BUSINESS)
    said = await agent.say("Two cracked on the matatu")

    assert "declared 10 × Carved horn pendant, 8 counted in" in said
    assert "KES 1,200" in said  # 8 pieces at KES 150
    delivery = await _delivery(floor, delivery_id)
    assert delivery.status is DeliveryStatus.RECEIVED
    assert (delivery.received_quantity, delivery.received_by) == (8, floor.factory.agent)
    assert delivery.discrepancy_note == "declared 10, received 8: Two cracked on the matatu"
    [earning] = await _earnings(floor, delivery_id)
    assert earning.amount_cents == 8 * 15_000

    # The admins hear of the discrepancy; the agent who counted was told in their own chat.
    [notice] = await outbox(floor.store, address=floor.admin.address, kind=OutboxKind.BUSINESS)
    assert f"Delivery #{delivery_id} from “Wanjiru” (“Kibera”) differs" in notice.body
    assert "counted in by Kamau" in notice.body
    assert "Note: “Two cracked on the matatu”" in notice.body
    agent_notices = await outbox(floor.store, address=floor.agent.address, kind=OutboxKind.BUSINESS)
    assert not [m for m in agent_notices if "differs" in m.body]
    # ...and the artisan's side is told too (by the artisan notices, chained with ours).
    after = await outbox(floor.store, address=artisan_address, kind=OutboxKind.BUSINESS)
    assert len(after) > len(before)


async def test_an_admin_counts_a_whole_delivery_in_by_its_id_and_hears_assembly_can_start(
    floor: Floor,
) -> None:
    _, delivery_id = await passed_and_arranged(
        floor, artisan_id=floor.factory.otieno, code="BRASS-BANGLE", quantity=3
    )
    admin = floor.admin
    [count] = await admin.send(f"/receipt {delivery_id}")
    assert count.choices[0].label == "All 3 arrived"
    said = await admin.say(payload="rcpt:all")
    assert f"delivery #{delivery_id}, 3 × Brass bangle from “Otieno”" in said
    assert "KES 900" in said
    delivery = await _delivery(floor, delivery_id)
    assert (delivery.received_quantity, delivery.discrepancy_note) == (3, None)
    # The bangle has one component, now all in: the order line is ready for assembly.
    notices = await outbox(floor.store, address=floor.admin.address, kind=OutboxKind.BUSINESS)
    assert any("Ready for assembly" in m.body and "Brass bangle" in m.body for m in notices)
    assert not any("differs" in m.body for m in notices)


async def test_a_delivery_already_counted_in_cannot_be_counted_again(floor: Floor) -> None:
    _, delivery_id = await passed_and_arranged(
        floor, artisan_id=floor.factory.wanjiru, code="HORN-PENDANT", quantity=4
    )
    agent = floor.agent
    await agent.send(f"/receipt {delivery_id}")
    await agent.send("4")
    assert t("en", "agent.receipt.not_arranged", id=delivery_id) in await agent.say(
        f"/receipt {delivery_id}"
    )
    assert t("en", "agent.receipt.none_arranged") in await agent.say("/receipt")
    assert len(await _earnings(floor, delivery_id)) == 1


async def test_bad_receipt_commands_get_a_helpful_reply(floor: Floor) -> None:
    agent = floor.agent
    assert t("en", "agent.receipt.usage") in await agent.say("/receipt seven")
    assert t("en", "agent.receipt.not_found", id=77) in await agent.say("/receipt 77")


async def test_an_artisan_cannot_record_a_receipt(
    floor: Floor, caplog: pytest.LogCaptureFixture
) -> None:
    _, delivery_id = await passed_and_arranged(
        floor, artisan_id=floor.factory.wanjiru, code="HORN-PENDANT", quantity=2
    )
    wanjiru = floor.wanjiru
    with caplog.at_level(logging.WARNING):
        assert t("en", "command.forbidden") in await wanjiru.say(f"/receipt {delivery_id}")
        assert t("en", "command.forbidden") in await wanjiru.say(payload=f"receipt:{delivery_id}")
    assert caplog.text.count("refused /receipt") == 2
    assert (await _delivery(floor, delivery_id)).status is DeliveryStatus.ARRANGED
    state = await state_of(floor.store, wanjiru)
    assert state is None or state.flow != "receipt"


async def test_receipts_speak_kiswahili(floor: Floor) -> None:
    _, delivery_id = await passed_and_arranged(
        floor, artisan_id=floor.factory.wanjiru, code="HORN-PENDANT", quantity=5
    )
    agent = floor.agent
    await agent.send("lugha sw")
    [count] = await agent.send(f"/receipt {delivery_id}")
    assert "Vipande vingapi vimefika?" in count.text
    assert "Umehesabu 6, lakini vilitajwa 5" in await agent.say("6")
    said = await agent.say(payload="rcpt:nonote")
    assert "Imepokelewa na tofauti" in said
    delivery = await _delivery(floor, delivery_id)
    assert delivery.discrepancy_note == "declared 5, received 6"
