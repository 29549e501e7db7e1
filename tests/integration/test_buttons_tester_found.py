"""What a tester found in the local web chat, through the engine, in English and Kiswahili:
``/assembly`` has an "Assemble" button per ready line; the Ship button asks for the carrier and
tracking in one step (``/ship N carrier tracking`` typed stays one step); a number typed in the
web chat under an offer held for WhatsApp picks from it; "kubali" alone accepts the one offer."""

from __future__ import annotations

from conversations.admin.shipping import UNTRACKED
from conversations.i18n import t
from domain.model import Channel, Language, Offer, OfferStatus, Order, OrderStatus
from domain.services.people import link_identity, set_language
from domain.store import Store
from domain.text import quoted
from tests.conftest import FakeClock
from tests.integration.conversation_driver import Chat
from tests.integration.factory_fixtures import CHATS, Floor, open_floor, payloads
from tests.integration.test_assembly_chat import components_in

NECKLACE = "Horn pendant necklace"


async def _shipping(floor: Floor) -> tuple[OrderStatus, str | None, str | None]:
    """The order's status, carrier and tracking reference."""
    async with floor.store.read() as session:
        order = await session.get(Order, floor.order.order_id)
        assert order is not None
        return order.status, order.carrier, order.tracking_reference


async def _offer_status(floor: Floor, offer_id: int) -> OfferStatus:
    async with floor.store.read() as session:
        offer = await session.get(Offer, offer_id)
        assert offer is not None
        return offer.status


# --- 1. /assembly: an Assemble button per ready line ------------------------------------------


async def test_assembly_offers_a_button_per_ready_line_and_a_partial_one_for_what_is_in(
    floor: Floor,
) -> None:
    await components_in(floor, "HORN-PENDANT", 4)
    await components_in(floor, "BRASS-HOOK", 8)
    await components_in(floor, "BRASS-BANGLE", 6)
    necklaces, bangles = floor.order.lines["NECKLACE-HORN"], floor.order.lines["BANGLE-BRASS"]

    [listed] = await floor.admin.send("/assembly")

    assert [(c.payload, c.label) for c in listed.choices] == [
        (f"assemble:{necklaces}:4", t("en", "shipping.assemble_button", line=necklaces, units=4)),
        (f"assemble:{bangles}", t("en", "shipping.assemble_button", line=bangles, units=6)),
    ]
    said = await floor.admin.say(payload=f"assemble:{necklaces}:4")
    assert "4 of 10" in said
    assert t("en", "assembly.still_to_do", left=6) in said
    [again] = await floor.admin.send("/assembly")
    assert payloads(again) == [f"assemble:{bangles}"]
    assert "6 of 6 done" in await floor.admin.say(f"/assemble {bangles}")  # typed still works


async def test_a_workshop_agent_reading_kiswahili_assembles_from_the_list_by_button(
    floor: Floor,
) -> None:
    agent = floor.factory.agent
    await floor.admin.say(f"/workshop {agent} on")
    await floor.act(lambda s: set_language(s, person_id=agent, language=Language.SW))
    await components_in(floor, "BRASS-BANGLE", 6)
    bangles = floor.order.lines["BANGLE-BRASS"]

    [listed] = await floor.agent.send("/assembly")
    assert [c.label for c in listed.choices] == [
        t("sw", "shipping.assemble_button", line=bangles, units=6)
    ]

    said = await floor.agent.say(payload=listed.choices[0].payload)
    assert (
        t(
            "sw",
            "assembly.assembled",
            units=6,
            product="Brass bangle",
            line=bangles,
            id=floor.order.order_id,
            order=quoted(floor.order.reference),
            assembled=6,
            ordered=6,
        )
        in said
    )


# --- 2. the Ship button asks for carrier and tracking -----------------------------------------


async def _ready(store: Store, clock: FakeClock, language: Language = Language.EN) -> Floor:
    floor = await open_floor(store, clock, lines={"BANGLE-BRASS": 2})
    await floor.act(lambda s: set_language(s, person_id=floor.factory.admin, language=language))
    await components_in(floor, "BRASS-BANGLE", 2)
    [done] = await floor.admin.send(f"/assemble {floor.order.lines['BANGLE-BRASS']}")
    assert payloads(done) == [f"shipping:{floor.order.order_id}"]
    return floor


async def test_the_ship_button_asks_for_carrier_and_tracking_then_ships(
    store: Store, clock: FakeClock
) -> None:
    floor = await _ready(store, clock)
    order_id, reference = floor.order.order_id, quoted(floor.order.reference)

    [asked] = await floor.admin.send(payload=f"shipping:{order_id}")

    assert asked.text == t("en", "shipping.ask_carrier", id=order_id, order=reference)
    assert [(c.payload, c.label) for c in asked.choices] == [
        (UNTRACKED, t("en", "shipping.without_tracking"))
    ]
    assert (await _shipping(floor))[0] is OrderStatus.READY
    said = await floor.admin.say("G4S 12345")
    with_ = t("en", "admin.order_shipped_with", carrier=quoted("G4S"), tracking=quoted("12345"))
    assert said == t("en", "admin.shipped", id=order_id) + "\n" + with_
    assert await _shipping(floor) == (OrderStatus.SHIPPED, "G4S", "12345")
    # The question is closed: the next words are not a carrier.
    assert "G4S" not in await floor.admin.say("DHL 777")


