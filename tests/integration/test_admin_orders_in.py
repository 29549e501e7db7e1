"""Orders coming in from admins: the guided /neworder, and a CSV file sent with /import_orders."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlmodel import col, select

from conversations.admin.flows.new_order import NAME as NEW_ORDER
from conversations.engine import Engine
from conversations.i18n import t
from conversations.messages import MediaItem
from conversations.ports import DocumentUnreadable
from conversations.registry import REGISTRY
from domain.model import Channel, Customer, CustomerKind, Order, OrderLine, OrderStatus, Role
from domain.store import Store
from tests.conftest import FakeClock
from tests.integration.conversation_driver import Chat, add_staff, seed_catalogue, state_of

ADMIN = "tg:admin-amina"


@dataclass
class FolderDocuments:
    """A media store on disk: a document's ref is its file name in the folder."""

    folder: Path

    async def read_text(self, ref: str) -> str:
        path = self.folder / ref
        if not path.is_file():
            raise DocumentUnreadable(f"{ref} is not in the media store")
        return path.read_text(encoding="utf-8")


@pytest.fixture
def media(tmp_path: Path) -> Path:
    folder = tmp_path / "media"
    folder.mkdir()
    return folder


@pytest.fixture
async def admin(store: Store, clock: FakeClock, media: Path) -> Chat:
    await seed_catalogue(store)
    await add_staff(store, clock, name="Amina", address=ADMIN, role=Role.ADMIN)
    engine = Engine(store, registry=REGISTRY, documents=FolderDocuments(media))
    return Chat(engine, clock, address=ADMIN, channel=Channel.TELEGRAM)


async def _orders(store: Store) -> list[tuple[str, str, OrderStatus, list[tuple[int, int]]]]:
    async with store.transaction() as session:
        rows = await session.exec(
            select(Order, Customer)
            .join(Customer, col(Customer.id) == col(Order.customer_id))
            .order_by(col(Order.id))
        )
        found = []
        for order, customer in rows:
            lines = await session.exec(
                select(OrderLine.quantity, OrderLine.unit_price_cents).where(
                    OrderLine.order_id == order.id
                )
            )
            found.append((customer.name, order.reference, order.status, list(lines)))
        return found


# --- /neworder ------------------------------------------------------------------------------


async def test_neworder_walks_an_admin_through_a_new_customers_draft_order(
    admin: Chat, store: Store
) -> None:
    first = await admin.send("/neworder")
    assert first[-1].text == t("en", "neworder.ask_customer")
    assert [c.label for c in first[-1].choices] == [t("en", "neworder.new_customer")]
    assert await admin.say("1") == t("en", "neworder.ask_new_customer")
    assert await admin.say("Zuri Boutique") == t(
        "en", "neworder.ask_kind", customer="Zuri Boutique"
    )
    assert await admin.say("Retailer") == t(
        "en", "neworder.ask_reference", customer="Zuri Boutique"
    )
    assert (await admin.say("PO-77")).startswith("When is it due?")
    assert await admin.say("31/02/2026") == t(
        "en", "neworder.due_invalid", example="30/03/2026", example_words="30 March"
    )
    assert await admin.say("01/03/2026") == t(
        "en", "neworder.due_past", due="Sunday 1 March", today="Monday 2 March"
    )
    lines_prompt = await admin.say("20/03/2026")
    assert "NECK-1 – Necklace" in lines_prompt
    assert await admin.say("done") == t("en", "neworder.lines_empty")
    assert await admin.say("RING-9 x 4") == t("en", "neworder.sku_unknown", sku="RING-9")
    assert await admin.say("a lot please") == t(
        "en", "neworder.line_invalid", example="NECK-1 x 10"
    )
    assert "• NECK-1 × 40" in await admin.say("neck-1 x 40")
    summary = await admin.say("Done")
    assert "Customer: Zuri Boutique (retailer)" in summary
    assert "• NECK-1 Necklace × 40 at KES 900 = KES 36,000" in summary
    assert "Total: KES 36,000" in summary
    assert await _orders(store) == []  # nothing written before "create"

    created = await admin.say("1")
    [(customer, reference, status, lines)] = await _orders(store)
    assert (customer, reference, status, lines) == (
        "Zuri Boutique",
        "PO-77",
        OrderStatus.DRAFT,
        [(40, 90_000)],  # wholesale price for a retailer
    )
    async with store.transaction() as session:
        order_id = (await session.exec(select(Order.id))).one()
    assert created == t("en", "neworder.created", id=order_id)
    conversation = await state_of(store, admin)
    assert conversation is not None
    assert conversation.flow == "idle"


async def test_neworder_for_a_known_customer_refuses_a_reference_they_used(
    admin: Chat, store: Store, clock: FakeClock
) -> None:
    async with store.transaction() as session:
        session.add(Customer(name="Kazuri Shop", kind=CustomerKind.WEB_SHOP))
    await admin.say("/neworder")
    await admin.say("Kazuri Shop")
    await admin.say("WEB-1")
    await admin.say("2026-04-01")
    await admin.say("NECK-1 2")
    await admin.say("done")
    await admin.say("yes")
    await admin.say("/neworder")
    await admin.say("kazuri shop")  # the name typed, any case
    assert await admin.say("WEB-1") == t("en", "neworder.reference_taken", reference="WEB-1", id=1)
    [(customer, _, _, lines)] = await _orders(store)
    assert (customer, lines) == ("Kazuri Shop", [(2, 150_000)])  # retail price for the web shop
    conversation = await state_of(store, admin)
    assert conversation is not None
    assert (conversation.flow, conversation.step) == (NEW_ORDER, "reference")


