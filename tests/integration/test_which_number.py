"""Which number is which (issue 16 items 7 and 8, found in the web chat): /why's estimates say
what they are beside the plain counts /artisan shows; artisans read their work by the job number
they know; /cancel asks before it stops anyone's work; small gaps of the workshop flag, the
agent's menu and materials."""

from __future__ import annotations

import re

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.matchmaker import Matchmaker
from conversations.engine import Engine
from conversations.i18n import t
from conversations.registry import REGISTRY
from domain.model import Language, Order, OrderStatus, Person
from domain.services import deliveries
from domain.services.materials import request_material
from tests.integration.conversation_driver import Chat
from tests.integration.factory_fixtures import Floor, payloads, texts


async def _speaks(floor: Floor, person_id: int, language: Language) -> None:
    async with floor.store.transaction() as session:
        person = await session.get(Person, person_id)
        assert person is not None
        person.language = language
        session.add(person)


async def _status(floor: Floor, order_id: int) -> OrderStatus:
    async with floor.store.transaction() as session:
        order = await session.get(Order, order_id)
        assert order is not None
        return order.status


def _with_matcher(floor: Floor, who: str) -> Chat:
    engine = Engine(floor.store, registry=REGISTRY, matcher=Matchmaker())
    chat = floor.chat(who)
    return Chat(engine, floor.clock, address=chat.address, channel=chat.channel)


# --- 1. /why and /artisan: the same plain counts, and /why says what its estimates are -------


async def test_why_shows_the_plain_counts_beside_its_estimates_and_says_how_they_differ(
    floor: Floor,
) -> None:
    wanjiru = floor.factory.wanjiru
    await floor.allocation("HORN-PENDANT", wanjiru, 2)  # one offer made, one accepted
    job = floor.order.jobs["HORN-PENDANT"]
    admin = _with_matcher(floor, "admin")

    why = await admin.say(f"/why {wanjiru} {job}")
    assert t("en", "why.clarity.count_accept", successes=1, count=1) in why  # "1 of 1 offer"
    assert t("en", "why.clarity.count_none") in why  # no job due yet: no on-time record
    nobody = t("en", "why.clarity.everyone_none")  # nobody's record yet: an even guess, said so
    assert f"on time 50% for this offer (their record: none yet; everyone's: {nobody})" in why
    assert re.search(r"accepting \d+% for this offer", why), why
    typical = t("en", "why.clarity.note", on_time="80%", qc="90%", accept="60%")
    assert typical in why
    # /artisan shows the same plain count; its smoothed score is the one the note names.
    profile = await floor.admin.say(f"/artisan {wanjiru}")
    assert "accepted 1 of 1 offers" in profile

    await _speaks(floor, floor.factory.admin, Language.SW)
    kwa_kiswahili = await admin.say(f"/why {wanjiru} {job}")
    assert "ofa 1 kati ya 1 ilikubaliwa" in kwa_kiswahili
    assert "kwa ofa hii" in kwa_kiswahili
    assert t("sw", "why.clarity.note", on_time="80%", qc="90%", accept="60%") in kwa_kiswahili


# --- 3. /cancel shows what stops and asks first ------------------------------------------------


async def test_cancel_shows_what_stops_and_waits_for_a_yes(floor: Floor) -> None:
    f = floor.factory
    pendant_lot = await floor.allocation("HORN-PENDANT", f.wanjiru, 6)
    await floor.review(await floor.submitted(pendant_lot, f.wanjiru, 4), 4)  # 4 passed
    bangle_lot = await floor.allocation("BRASS-BANGLE", f.otieno, 6)
    await floor.submitted(bangle_lot, f.otieno, 2)  # 2 waiting for QC
    await floor.offer("BRASS-HOOK", f.wanjiru, 5)  # an open offer
    order_id = floor.order.order_id
    told_before = len(await floor.told(floor.wanjiru))

    asked = await floor.admin.send(f"/cancel {order_id} customer withdrew")
    [question] = asked
    for line in (
        t("en", "clarity.cancel_ask", id=order_id, count=3),
        t("en", "clarity.cancel_artisans", count=2),
        t("en", "clarity.cancel_offers", count=1, pieces=5),
        t("en", "clarity.cancel_lots", count=2, pieces=12),
        t("en", "clarity.cancel_in_qc", count=2),
        t("en", "clarity.cancel_passed", count=4),
    ):
        assert line in question.text, question.text
    assert [c.payload for c in question.choices] == ["cancelorder:yes", "cancelorder:no"]
    assert await floor.admin.say("maybe") == t("en", "admin.confirm_unclear")
    assert await floor.admin.say("no") == t("en", "clarity.cancel_kept", id=order_id)
    assert len(await floor.told(floor.wanjiru)) == told_before  # nobody was told anything
    assert await _status(floor, order_id) is not OrderStatus.CANCELLED

    await _speaks(floor, f.admin, Language.SW)
    swahili = await floor.admin.say(f"/cancel {order_id}")
    assert t("sw", "clarity.cancel_ask", id=order_id, count=3) in swahili
    assert t("sw", "clarity.cancel_passed", count=4) in swahili
    done = await floor.admin.say("ndiyo")
    assert done == t("sw", "admin.cancelled", id=order_id, jobs=3, count=3)
    assert await _status(floor, order_id) is OrderStatus.CANCELLED
    assert len(await floor.told(floor.wanjiru)) > told_before  # now she is told
    again = await floor.admin.say(f"/cancel {order_id}")
    assert again.startswith(t("sw", "admin.cancel_refused", id=order_id, status="")[:10])


