"""Assembly and shipping in chat, through the engine: admins and field agents at the central
workshop, in English and Kiswahili, by command and by button."""

from __future__ import annotations

from conversations.admin.shipping import UNTRACKED
from conversations.i18n import t
from domain.model import Channel, Language, Order, OrderStatus, Role
from domain.services.people import set_language
from domain.store import Store
from domain.text import quoted
from tests.conftest import FakeClock
from tests.integration.conversation_driver import Chat, add_staff
from tests.integration.factory_fixtures import Floor, open_floor, payloads

NECKLACE = "Horn pendant necklace"


async def components_in(floor: Floor, code: str, *lots: int) -> None:
    """Otieno's pieces of ``code`` pass QC and are counted in at the workshop, lot by lot."""
    artisan = floor.factory.otieno
    allocation = await floor.passed_pieces(code, artisan, sum(lots))
    for lot in lots:
        await floor.receive(await floor.drop_off(allocation, artisan, lot), lot)


async def reads_kiswahili(floor: Floor, person: int) -> None:
    await floor.act(lambda s: set_language(s, person_id=person, language=Language.SW))


async def test_an_admin_sees_what_is_ready_and_assembles_part_of_a_line(floor: Floor) -> None:
    await components_in(floor, "HORN-PENDANT", 4)
    await components_in(floor, "BRASS-HOOK", 8)
    line = floor.order.lines["NECKLACE-HORN"]
    reference = quoted(floor.order.reference)

    listed = await floor.admin.say("/assembly")
    assert t("en", "assembly.ready_title", count=1) in listed
    assert (
        t(
            "en",
            "assembly.ready_line",
            line=line,
            id=floor.order.order_id,
            order=reference,
            product=NECKLACE,
            assembled=0,
            ordered=10,
            ready=4,
        )
        in listed
    )

    said = await floor.admin.say(f"/assemble {line} 3")
    assert (
        t(
            "en",
            "assembly.assembled",
            units=3,
            product=NECKLACE,
            line=line,
            id=floor.order.order_id,
            order=reference,
            assembled=3,
            ordered=10,
        )
        in said
    )
    # One more has its components in: said so, not "when their components are in".
    assert t("en", "assembly.still_ready_now", ready=1, left=7) in said
    said = await floor.admin.say(f"/assemble {line} 1")
    assert t("en", "assembly.still_to_do", left=6) in said
    shown = await floor.admin.say(f"/order {floor.order.order_id}")
    assert t("en", "admin.order_item_assembled", line=line, assembled=4, quantity=10) in shown


async def test_a_workshop_agent_reading_kiswahili_is_told_what_is_still_missing(
    floor: Floor,
) -> None:
    agent = floor.factory.agent
    turned_on = await floor.admin.say(f"/workshop {agent} on")
    assert turned_on.startswith(t("en", "admin.workshop_on", id=agent, name=quoted("Kamau")))
    await reads_kiswahili(floor, agent)
    await components_in(floor, "HORN-PENDANT", 4)
    await components_in(floor, "BRASS-HOOK", 5)
    necklaces = floor.order.lines["NECKLACE-HORN"]
    bangles = floor.order.lines["BANGLE-BRASS"]

    too_many = await floor.agent.say(f"/assemble {necklaces} 3")
    assert t("sw", "assembly.too_many", line=necklaces, asked=3, ready=2) in too_many
    hooks = t(
        "sw", "assembly.missing_line", code="BRASS-HOOK", received=5, needed=6, name="Brass hook"
    )
    assert hooks in too_many
    assert "HORN-PENDANT" not in too_many  # four pendants are enough for three

    nothing = await floor.agent.say(f"/assemble {bangles}")
    assert t("sw", "assembly.nothing_ready", line=bangles, asked=0, ready=0) in nothing
    assert (
        t(
            "sw",
            "assembly.missing_line",
            code="BRASS-BANGLE",
            received=0,
            needed=6,
            name="Brass bangle",
        )
        in nothing
    )
    assert await floor.agent.say("/assemble 999") == t("sw", "assembly.line_not_found", line=999)
    assert await floor.agent.say("/assemble kumi") == t("sw", "assembly.assemble_usage")
    assert await floor.agent.say(f"/assemble {necklaces} 20") == t(
        "sw", "assembly.more_than_ordered", line=necklaces, asked=20, left=10
    )

    done = await floor.agent.say(f"/assemble {necklaces}")
    assert (
        t(
            "sw",
            "assembly.assembled",
            units=2,
            product=NECKLACE,
            line=necklaces,
            id=floor.order.order_id,
            order=quoted(floor.order.reference),
            assembled=2,
            ordered=10,
        )
        in done
    )


