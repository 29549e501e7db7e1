"""What a tester read in the chat and asked to be said in the reader's own words (issue 16,
item 5), through the engine, in English and Kiswahili: products by their names per language,
pieces as "vipande", days and months written out, no setting names, page counts that add up."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlmodel import select

from conversations.i18n import t
from conversations.messages import Reply
from conversations.outbox import enqueue
from domain.csv_formats import CsvRejected
from domain.model import (
    Channel,
    Language,
    MaterialRequest,
    OutboxKind,
    OutboxMessage,
    OutboxStatus,
    Person,
)
from domain.services import dead_letters
from domain.services.names import apply_names, names_to_csv, parse_names_csv
from domain.store import Store
from tests.conftest import FakeClock
from tests.integration.factory_fixtures import Floor, open_floor
from tests.integration.test_assembly_chat import components_in

NAMES = """kind,code,name_en,name_sw
product,NECKLACE-HORN,Horn pendant necklace,Mkufu wa kidani cha pembe
material,glass beads,glass beads,shanga za kioo
"""


@pytest.fixture
async def floor(store: Store, clock: FakeClock) -> Floor:
    floor = await open_floor(store, clock)
    async with store.transaction() as session:
        await apply_names(session, parse_names_csv(NAMES))
    return floor


async def _speaks(floor: Floor, person_id: int, language: Language) -> None:
    async with floor.store.transaction() as session:
        person = (await session.exec(select(Person).where(Person.id == person_id))).one()
        person.language = language
        session.add(person)


@pytest.mark.parametrize(
    ("language", "name", "other", "today", "due"),
    [
        ("en", "Horn pendant necklace", "Mkufu", "Monday 2 March", "Monday 20 April"),
        (
            "sw",
            "Mkufu wa kidani cha pembe",
            "Horn pendant",
            "Jumatatu 2 Machi",
            "Jumatatu 20 Aprili",
        ),
    ],
)
async def test_an_admin_reads_products_and_days_in_their_language(
    floor: Floor, language: str, name: str, other: str, today: str, due: str
) -> None:
    await _speaks(floor, floor.factory.admin, Language(language))
    order = await floor.admin.say(f"/order {floor.order.order_id}")
    await floor.admin.say("/neworder")
    await floor.admin.say("Duka")
    await floor.admin.say("1")
    ask_due = await floor.admin.say("PO-9")
    ask_lines = await floor.admin.say("20/04/2026")
    await floor.admin.say("NECKLACE-HORN x 10")
    summary = await floor.admin.say("1")

    assert f"NECKLACE-HORN {name} × 10" in order
    assert f"NECKLACE-HORN – {name}" in ask_lines
    assert f"{name}" in summary
    assert other not in order + ask_lines + summary
    assert f"{today})" in ask_due  # "(today is Monday 2 March)"
    assert "02/03/2026" not in ask_due
    assert due in summary
    assert "20/04/2026" not in summary


async def test_pieces_are_vipande_to_a_kiswahili_artisan_and_days_are_written_out(
    floor: Floor,
) -> None:
    await floor.otieno.send("habari")
    await floor.otieno.send("Malighafi")
    await floor.otieno.send("2")  # ask for material
    await floor.otieno.send("shanga za kioo")
    asked = await floor.otieno.say("vipande 40")  # as Kiswahili says it: the unit first
    await floor.otieno.send("menyu")
    await floor.otieno.send("Malighafi")
    mine = await floor.otieno.say("3")

    async with floor.store.transaction() as session:
        [request] = (await session.exec(select(MaterialRequest))).all()
    assert (request.quantity, request.unit) == (Decimal("40"), "pcs")  # one unit for everyone
    assert asked == t(
        "sw",
        "artisan.materials_requested",
        material="shanga za kioo",
        quantity="40",
        unit="vipande",
    )
    assert "pcs" not in asked + mine
    assert "40 vipande za shanga za kioo, liliombwa Jumatatu 2 Machi" in mine
    assert "vipande 40" in t("sw", "artisan.materials_amount_invalid")
    english = t(
        "en", "artisan.materials_requested", material="glass beads", quantity="4", unit="pcs"
    )
    assert "4 pcs of glass beads" in english


@pytest.mark.parametrize("language", ["en", "sw"])
async def test_deadletters_tells_held_messages_from_those_we_gave_up_sending(
    floor: Floor, language: str
) -> None:
    await _speaks(floor, floor.factory.admin, Language(language))
    async with floor.store.transaction() as session:
        ids = []
        for status, code in (
            (OutboxStatus.DEAD, "63016"),
            (OutboxStatus.QUEUED, dead_letters.NO_SENDER),
            (OutboxStatus.QUEUED, dead_letters.NO_SENDER),
        ):
            message = await enqueue(
                session,
                channel=Channel.TELEGRAM,
                address="5550001",
                reply=Reply("Your offer: 40 beaded strands"),
                kind=OutboxKind.BUSINESS,
                now=floor.clock.now(),
                person_id=floor.factory.otieno,
            )
            message.status, message.error_code, message.attempts = status, code, 8
            ids.append(message.id)

    text = await floor.admin.say("/deadletters")

    assert text.startswith(t(language, "admin.deadletters_title", count=3))
    assert t(language, "plain.deadletters_failed", count=1) in text
    assert t(language, "admin.deadletters_held", count=2) in text
    why = t(language, "plain.held_no_channel", channel="Telegram")
    for held in ids[1:]:
        assert f"#{held} " in text
    assert text.count(f"({why})") == 2
    assert "no_channel" not in text


@pytest.mark.parametrize("language", ["en", "sw"])
def test_the_cancellation_notice_names_the_menu_item_that_really_exists(language: str) -> None:
    for count in (1, 3):
        notice = t(language, "artisan.job_cancelled_deliver", count=count)
        assert f"“{t(language, 'menu.item.delivery')}”" in notice


@pytest.mark.parametrize(
    ("language", "quantity", "example"), [("en", 10, "5"), ("sw", 10, "5"), ("sw", 1, "1")]
)
async def test_accepting_part_gives_an_example_inside_the_range(
    floor: Floor, language: str, quantity: int, example: str
) -> None:
    who = floor.factory.wanjiru if language == "en" else floor.factory.otieno
    chat = floor.wanjiru if language == "en" else floor.otieno
    offer_id = await floor.offer("HORN-PENDANT", who, quantity)
    asked = await chat.say(f"PART {offer_id}")
    again = await chat.say("lots")
    can = "I can do" if language == "en" else "naweza"
    assert f'"{can} {example}"' in asked
    assert f'"{can} {example}"' in again
    assert f'"{can} 20"' not in asked + again


async def test_channel_to_one_never_written_on_says_how_to_open_it_in_kiswahili(
    floor: Floor,
) -> None:
    said = await floor.otieno.say("/channel telegram")
    assert said == t("sw", "channel.not_on_own_telegram")
    assert "mtu huyo" not in said  # not about a third person


@pytest.mark.parametrize("language", ["en", "sw"])
def test_one_of_one_is_said_as_one(language: str) -> None:
    assert "1" in t(language, "engine.choose_one", count=1)
    assert t(language, "engine.choose_one", count=1) != t(language, "engine.choose_one", count=2)
    assert "2" in t(language, "engine.choose_one", count=2)
    for msgid in ("agent.qc.approve_all", "agent.receipt.all_arrived", "artisan.delivery_all"):
        one = t(language, msgid, count=1, artisan="Otieno")
        assert not one.startswith(("All", "Vyote")), one
    assert "job(s)" not in t("en", "admin.confirmed", id=3, jobs=4, count=4)
    assert "1 job " in t("en", "admin.confirmed", id=3, jobs=1, count=1)
    assert "(s)" not in t("en", "admin.broadcast_done", sent=1, skipped=0, count=1)
    assert "1 hadi 1" not in t("sw", "artisan.count_ask", max=1)
    assert "1 to 1" not in t("en", "artisan.delivery_how_many", max=1)
    assert "1 hadi 4" in t("sw", "artisan.count_ask", max=4)


async def test_a_product_is_named_by_its_sku_and_an_unknown_sku_is_refused(floor: Floor) -> None:
    async with floor.store.transaction() as session:
        exported = await names_to_csv(session)
        with pytest.raises(CsvRejected, match="unknown product 'RING-9'"):
            await apply_names(
                session, parse_names_csv("kind,code,name_en,name_sw\nproduct,RING-9,Ring,Pete\n")
            )
    assert "product,NECKLACE-HORN,Horn pendant necklace,Mkufu wa kidani cha pembe" in exported
    assert "product,EARRINGS-BEAD,Beaded earrings," in exported  # its own name, Kiswahili blank


async def test_assembly_and_the_components_in_notice_name_the_product_in_kiswahili(
    floor: Floor,
) -> None:
    await _speaks(floor, floor.factory.admin, Language.SW)
    await components_in(floor, "HORN-PENDANT", 10)
    await components_in(floor, "BRASS-HOOK", 20)  # every component of the line is in

    listed = await floor.admin.say("/assembly")
    async with floor.store.read() as session:
        told = [
            Reply.from_json(m.body).text
            for m in await session.exec(select(OutboxMessage))
            if m.person_id == floor.factory.admin
        ]
    notices = [text for text in told if "× Mkufu wa kidani cha pembe)" in text]

    assert "Mkufu wa kidani cha pembe: 0 kati ya" in listed
    assert notices  # "every component of line #1 (10 × Mkufu wa kidani cha pembe) is in"
    assert not any("Horn pendant necklace" in text for text in [listed, *told])
