"""Field agents track production: workshop visits, the jobs at risk, and the agent menu."""

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta

import pytest
from sqlmodel import select

from conversations.formatting import written_date
from conversations.i18n import t
from conversations.messages import MediaItem
from conversations.registry import REGISTRY
from domain.explosion import FACTORY_ZONE
from domain.model import Allocation, Channel, Role, WorkshopVisit
from tests.integration.conversation_driver import PHOTO, VOICE, Chat, add_staff, state_of
from tests.integration.factory_fixtures import Floor


async def _visits(floor: Floor) -> list[WorkshopVisit]:
    async with floor.store.transaction() as session:
        return list(await session.exec(select(WorkshopVisit)))


async def _due_date(floor: Floor, allocation_id: int) -> datetime:
    async with floor.store.transaction() as session:
        allocation = await session.get(Allocation, allocation_id)
        assert allocation is not None
        # Mid-morning in Nairobi on the due date.
        return datetime.combine(allocation.due_date, time(10), tzinfo=FACTORY_ZONE)


async def test_an_agent_records_a_visit_with_photos_and_a_note(floor: Floor) -> None:
    allocation_id = await floor.allocation("HORN-PENDANT", floor.factory.wanjiru, 10)
    agent = floor.agent
    [ask] = await agent.send(f"/visit {allocation_id}")
    assert "“Wanjiru” (“Kibera”) is making 10 × Carved horn pendant" in ask.text
    assert "0 passed, 0 waiting" in ask.text
    assert t("en", "agent.visit.done_invalid", count=10) in await agent.say("12")
    [photos] = await agent.send("4")
    assert [c.label for c in photos.choices] == ["No photos"]
    assert t("en", "agent.visit.photos_only") in await agent.say(media=(VOICE,))
    assert "Got 1 photo." in await agent.say(media=(PHOTO,))
    second = MediaItem("image/jpeg", 30_000, "photo-2.jpg")
    [more] = await agent.send(media=(second,))
    assert "Got 2 photos." in more.text
    assert [c.label for c in more.choices] == ["Done"]
    assert "Any note" in await agent.say("done")
    said = await agent.say("Waiting for more horn from the supplier")

    assert "4 of 10 × Carved horn pendant done by “Wanjiru”, 2 photos" in said
    [visit] = await _visits(floor)
    assert (visit.allocation_id, visit.agent_id, visit.pieces_done) == (
        allocation_id,
        floor.factory.agent,
        4,
    )
    assert visit.photo_refs == "photo-1.jpg,photo-2.jpg"
    assert visit.note == "Waiting for more horn from the supplier"


async def test_a_visit_can_be_picked_from_the_menu_without_photos_or_note(floor: Floor) -> None:
    allocation_id = await floor.allocation("HORN-PENDANT", floor.factory.wanjiru, 6)
    # Otieno's work is in Githurai, not Kamau's area, so it is not listed for him.
    await floor.allocation("BRASS-HOOK", floor.factory.otieno, 8)
    agent = floor.agent
    await agent.send("menu")
    [pick] = await agent.send(payload="menu:visit")
    assert [c.payload for c in pick.choices] == [f"vst:{allocation_id}"]
    await agent.send("1")
    await agent.send("0")
    await agent.send(payload="vst:nophotos")
    await agent.send(payload="vst:nonote")
    [visit] = await _visits(floor)
    assert (visit.pieces_done, visit.photo_refs, visit.note) == (0, "", None)


async def test_visits_are_for_field_agents_and_work_in_progress_only(
    floor: Floor, caplog: pytest.LogCaptureFixture
) -> None:
    allocation_id = await floor.allocation("HORN-PENDANT", floor.factory.wanjiru, 3)
    with caplog.at_level(logging.WARNING):
        for who in ("admin", "wanjiru"):
            chat = floor.chat(who)
            forbidden = t("en", "command.forbidden")
            assert forbidden in await chat.say(f"/visit {allocation_id}")
            assert forbidden in await chat.say(payload=f"visit:{allocation_id}")
    assert caplog.text.count("refused /visit") == 4
    agent = floor.agent
    assert t("en", "agent.visit.usage") in await agent.say("/visit x")
    assert t("en", "agent.visit.not_found", id=404) in await agent.say("/visit 404")
    assert await _visits(floor) == []


