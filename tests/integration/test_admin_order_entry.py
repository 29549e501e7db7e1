"""Admins entering orders in chat: valid examples, dates as people type them, a Confirm button
under a new draft, "Confirm all N" under imported ones, a hint for a CSV sent without its
caption, and "I didn't understand" at the summary. Through the engine, in English and Kiswahili.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlmodel import col, select

from conversations.engine import Engine
from conversations.i18n import t
from conversations.messages import MediaItem, Reply
from conversations.registry import REGISTRY
from domain.model import Channel, Language, Order, OrderStatus, Role
from domain.store import Store
from tests.conftest import FakeClock
from tests.integration.conversation_driver import Chat, add_staff, seed_catalogue, state_of
from tests.integration.factory_fixtures import Floor

ADMIN = "tg:admin-zawadi"
CSV = """customer,customer_kind,reference,due_date,sku,quantity
Maridadi Crafts,retailer,PO-100,2026-04-10,NECK-1,40
Zuri Web,web_shop,W-7,2026-04-12,NECK-1,3
"""


@dataclass
class FolderDocuments:
    folder: Path

    async def read_text(self, ref: str) -> str:
        return (self.folder / ref).read_text(encoding="utf-8")


def _engine(store: Store, tmp_path: Path) -> Engine:
    return Engine(store, registry=REGISTRY, documents=FolderDocuments(tmp_path))


async def _admin(store: Store, clock: FakeClock, tmp_path: Path, language: Language) -> Chat:
    await seed_catalogue(store)
    await add_staff(store, clock, name="Zawadi", address=ADMIN, role=Role.ADMIN, language=language)
    return Chat(_engine(store, tmp_path), clock, address=ADMIN, channel=Channel.TELEGRAM)


@pytest.fixture
async def admin(store: Store, clock: FakeClock, tmp_path: Path) -> Chat:
    return await _admin(store, clock, tmp_path, Language.EN)


@pytest.fixture
async def msimamizi(store: Store, clock: FakeClock, tmp_path: Path) -> Chat:
    return await _admin(store, clock, tmp_path, Language.SW)


async def _statuses(store: Store) -> list[OrderStatus]:
    async with store.transaction() as session:
        return [order.status for order in await session.exec(select(Order).order_by(col(Order.id)))]


async def _to_the_summary(chat: Chat, due: str) -> str:
    await chat.say("/neworder")
    await chat.say("Zuri Boutique")
    await chat.say("1")  # retailer
    await chat.say("PO-9")
    lines = await chat.say(due)
    assert "NECK-1" in lines
    await chat.say("NECK-1 x 4")
    return await chat.say("done")


async def test_neworder_examples_are_valid_and_15_jan_is_the_next_one(
    admin: Chat, store: Store
) -> None:
    # Today is 02/03/2026: the example is four weeks on, in figures and words.
    await admin.say("/neworder")
    await admin.say("Zuri Boutique")
    await admin.say("1")
    asked = await admin.say("PO-9")
    assert asked == t(
        "en",
        "neworder.ask_due",
        example="30/03/2026",
        example_words="30 March",
        today="Monday 2 March",
    )
    lines = await admin.say("15 Jan")  # January has passed this year: next January
    assert t("en", "neworder.ask_lines", products="• NECK-1 – Necklace", example="NECK-1 x 10") == (
        lines
    )
    await admin.say("NECK-1 x 4")
    summary = await admin.say("done")
    assert "Friday 15 January 2027" in summary


async def test_a_new_draft_comes_with_a_confirm_button_that_confirms_it(
    admin: Chat, store: Store
) -> None:
    await _to_the_summary(admin, "15/1")
    # Words that answer nothing: "I didn't understand" with the choices again; a number
    # outside the list: which numbers there are.
    [unclear] = await admin.send("maybe later")
    assert unclear.text == t("en", "engine.didnt_understand", text="“maybe later”")
    assert len(unclear.choices) == 2
    assert await admin.say("7") == t("en", "engine.choose_one", count=2)
    [created] = await admin.send("1")
    assert created.text == t("en", "neworder.created", id=1)
    assert [(c.payload, c.label) for c in created.choices] == [
        ("confirm:1", t("en", "neworder.confirm_button", id=1))
    ]
    [confirmed] = await admin.send(payload="confirm:1")
    assert confirmed.text.startswith("Order #1 is confirmed")
    assert await _statuses(store) == [OrderStatus.CONFIRMED]


async def test_kiswahili_dates_and_the_summary_not_understood(
    msimamizi: Chat, store: Store
) -> None:
    summary = await _to_the_summary(msimamizi, "15 Januari")
    assert "Ijumaa 15 Januari 2027" in summary
    [unclear] = await msimamizi.send("labda")
    assert unclear.text == t("sw", "engine.didnt_understand", text="“labda”")
    conversation = await state_of(store, msimamizi)
    assert conversation is not None
    assert conversation.step == "confirm"
    [created] = await msimamizi.send("ndiyo")
    assert created.choices[0].label == "Thibitisha oda #1"


async def test_imported_orders_are_confirmed_together_with_one_button(
    admin: Chat, store: Store, tmp_path: Path
) -> None:
    (tmp_path / "orders.csv").write_text(CSV, encoding="utf-8")
    document = MediaItem("text/csv", len(CSV), "orders.csv")
    replies = await admin.send("/import_orders", media=(document,))
    last: Reply = replies[-1]
    assert t("en", "admin.imported_hint", count=2) in last.text
    assert [(c.payload, c.label) for c in last.choices] == [("confirm:1-2", "Confirm all 2")]
    done = await admin.say(payload="confirm:1-2")
    assert done.startswith(t("en", "admin.confirmed_several", confirmed=2, count=2, jobs=6))
    assert await _statuses(store) == [OrderStatus.CONFIRMED, OrderStatus.CONFIRMED]
    # Pressed again: each order says why it cannot be confirmed twice; nothing changes.
    again = await admin.say(payload="confirm:1-2")
    assert again.startswith(t("en", "admin.confirmed_several", confirmed=0, count=2, jobs=0))
    assert "Order #2 is confirmed; only a draft order can be confirmed." in again


async def test_a_csv_without_its_caption_gets_the_caption_to_use(
    admin: Chat, store: Store, tmp_path: Path
) -> None:
    (tmp_path / "orders.csv").write_text(CSV, encoding="utf-8")
    document = MediaItem("text/csv", len(CSV), "orders.csv")
    [hint, menu] = await admin.send(media=(document,))
    assert hint.text == t("en", "admin.csv_without_caption")
    assert menu.text.startswith(t("en", "menu.title", name="Zawadi")[:10])
    # In the middle of a question, the question is asked again after the hint.
    await admin.say("/neworder")
    [hint, question] = await admin.send("import these", media=(document,))
    assert hint.text == t("en", "admin.csv_without_caption")
    assert question.text == t("en", "neworder.ask_customer")
    assert await _statuses(store) == []


async def test_kiswahili_csv_hint_and_no_terminal_command_when_files_are_not_set_up(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    await seed_catalogue(store)
    await add_staff(
        store, clock, name="Baraka", address=ADMIN, role=Role.ADMIN, language=Language.SW
    )
    chat = Chat(Engine(store, registry=REGISTRY), clock, address=ADMIN, channel=Channel.TELEGRAM)
    document = MediaItem("text/comma-separated-values", 120, "x-1")
    assert (await chat.send(media=(document,)))[0].text == t("sw", "admin.csv_without_caption")
    refused = await chat.say("/import_orders", media=(document,))
    assert refused == t("sw", "admin.import_not_configured")
    assert "`" not in refused
    assert "orders import" not in refused


async def test_an_unclear_qc_verdict_says_so_in_kiswahili(floor: Floor) -> None:
    allocation = await floor.allocation("HORN-PENDANT", floor.factory.wanjiru, 5)
    await floor.submitted(allocation, floor.factory.wanjiru, 5)
    await floor.agent.say("lugha sw")
    await floor.agent.say("/qc")
    [unclear] = await floor.agent.send("labda kesho")
    assert unclear.text == t("sw", "engine.didnt_understand", text="“labda kesho”")
    assert len(unclear.choices) == 4