async def test_bad_carrier_words_are_refused_in_kiswahili_and_asked_again(
    store: Store, clock: FakeClock
) -> None:
    floor = await _ready(store, clock, Language.SW)
    order_id = floor.order.order_id
    await floor.admin.send(payload=f"shipping:{order_id}")

    too_long = await floor.admin.say("Courier " * 10)
    assert too_long.startswith(t("sw", "admin.ship_carrier_too_long", max=60))
    tracking = await floor.admin.say("G4S " + "9" * 81)
    assert tracking.startswith(t("sw", "admin.ship_tracking_too_long", max=80))
    # Only invisible and control characters: nothing is left to record.
    hidden = await floor.admin.say("\u202e\u200b\x07")
    assert hidden.startswith(t("sw", "engine.empty"))
    assert (await _shipping(floor))[0] is OrderStatus.READY  # nothing half-made
    # Control characters inside the words are dropped at the edge, never stored.
    said = await floor.admin.say("Fargo\x07 Courier FC-\u200b00042")
    assert said.startswith(t("sw", "admin.shipped", id=order_id))
    assert await _shipping(floor) == (OrderStatus.SHIPPED, "Fargo Courier", "FC-00042")


async def test_ship_without_tracking_by_button_or_its_number_and_refusals(
    store: Store, clock: FakeClock
) -> None:
    floor = await _ready(store, clock)
    order_id = floor.order.order_id
    assert await floor.admin.say(payload="shipping:999") == t("en", "admin.order_not_found", id=999)
    await floor.admin.send(payload=f"shipping:{order_id}")
    shipped = await floor.admin.send("1")  # the question's one choice: Ship without tracking
    assert t("en", "admin.shipped", id=order_id) in [r.text for r in shipped]
    assert await _shipping(floor) == (OrderStatus.SHIPPED, None, None)
    # Pressed again later: already shipped, said so, nothing asked.
    assert await floor.admin.say(payload=f"shipping:{order_id}") == t(
        "en", "admin.ship_already", id=order_id
    )


# --- 3. numbers under a held offer in the web chat; "kubali" alone ------------------------------


async def _in_the_web_chat(floor: Floor, who: str, person_id: int) -> Chat:
    """The person opens the local web chat "as" themselves: a web identity on their address
    (as bot/channels/console.resolve_identity links it), their WhatsApp messages held."""
    _, address = CHATS[who]
    await floor.act(
        lambda s: link_identity(s, person_id=person_id, channel=Channel.WEB, address=address)
    )
    return Chat(floor.engine, floor.clock, address=address, channel=Channel.WEB)


async def test_a_number_typed_in_the_web_chat_under_a_held_offer_answers_it_in_kiswahili(
    floor: Floor,
) -> None:
    otieno = floor.factory.otieno  # reads Kiswahili, on WhatsApp, which the demo has not set up
    web = await _in_the_web_chat(floor, "otieno", otieno)
    await web.send("habari")  # the menu, in the web chat
    offer_id = await floor.offer("HORN-PENDANT", otieno, 6)  # held for WhatsApp: newest shown
    [held] = await floor.told(floor.otieno)
    assert held.choices[0].payload == f"offer:{offer_id}:accept"

    chose, accepted = await web.send("1")

    assert chose.text.startswith("Umechagua “" + held.choices[0].label + "”")
    assert accepted.text.startswith(f"Asante! Umekubali ofa #{offer_id}: 6 × ")
    assert await _offer_status(floor, offer_id) is OfferStatus.ACCEPTED


async def test_a_number_under_an_older_held_offer_is_not_guessed(floor: Floor) -> None:
    wanjiru = floor.factory.wanjiru
    offer_id = await floor.offer("HORN-PENDANT", wanjiru, 6)
    web = await _in_the_web_chat(floor, "wanjiru", wanjiru)
    await web.send("hi")  # the menu came after the held offer: it is the newest message now
    said = await web.say("1")
    # The menu's first item (the offers list), not the held offer's "Accept all".
    assert said == t("en", "artisan.offers_title", count=1)
    assert await _offer_status(floor, offer_id) is OfferStatus.OPEN


async def test_accept_alone_takes_the_one_open_offer_and_asks_which_of_several(
    floor: Floor,
) -> None:
    wanjiru, otieno = floor.factory.wanjiru, floor.factory.otieno
    assert await floor.wanjiru.say("accept") == t("en", "artisan.no_offers")
    only = await floor.offer("HORN-PENDANT", wanjiru, 4)
    said = await floor.wanjiru.say("accept")
    assert said.startswith(f"Thank you! Offer #{only} accepted: 4 × ")
    assert await _offer_status(floor, only) is OfferStatus.ACCEPTED

    first = await floor.offer("HORN-PENDANT", otieno, 3)
    second = await floor.offer("BRASS-HOOK", otieno, 5)
    which, listed = await floor.otieno.send("kubali")
    assert which.text == t("sw", "shipping.accept_which")
    assert listed.text == t("sw", "artisan.offers_title", count=2)
    assert sorted(payloads(listed)) == sorted([f"pick:{first}", f"pick:{second}"])
    assert await _offer_status(floor, first) is OfferStatus.OPEN
    assert await _offer_status(floor, second) is OfferStatus.OPEN
    # One of them on screen (the offer question after picking it): "kubali" answers that one.
    picked = int(listed.choices[1].payload.removeprefix("pick:"))
    await floor.otieno.send(payload=listed.choices[1].payload)
    said = await floor.otieno.say("kubali")
    assert said.startswith(f"Asante! Umekubali ofa #{picked}: ")
    other = first if picked == second else second
    assert await _offer_status(floor, picked) is OfferStatus.ACCEPTED
    assert await _offer_status(floor, other) is OfferStatus.OPEN