async def test_neworder_can_be_started_again_from_the_summary(admin: Chat, store: Store) -> None:
    await admin.say("/neworder")
    await admin.say("Zuri Boutique")  # a new name typed straight away
    await admin.say("Web shop")
    await admin.say("Z-1")
    await admin.say("20/3")
    await admin.say("NECK-1 x 3, NECK-1 x 5")  # the same SKU again replaces the quantity
    summary = await admin.say("done")
    assert "NECK-1 Necklace × 5" in summary
    assert (await admin.say("Start again")).startswith(t("en", "neworder.ask_customer"))
    assert await _orders(store) == []


# --- /import_orders -------------------------------------------------------------------------

GOOD_CSV = """customer,customer_kind,reference,due_date,sku,quantity
Maridadi Crafts,retailer,PO-100,2026-04-10,NECK-1,40
Zuri Web,web_shop,W-7,2026-04-12,NECK-1,3
"""

BAD_CSV = """customer,customer_kind,reference,due_date,sku,quantity
Maridadi Crafts,retailer,PO-100,2026-04-10,NECK-1,40
Maridadi Crafts,retailer,PO-101,2026-02-01,NECK-1,5
Zuri Web,web_shop,W-7,2026-04-12,RING-9,3
"""


def _document(folder: Path, name: str, text: str) -> MediaItem:
    (folder / name).write_text(text, encoding="utf-8")
    return MediaItem("text/csv", len(text.encode()), name)


async def test_an_attached_orders_csv_is_imported_as_drafts(
    admin: Chat, store: Store, media: Path
) -> None:
    document = _document(media, "orders-1.csv", GOOD_CSV)
    text = await admin.say("/import_orders", media=(document,))
    assert text.startswith(t("en", "admin.imported", count=2, pieces=43))
    assert "“Maridadi Crafts” · “PO-100”" in text
    assert await _orders(store) == [
        ("Maridadi Crafts", "PO-100", OrderStatus.DRAFT, [(40, 90_000)]),
        ("Zuri Web", "W-7", OrderStatus.DRAFT, [(3, 150_000)]),
    ]


async def test_a_csv_with_bad_lines_is_refused_whole_naming_every_bad_line(
    admin: Chat, store: Store, media: Path
) -> None:
    document = _document(media, "orders-2.csv", BAD_CSV)
    text = await admin.say("/import_orders", media=(document,))
    assert text.startswith(t("en", "admin.import_rejected", count=2))
    assert "line 3, due_date: the due date, Sunday 1 February, has already passed" in text
    assert "line 4, sku: there is no product with SKU RING-9" in text
    assert "line 2" not in text
    assert await _orders(store) == []  # not even the good line


async def test_a_csv_with_quantities_beyond_the_most_a_line_may_have_is_refused_line_by_line(
    admin: Chat, store: Store, media: Path
) -> None:
    huge = (
        "customer,customer_kind,reference,due_date,sku,quantity\n"
        "Maridadi Crafts,retailer,PO-100,2026-04-10,NECK-1,40\n"
        "Maridadi Crafts,retailer,PO-101,2026-04-10,NECK-1,99999999999999999999\n"
        "Zuri Web,web_shop,W-7,2026-04-12,NECK-1,1000000000000\n"
    )
    document = _document(media, "orders-huge.csv", huge)

    text = await admin.say("/import_orders", media=(document,))

    assert text.startswith(t("en", "admin.import_rejected", count=2))
    assert "line 3, quantity: 99999999999999999999 is more than 100,000, the most allowed" in text
    assert "line 4, quantity: 1000000000000 is more than 100,000, the most allowed" in text
    assert await _orders(store) == []


async def test_neworder_refuses_a_quantity_beyond_the_most_a_line_may_have(admin: Chat) -> None:
    await admin.say("/neworder")
    await admin.say("1")
    await admin.say("Zuri Boutique")
    await admin.say("Retailer")
    await admin.say("PO-77")
    await admin.say("20/03/2026")

    for typed in ("NECK-1 x 100001", "NECK-1 x 99999999999999999999"):
        assert await admin.say(typed) == t("en", "neworder.quantity_invalid", max=100_000)
    assert await admin.say("NECK-1 x -5") == t("en", "neworder.line_invalid", example="NECK-1 x 10")
    assert "• NECK-1 × 100000" in await admin.say("NECK-1 x 100000")


async def test_importing_the_same_file_twice_refuses_the_orders_already_there(
    admin: Chat, store: Store, media: Path
) -> None:
    document = _document(media, "orders-3.csv", GOOD_CSV)
    await admin.say("/import_orders", media=(document,))
    again = await admin.say("/import_orders", media=(document,))
    assert "line 2, reference: Maridadi Crafts already has an order with reference PO-100" in again
    assert len(await _orders(store)) == 2


async def test_a_missing_or_oversized_document_gets_a_polite_reply(
    admin: Chat, media: Path, store: Store, clock: FakeClock
) -> None:
    gone = MediaItem("text/csv", 120, "never-stored.csv")
    assert await admin.say("/import_orders", media=(gone,)) == t("en", "admin.import_unreadable")
    huge = MediaItem("text/csv", 5_000_000, "huge.csv")
    assert await admin.say("/import_orders", media=(huge,)) == t(
        "en", "admin.import_too_big", max_kb=1000
    )
    unwired = Chat(
        Engine(store, registry=REGISTRY),
        clock,
        address=ADMIN,
        channel=Channel.TELEGRAM,
    )
    assert await unwired.say("/import_orders", media=(gone,)) == t(
        "en", "admin.import_not_configured"
    )