# --- 2. artisans read their work by the job number they know ---------------------------------


async def test_a_short_count_names_the_job_and_passes_on_the_agents_words(floor: Floor) -> None:
    f = floor.factory
    for who, component, chat, language in (
        (f.wanjiru, "HORN-PENDANT", floor.wanjiru, "en"),
        (f.otieno, "BRASS-BANGLE", floor.otieno, "sw"),
    ):
        lot = await floor.passed_pieces(component, who, 6)
        delivery_id = await floor.drop_off(lot, who, 6)

        async def counted_short(s: AsyncSession, d: int = delivery_id) -> object:
            return await deliveries.record_receipt(
                s,
                delivery_id=d,
                receiver_id=f.agent,
                received_quantity=5,
                now=floor.clock.now(),
                note="one was cracked, left with her",
            )

        await floor.act(counted_short)
        job = floor.order.jobs[component]
        told = texts(await floor.told(chat))
        short = t(language, "artisan.delivery_short", job=job, declared=6, received=5)
        note = t(language, "clarity.delivery_agent_note", note="“one was cracked, left with her”")
        assert f"{short}\n{note}" in told, told
        received = told[-1]
        assert f"for job #{job}" in received or f"kwa kazi #{job}" in received, received
        assert not re.search(r"(delivery|mzigo|lot|fungu) #", "\n".join(told)), told


# --- 4. the workshop flag is told; the agent's menu has what help lists; /materials has Can't --


async def test_an_agent_put_at_the_workshop_is_told_and_finds_assembly_in_the_menu(
    floor: Floor,
) -> None:
    agent = floor.factory.agent
    menu = await floor.agent.send("menu")
    keys = [c.payload for c in menu[-1].choices]
    assert {"menu:questions", "menu:materials"} <= set(keys)
    assert "menu:assembly" not in keys  # not at the workshop yet

    said = await floor.admin.say(f"/workshop {agent} on")
    assert t("en", "clarity.workshop_told", name="“Kamau”") in said
    assert (await floor.told(floor.agent))[-1].text == t("en", "clarity.workshop_on_notice")
    menu = await floor.agent.send("menu")
    assert "menu:assembly" in [c.payload for c in menu[-1].choices]
    assembly = await floor.agent.say(payload="menu:assembly")
    assert assembly == await floor.agent.say("/assembly")  # the same as the command
    assert assembly != t("en", "assembly.not_at_workshop")
    assert await floor.agent.say(payload="menu:materials") == t("en", "materials.none_open")

    await _speaks(floor, agent, Language.SW)
    await floor.admin.say(f"/workshop {agent} off")
    assert (await floor.told(floor.agent))[-1].text == t("sw", "clarity.workshop_off_notice")
    menu = await floor.agent.send("menu")
    labels = [c.label for c in menu[-1].choices]
    assert t("sw", "clarity.menu_questions") in labels
    assert t("sw", "clarity.menu_assembly") not in labels


async def test_materials_offers_handed_over_and_cant_for_each_request(floor: Floor) -> None:
    request = await floor.act(
        lambda s: request_material(
            s,
            artisan_id=floor.factory.wanjiru,
            material="brass wire",
            quantity="1.5",
            unit="kg",
            now=floor.clock.now(),
        )
    )
    listed = await floor.agent.send("/materials")
    assert payloads(listed[-1]) == [f"handover:{request.id}", f"cantsupply:{request.id}"]
    assert listed[-1].choices[1].label == t("en", "clarity.cant_numbered", id=request.id)
    await _speaks(floor, floor.factory.agent, Language.SW)
    listed = await floor.agent.send("/materials")
    assert listed[-1].choices[1].label == t("sw", "clarity.cant_numbered", id=request.id)
    asked = await floor.agent.say(payload=f"cantsupply:{request.id}")  # asks why, as the notice
    assert asked.startswith(t("sw", "materials.reason_ask", name="“Wanjiru”", id=request.id,
                              quantity="1.5", unit="kg", material="brass wire")[:25])  # fmt: skip
