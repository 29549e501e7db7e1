"""An artisan's material request reaches the people who can act on it, through the engine: the
area's field agent (or the admins) hears of it with "Handed over" / "Can't" buttons, the artisan
is told the answer in their language, /materials lists what waits, /order shows what was issued
against what the jobs need, and requests left waiting are in a daily reminder."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations.formatting import written_date
from conversations.i18n import default_catalogue, t
from conversations.messages import Reply
from domain.model import Language, MaterialRequest, MaterialRequestStatus
from domain.services.materials import request_material
from scheduler import jobs
from tests.integration.conversation_driver import Chat
from tests.integration.factory_fixtures import Floor, active_artisan, ident, payloads


async def ask_for(chat: Chat, menu: str, material: str, amount: str) -> str:
    """The artisan asks for material through the menu, for no job in particular."""
    await chat.send("hi")
    await chat.send(menu)
    await chat.send("2")  # ask for material
    await chat.send(material)
    return await chat.say(amount)


async def last_request(floor: Floor) -> MaterialRequest:
    async with floor.store.transaction() as session:
        rows = await session.exec(select(MaterialRequest).order_by(col(MaterialRequest.id)))
        return list(rows)[-1]


async def last_told(floor: Floor, chat: Chat) -> Reply:
    return (await floor.told(chat))[-1]


async def test_the_area_agent_hears_of_a_request_and_hands_it_over_and_the_artisan_is_told(
    floor: Floor,
) -> None:
    said = await ask_for(floor.wanjiru, "Materials", "brass wire", "1.5 kg")
    assert said == t(
        "en", "artisan.materials_requested", material="brass wire", quantity="1.5", unit="kg"
    )
    request = await last_request(floor)
    asked = {"id": request.id, "quantity": "1.5", "unit": "kg", "material": "brass wire"}

    # Kamau covers Kibera, where Wanjiru works; Njeri (Githurai) and the admin are not troubled.
    notice = await last_told(floor, floor.agent)
    assert notice.text == t(
        "en", "materials.request_notice", name="“Wanjiru”", area="“Kibera”", job="", **asked
    )
    assert payloads(notice) == [f"handover:{request.id}", f"cantsupply:{request.id}"]
    assert [c.label for c in notice.choices] == ["Handed over", "Can't"]
    assert await floor.told(floor.far_agent) == []
    assert await floor.told(floor.admin) == []

    handed_at = floor.clock.advance(hours=3)
    assert await floor.agent.say(payload=f"handover:{request.id}") == t(
        "en", "materials.handed_over", name="“Wanjiru”", **asked
    )
    done = await last_request(floor)
    assert (done.status, done.closed_by, done.closed_at) == (
        MaterialRequestStatus.FULFILLED,
        floor.factory.agent,
        handed_at,
    )
    told = await last_told(floor, floor.wanjiru)
    assert told.text == t("en", "materials.handed_over_artisan", by="“Kamau”", **asked)

    # A second tap (or another agent's) finds it already handed over.
    assert await floor.agent.say(f"/handover {request.id}") == t(
        "en", "materials.closed_fulfilled", id=request.id
    )


async def test_cant_asks_why_and_the_artisan_hears_the_reason_in_kiswahili(floor: Floor) -> None:
    said = await ask_for(floor.otieno, "Malighafi", "shaba", "2 kg")
    assert said == t("sw", "artisan.materials_requested", material="shaba", quantity="2", unit="kg")
    request = await last_request(floor)
    asked = {"id": request.id, "quantity": "2", "unit": "kg", "material": "shaba"}
    # Njeri covers Githurai, where Otieno works; she reads Kiswahili.
    await floor.far_agent.send("lugha sw")
    notice = await last_told(floor, floor.far_agent)
    assert payloads(notice) == [f"handover:{request.id}", f"cantsupply:{request.id}"]

    [why] = await floor.far_agent.send(payload=f"cantsupply:{request.id}")
    assert why.text == t("sw", "materials.reason_ask", name="“Otieno”", **asked)
    assert await floor.far_agent.say("kwa sababu " * 30) == t("sw", "materials.reason_invalid")
    assert await floor.far_agent.say("Imeisha  ghalani hadi Jumatatu") == t(
        "sw", "materials.declined", name="“Otieno”", **asked
    )

    declined = await last_request(floor)
    assert (declined.status, declined.closed_by, declined.decline_reason) == (
        MaterialRequestStatus.DECLINED,
        floor.factory.far_agent,
        "Imeisha ghalani hadi Jumatatu",
    )
    told = await last_told(floor, floor.otieno)
    assert told.text == t(
        "sw", "materials.declined_artisan", reason="“Imeisha ghalani hadi Jumatatu”", **asked
    )


async def test_a_reason_can_be_typed_with_the_command_in_english(floor: Floor) -> None:
    await ask_for(floor.wanjiru, "Materials", "brass wire", "1 kg")
    request = await last_request(floor)
    asked = {"id": request.id, "quantity": "1", "unit": "kg", "material": "brass wire"}
    assert await floor.admin.say(f"/cantsupply {request.id} supplier is late") == t(
        "en", "materials.declined", name="“Wanjiru”", **asked
    )
    told = await last_told(floor, floor.wanjiru)
    assert told.text == t("en", "materials.declined_artisan", reason="“supplier is late”", **asked)


async def test_an_agent_outside_the_area_is_refused_politely_and_an_artisan_not_at_all(
    floor: Floor,
) -> None:
    await ask_for(floor.wanjiru, "Materials", "brass wire", "1 kg")
    request = await last_request(floor)
    # Njeri covers Githurai, not Kibera.
    not_hers = t("en", "materials.not_your_area", id=request.id, area="“Kibera”")
    assert await floor.far_agent.say(payload=f"handover:{request.id}") == not_hers
    assert await floor.far_agent.say(payload=f"cantsupply:{request.id}") == not_hers
    # Wanjiru cannot answer her own request, typed or tapped.
    assert await floor.wanjiru.say(f"/handover {request.id}") == t("en", "command.forbidden")
    assert await floor.wanjiru.say(payload=f"handover:{request.id}") == t("en", "command.forbidden")
    assert (await last_request(floor)).status is MaterialRequestStatus.OPEN
    assert await floor.agent.say("/handover twelve") == t("en", "materials.handover_usage")
    assert await floor.agent.say("/handover 999") == t("en", "materials.not_found", id=999)
    assert await floor.agent.say("/cantsupply") == t("en", "materials.cant_usage")


async def test_a_request_from_an_area_nobody_covers_goes_to_the_admins(floor: Floor) -> None:
    async def asked(session: AsyncSession) -> MaterialRequest:
        artisan = await active_artisan(
            session,
            verified_by=floor.factory.agent,
            now=floor.clock.now(),
            name="Baraka",
            area="Kariobangi",
            language=Language.EN,
        )
        return await request_material(
            session,
            artisan_id=ident(artisan),
            material="glass beads",
            quantity=200,
            unit="pcs",
            now=floor.clock.now(),
        )

    request = await floor.act(asked)
    notice = await last_told(floor, floor.admin)
    assert notice.text == t(
        "en",
        "materials.request_notice",
        name="“Baraka”",
        area="“Kariobangi”",
        job="",
        id=request.id,
        quantity="200",
        unit="pcs",
        material="glass beads",
    )
    assert payloads(notice) == [f"handover:{request.id}", f"cantsupply:{request.id}"]
    assert await floor.admin.say(payload=f"handover:{request.id}") == t(
        "en",
        "materials.handed_over",
        name="“Baraka”",
        id=request.id,
        quantity="200",
        unit="pcs",
        material="glass beads",
    )


async def test_materials_lists_open_requests_oldest_first_with_their_age(floor: Floor) -> None:
    await ask_for(floor.wanjiru, "Materials", "brass wire", "1 kg")
    first = await last_request(floor)
    floor.clock.advance(days=2, hours=3)
    await ask_for(floor.otieno, "Malighafi", "shaba", "2 kg")
    second = await last_request(floor)
    floor.clock.advance(hours=5)

    [listing] = await floor.admin.send("/materials")
    assert listing.text == "\n".join(
        [
            t("en", "materials.open_title"),
            "",
            t(
                "en",
                "materials.open_line",
                number=1,
                id=first.id,
                name="“Wanjiru”",
                area="“Kibera”",
                quantity="1",
                unit="kg",
                material="brass wire",
                job="",
                age=t("en", "materials.age_days", days=2, hours=8),
            ),
            t(
                "en",
                "materials.open_line",
                number=2,
                id=second.id,
                name="“Otieno”",
                area="“Githurai”",
                quantity="2",
                unit="kg",
                material="shaba",
                job="",
                age=t("en", "materials.age_hours", hours=5),
            ),
        ]
    )
    assert payloads(listing) == [
        f"handover:{first.id}",
        f"cantsupply:{first.id}",
        f"handover:{second.id}",
        f"cantsupply:{second.id}",
    ]

    # A field agent sees their own areas only, in their language.
    await floor.far_agent.send("lugha sw")
    [hers] = await floor.far_agent.send("/materials")
    assert f"#{second.id}" in hers.text
    assert f"#{first.id}" not in hers.text
    assert t("sw", "materials.age_hours", hours=5) in hers.text
    assert payloads(hers) == [f"handover:{second.id}", f"cantsupply:{second.id}"]

    await floor.agent.send(payload=f"handover:{first.id}")
    assert await floor.agent.say("/materials") == t("en", "materials.none_open")


async def test_order_shows_material_issued_against_what_its_jobs_need(floor: Floor) -> None:
    allocation = await floor.allocation("HORN-PENDANT", floor.factory.wanjiru, 10)
    await floor.wanjiru.send("hi")
    await floor.wanjiru.send("Materials")
    [which_job] = await floor.wanjiru.send("2")  # ask for material
    assert payloads(which_job)[0] == f"job:{allocation}"
    await floor.wanjiru.send("1")  # for that job
    await floor.wanjiru.send("1")  # its material: cattle horn
    await floor.wanjiru.send("0.3")
    request = await last_request(floor)
    notice = await last_told(floor, floor.agent)
    assert t("en", "materials.for_job", component="Carved horn pendant") in notice.text
    await floor.agent.send(payload=f"handover:{request.id}")

    replies = await floor.admin.send(f"/order {floor.order.order_id}")
    text = "\n".join(r.text for r in replies)
    # 10 pendants at 0.05 kg of horn, 20 hooks at 0.01 kg of brass wire; the bangles need none.
    section = "\n".join(
        [
            t("en", "materials.order_title"),
            t(
                "en",
                "materials.order_line",
                material="brass wire",
                unit="kg",
                needed="0.2",
                handed="0",
            ),
            t(
                "en",
                "materials.order_line",
                material="cattle horn",
                unit="kg",
                needed="0.5",
                handed="0.3",
            ),
        ]
    )
    assert section in text


async def test_requests_waiting_too_long_are_in_a_daily_reminder_once(floor: Floor) -> None:
    await ask_for(floor.wanjiru, "Materials", "brass wire", "1 kg")
    request = await last_request(floor)
    after = timedelta(days=2)

    async def remind() -> int:
        return await jobs.remind_material_requests(
            floor.store, clock=floor.clock.now, catalogue=default_catalogue(), after=after
        )

    floor.clock.advance(days=1)
    assert await remind() == 0
    floor.clock.advance(days=1, hours=1)
    assert await remind() == 1
    reminder = await last_told(floor, floor.agent)
    assert reminder.text.startswith(
        t("en", "materials.reminder", count=1, after=t("en", "materials.age_days", days=2, hours=0))
    )
    assert f"#{request.id}" in reminder.text
    assert payloads(reminder) == [f"handover:{request.id}", f"cantsupply:{request.id}"]
    floor.clock.advance(hours=2)
    assert await remind() == 0  # once a day
    assert await floor.told(floor.far_agent) == []


async def test_on_whatsapp_the_agent_may_answer_the_notice_by_its_number(floor: Floor) -> None:
    await ask_for(floor.wanjiru, "Materials", "brass wire", "1 kg")
    request = await last_request(floor)
    # Kamau chats on WhatsApp, where the notice's buttons may arrive as numbered options; what
    # he chose is echoed back first.
    assert (await floor.agent.say("1")).endswith(
        t(
            "en",
            "materials.handed_over",
            name="“Wanjiru”",
            id=request.id,
            quantity="1",
            unit="kg",
            material="brass wire",
        )
    )
    assert (await last_request(floor)).status is MaterialRequestStatus.FULFILLED


async def test_an_artisan_sees_what_she_holds_and_withdraws_a_request_and_the_agent_hears(
    floor: Floor,
) -> None:
    await ask_for(floor.wanjiru, "Materials", "brass wire", "1.5 kg")
    request = await last_request(floor)
    await floor.told(floor.agent)  # the request notice, read

    await floor.wanjiru.send("Materials")
    [mine] = await floor.wanjiru.send("3")  # what I have and asked for
    line = t(
        "en",
        "artisan.materials_mine_request_line",
        id=request.id,
        material="brass wire",
        quantity="1.5",
        unit="kg",
        since=written_date("en", request.created_at),
    )
    assert t("en", "artisan.materials_mine_no_stock") in mine.text
    assert line in mine.text
    assert payloads(mine) == [f"withdraw:{request.id}", "withdraw:none"]

    said = await floor.wanjiru.say("1")
    assert said == t(
        "en",
        "artisan.materials_withdrawn",
        id=request.id,
        material="brass wire",
        quantity="1.5",
        unit="kg",
    )
    assert (await last_request(floor)).status is MaterialRequestStatus.CANCELLED
    notice = await last_told(floor, floor.agent)
    assert notice.text == t(
        "en",
        "materials.withdrawn_notice",
        name="“Wanjiru”",
        area="“Kibera”",
        id=request.id,
        quantity="1.5",
        unit="kg",
        material="brass wire",
    )
    # Kamau's old "Handed over" button now finds nothing to hand over, and says so.
    assert await floor.agent.say(f"/handover {request.id}") == t(
        "en", "materials.closed_cancelled", id=request.id
    )

    # With nothing left waiting, "mine" only lists, in Kiswahili for Otieno too.
    await floor.otieno.send("hi")
    await floor.otieno.send("Malighafi")
    nothing = await floor.otieno.say("3")
    assert t("sw", "artisan.materials_mine_no_requests") in nothing
    assert t("sw", "artisan.materials_mine_no_stock") in nothing