async def test_a_fully_assembled_line_is_refused_politely(floor: Floor) -> None:
    await components_in(floor, "BRASS-BANGLE", 6)
    bangles = floor.order.lines["BANGLE-BRASS"]
    assert "6 of 6 done" in await floor.admin.say(f"/assemble {bangles}")
    assert await floor.admin.say(f"/assemble {bangles} 1") == t(
        "en", "assembly.fully_assembled", line=bangles, quantity=6
    )


async def test_people_not_at_the_workshop_are_refused_politely_in_their_language(
    floor: Floor,
) -> None:
    await components_in(floor, "BRASS-BANGLE", 6)
    bangles = floor.order.lines["BANGLE-BRASS"]
    assert await floor.agent.say(f"/assemble {bangles}") == t("en", "assembly.not_at_workshop")
    assert await floor.agent.say("/assembly") == t("en", "assembly.not_at_workshop")
    await reads_kiswahili(floor, floor.factory.far_agent)
    assert await floor.far_agent.say(f"/assemble {bangles}") == t("sw", "assembly.not_at_workshop")
    # Otieno, an artisan reading Kiswahili, is not staff at all.
    assert await floor.otieno.say(f"/assemble {bangles}") == t("sw", "command.forbidden")
    assert await floor.agent.say(f"/workshop {floor.factory.agent} on") == t(
        "en", "command.forbidden"
    )
    assert "0 of 6 assembled, 6 ready now" in await floor.admin.say("/assembly")  # unchanged


async def test_the_workshop_flag_is_set_and_cleared_by_admins_only_for_field_agents(
    floor: Floor,
) -> None:
    agent, artisan = floor.factory.agent, floor.factory.wanjiru
    admin = floor.admin
    assert await admin.say("/workshop") == t("en", "admin.workshop_usage")
    assert await admin.say(f"/workshop {agent} maybe") == t("en", "admin.workshop_usage")
    assert await admin.say("/workshop 999 on") == t("en", "admin.person_not_found", id=999)
    assert await admin.say(f"/workshop {artisan} on") == t(
        "en", "admin.workshop_not_an_agent", id=artisan, name=quoted("Wanjiru")
    )
    await admin.say(f"/workshop {agent} on")
    assert "/assemble" in await floor.agent.say("/help")
    assert await floor.agent.say("/assembly") == t("en", "assembly.none_ready")
    turned_off = await admin.say(f"/workshop {agent} off")  # and Kamau is told (clarity.po)
    assert turned_off.startswith(t("en", "admin.workshop_off", id=agent, name=quoted("Kamau")))
    assert await floor.agent.say("/assembly") == t("en", "assembly.not_at_workshop")


async def test_the_assemble_and_ship_buttons_take_an_order_from_components_in_to_shipped(
    store: Store, clock: FakeClock
) -> None:
    floor = await open_floor(store, clock, lines={"BANGLE-BRASS": 3})
    await floor.admin.say(f"/workshop {floor.factory.agent} on")
    line, order_id = floor.order.lines["BANGLE-BRASS"], floor.order.order_id
    await components_in(floor, "BRASS-BANGLE", 3)

    # The admins and the agent at the workshop hear the line's components are all in.
    [agent_notice] = [r for r in await floor.told(floor.agent) if "assemble:" in str(payloads(r))]
    assert payloads(agent_notice) == [f"assemble:{line}"]
    [notice] = [r for r in await floor.told(floor.admin) if payloads(r)]
    assert payloads(notice) == [f"assemble:{line}"]

    [done] = await floor.admin.send(payload=f"assemble:{line}")
    assert "3 of 3 done" in done.text
    reference = quoted(floor.order.reference)
    assert t("en", "polish.order_complete_ship", id=order_id, order=reference) in done.text
    # The admin who assembled it hears it once, with the Ship button, and no second notice.
    assert payloads(done) == [f"shipping:{order_id}"]
    assert not [r for r in await floor.told(floor.admin) if f"shipping:{order_id}" in payloads(r)]

    await floor.admin.send(payload=f"shipping:{order_id}")  # asks for carrier and tracking
    assert await floor.admin.say(payload=UNTRACKED) == t("en", "admin.shipped", id=order_id)
    async with store.read() as s:
        order = await s.get(Order, order_id)
        assert order is not None
        assert (order.status, order.carrier) == (OrderStatus.SHIPPED, None)
    shown = await floor.admin.say(f"/order {order_id}")
    assert t("en", "admin.order_item_assembled", line=line, assembled=3, quantity=3) in shown