async def test_jobs_at_risk_list_the_late_work_in_the_agents_areas_with_a_visit_button(
    floor: Floor,
) -> None:
    slow = await floor.allocation("HORN-PENDANT", floor.factory.wanjiru, 10)
    await floor.allocation("BRASS-HOOK", floor.factory.otieno, 20)  # Githurai
    due = await _due_date(floor, slow)
    floor.clock.advance(seconds=(due - timedelta(days=2) - floor.clock.now()).total_seconds())

    agent = floor.agent
    [listed] = await agent.send("/atrisk")
    assert "1 job at risk" in listed.text
    assert (
        f"“Wanjiru” (“Kibera”): Carved horn pendant (job #{floor.order.jobs['HORN-PENDANT']}), "
        f"0 of 10 done, due {written_date('en', due)} – 2 day(s) left. /visit {slow}" in listed.text
    )
    assert "Otieno" not in listed.text
    assert [c.payload for c in listed.choices] == [f"visit:{slow}"]

    # The button opens a visit to that allocation; a visit showing progress takes it off the list.
    [ask] = await agent.send(payload=f"visit:{slow}")
    assert "How many pieces are done so far" in ask.text
    await agent.send("8")
    await agent.send(payload="vst:nophotos")
    await agent.send(payload="vst:nonote")
    assert t("en", "agent.atrisk.none") in await agent.say("/atrisk")

    floor.clock.advance(days=3)  # now a day overdue, however far along
    assert "late by 1 day(s)" in await agent.say("/atrisk")


async def test_jobs_at_risk_are_for_field_agents_who_cover_an_area(
    floor: Floor, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        assert t("en", "command.forbidden") in await floor.admin.say("/atrisk")
    assert "refused /atrisk" in caplog.text
    await add_staff(floor.store, floor.clock, name="Baraka", address="5550009")
    newcomer = Chat(floor.engine, floor.clock, address="5550009", channel=Channel.TELEGRAM)
    assert t("en", "agent.atrisk.no_areas") in await newcomer.say("/atrisk")


async def test_every_field_agent_menu_item_works_and_none_is_coming_soon(floor: Floor) -> None:
    agent = floor.agent
    [menu] = await agent.send("menu")
    keys = [c.payload.removeprefix("menu:") for c in menu.choices]
    # Assembly is shown only to agents at the central workshop (test_which_number.py).
    every = [item.key for item in REGISTRY.menus[Role.FIELD_AGENT] if item.key != "assembly"]
    assert keys == every
    assert {"pending", "qc", "receipt", "visit", "atrisk", "questions", "materials"} <= set(keys)
    expected = {
        "pending": t("en", "agent.no_pending"),
        "qc": t("en", "agent.qc.queue_empty"),
        "receipt": t("en", "agent.receipt.none_arranged"),
        "visit": t("en", "agent.visit.none_active"),
        "atrisk": t("en", "agent.atrisk.none"),
        "questions": t("en", "questions.none_open"),
        "materials": t("en", "materials.none_open"),
    }
    for key in keys:
        await agent.send("menu")
        said = await agent.say(payload=f"menu:{key}")
        assert "coming soon" not in said
        assert expected[key] in said, key


async def test_visits_and_the_risk_list_speak_kiswahili(floor: Floor) -> None:
    allocation_id = await floor.allocation("HORN-PENDANT", floor.factory.wanjiru, 5)
    agent = floor.agent
    await agent.send("lugha sw")
    [menu] = await agent.send("menu")
    assert t("sw", "menu.item.atrisk") in [c.label for c in menu.choices]
    assert t("sw", "agent.atrisk.none") in await agent.say("/atrisk")
    [ask] = await agent.send(f"/visit {allocation_id}")
    assert "Vipande vingapi vimekamilika hadi sasa" in ask.text
    await agent.send("2")
    await agent.send("1")  # bila picha
    said = await agent.say("Kazi inaendelea vizuri")
    assert "Ziara imehifadhiwa: 2 kati ya 5" in said
    state = await state_of(floor.store, agent)
    assert state is not None
    assert state.flow == "idle"


async def test_the_help_lists_the_field_agents_commands_but_not_to_admins_or_artisans(
    floor: Floor,
) -> None:
    agent_help = await floor.agent.say("help")
    for msgid in ("agent.help_qc", "agent.help_receipt", "agent.help_visit", "agent.help_atrisk"):
        assert t("en", msgid) in agent_help
    admin_help = await floor.admin.say("help")
    assert t("en", "agent.help_receipt") in admin_help  # admins count deliveries in too
    assert t("en", "agent.help_qc") not in admin_help
    assert t("en", "agent.help_qc") not in await floor.wanjiru.say("help")