async def test_shipping_with_a_carrier_and_tracking_shows_them_on_the_order(
    store: Store, clock: FakeClock
) -> None:
    floor = await open_floor(store, clock, lines={"BANGLE-BRASS": 2})
    order_id = floor.order.order_id
    assert await floor.admin.say(f"/ship {order_id} G4S KE123") == t(
        "en", "admin.ship_not_ready", id=order_id, status="confirmed"
    )
    await components_in(floor, "BRASS-BANGLE", 2)
    await floor.admin.say(f"/assemble {floor.order.lines['BANGLE-BRASS']}")
    await reads_kiswahili(floor, floor.factory.admin)

    long_name = "Courier " * 10
    assert await floor.admin.say(f"/ship {order_id} {long_name}") == t(
        "sw", "admin.ship_carrier_too_long", max=60
    )
    said = await floor.admin.say(f"/ship {order_id} Fargo Courier FC-00042")
    with_ = t(
        "sw",
        "admin.order_shipped_with",
        carrier=quoted("Fargo Courier"),
        tracking=quoted("FC-00042"),
    )
    assert said == t("sw", "admin.shipped", id=order_id) + "\n" + with_
    assert with_ in await floor.admin.say(f"/order {order_id}")
    again = await floor.admin.say(f"/ship {order_id} DHL 999")  # twice: nothing changes
    assert again == t("sw", "admin.ship_already", id=order_id) + "\n" + with_


async def test_the_admin_who_makes_an_order_ready_is_told_once_and_the_other_admins_hear_it(
    store: Store, clock: FakeClock
) -> None:
    floor = await open_floor(store, clock, lines={"BANGLE-BRASS": 3})
    await reads_kiswahili(floor, floor.factory.admin)
    await add_staff(
        store, clock, name="Baraka", address="tg-baraka", role=Role.ADMIN, language=Language.EN
    )
    baraka = Chat(floor.engine, clock, address="tg-baraka", channel=Channel.TELEGRAM)
    line, order_id = floor.order.lines["BANGLE-BRASS"], floor.order.order_id
    await components_in(floor, "BRASS-BANGLE", 3)
    reference = quoted(floor.order.reference)
    # Both admins were told the line is ready, by its order's number and reference.
    [told] = [r for r in await floor.told(baraka) if payloads(r) == [f"assemble:{line}"]]
    assert told.text == t(
        "en",
        "agent.notice.ready_for_assembly",
        id=order_id,
        order=reference,
        line=line,
        quantity=3,
        product="Brass bangle",
    )

    [done] = await floor.admin.send(f"/assemble {line}")

    assert t("sw", "polish.order_complete_ship", id=order_id, order=reference) in done.text
    assert [(c.payload, c.label) for c in done.choices] == [
        (f"shipping:{order_id}", t("sw", "assembly.notice.ship_button"))
    ]
    assert not [r for r in await floor.told(floor.admin) if f"shipping:{order_id}" in payloads(r)]
    [ready] = [r for r in await floor.told(baraka) if f"shipping:{order_id}" in payloads(r)]
    assert ready.text == t(
        "en",
        "assembly.notice.order_ready",
        id=order_id,
        order=reference,
        customer=quoted("Maasai Market Crafts"),
    )
