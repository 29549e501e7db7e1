"""A bare number answering a business message (a verify request, a job offer) on a channel
without buttons: it picks that message's option while its list is the newest numbered list the
person was shown, never disturbs a question waiting for a typed number, and the reply says what
was chosen."""

from __future__ import annotations

from sqlmodel import col, select

from conversations.i18n import t
from conversations.state import load_conversation
from domain.model import (
    Allocation,
    ArtisanProfile,
    ArtisanStatus,
    Channel,
    Language,
    Offer,
    OfferStatus,
)
from domain.services import people
from tests.integration.factory_fixtures import Floor


async def _newcomer(floor: Floor, name: str = "Akinyi Otieno") -> int:
    """A pending artisan in Kibera: Kamau, the area's agent, is asked to verify her."""
    artisan = await floor.act(
        lambda s: people.register_artisan(
            s,
            name=name,
            workshop="Akinyi Beads",
            area="Kibera",
            skills={"horn carving": 30},
            mpesa_number="0712999001",
            language=Language.EN,
            channel=Channel.WHATSAPP,
            address="+254712999001",
            now=floor.clock.now(),
        )
    )
    assert artisan.id is not None
    return artisan.id


async def _status(floor: Floor, artisan_id: int) -> ArtisanStatus:
    async with floor.store.transaction() as session:
        profile = await session.get(ArtisanProfile, artisan_id)
        assert profile is not None
        return profile.status


def _chosen(label: str, about: str) -> str:
    return t("en", "engine.business_choice", label=label, message=about)


async def test_an_idle_agent_answering_1_to_a_verify_request_verifies_and_is_told_so(
    floor: Floor,
) -> None:
    artisan_id = await _newcomer(floor)
    [request] = await floor.told(floor.agent)
    assert [c.label for c in request.choices] == [t("en", "agent.verify_button")]

    replies = await floor.agent.send("1")

    about = request.text.splitlines()[0]
    assert [r.text for r in replies] == [
        _chosen(t("en", "agent.verify_button"), about),
        t("en", "agent.verified", id=artisan_id, name="“Akinyi Otieno”"),
    ]
    assert await _status(floor, artisan_id) is ArtisanStatus.ACTIVE


async def test_a_verify_request_newer_than_the_menu_wins_the_number(floor: Floor) -> None:
    menu = await floor.agent.send("menu")
    assert menu[-1].choices, "the agent's menu offers numbered choices"
    artisan_id = await _newcomer(floor)

    replies = await floor.agent.send("1")

    assert replies[0].text.startswith(_chosen(t("en", "agent.verify_button"), "")[:12])
    assert await _status(floor, artisan_id) is ArtisanStatus.ACTIVE


async def test_a_menu_shown_after_the_verify_request_takes_the_number_back(floor: Floor) -> None:
    artisan_id = await _newcomer(floor)
    menu = await floor.agent.send("menu")
    assert menu[-1].choices

    replies = await floor.agent.send("1")

    assert all("“" + t("en", "agent.verify_button") + "”" not in r.text for r in replies)
    assert await _status(floor, artisan_id) is ArtisanStatus.PENDING
    async with floor.store.transaction() as session:
        state = await load_conversation(session, Channel.WHATSAPP, floor.agent.address)
    # What a number picks now is the menu the agent just used, never the older request.
    assert state.business_choices is not None
    assert all(c.payload.startswith("menu:") for c in state.business_choices.choices)


async def test_the_number_is_used_once(floor: Floor) -> None:
    artisan_id = await _newcomer(floor)
    await floor.agent.send("1")
    assert await _status(floor, artisan_id) is ArtisanStatus.ACTIVE

    again = await floor.agent.send("1")

    assert all(
        t("en", "agent.verified", id=artisan_id, name="“Akinyi Otieno”") != r.text for r in again
    )


async def test_a_question_waiting_for_a_typed_number_keeps_its_answer_and_the_offer_waits(
    floor: Floor,
) -> None:
    wanjiru = floor.factory.wanjiru
    first = await floor.offer("HORN-PENDANT", wanjiru, 6)
    asked = await floor.wanjiru.send(f"PART {first}")
    assert asked[-1].text == t(
        "en", "artisan.part_ask", id=first, quantity=6, component="Carved horn pendant", example=3
    )
    second = await floor.offer("BRASS-BANGLE", wanjiru, 4)

    # "2" is an answer to "how many?", not the new offer's second button.
    took = await floor.wanjiru.send("2")
    assert "“" not in took[0].text
    async with floor.store.transaction() as session:
        allocations = list(await session.exec(select(Allocation).order_by(col(Allocation.id))))
        assert [(a.artisan_id, a.quantity) for a in allocations] == [(wanjiru, 2)]

    # Now idle, but the reply to "how many?" came after the offer: her "1" picks nothing
    # (conversations/numbered.py); the offer's own button still accepts all of it.
    [unsure, menu] = await floor.wanjiru.send("1")
    assert unsure.text == t("en", "polish.number_stale", text="“1”")
    assert menu.text == t("en", "menu.title", name="Wanjiru")
    async with floor.store.transaction() as session:
        waiting = await session.get(Offer, second)
        assert waiting is not None
        assert waiting.status is OfferStatus.OPEN
    accepted = await floor.wanjiru.send(payload=f"offer:{second}:accept")
    assert f"#{second}" in accepted[-1].text
    async with floor.store.transaction() as session:
        offer = await session.get(Offer, second)
        assert offer is not None
        assert offer.status is OfferStatus.ACCEPTED


async def test_a_numbered_reply_to_an_offer_starts_accepting_part_of_it(floor: Floor) -> None:
    offer_id = await floor.offer("HORN-PENDANT", floor.factory.wanjiru, 8)

    replies = await floor.wanjiru.send("2")

    assert replies[0].text.startswith("You chose “" + t("en", "artisan.offer_accept_part"))
    assert replies[-1].text == t(
        "en",
        "artisan.part_ask",
        id=offer_id,
        quantity=8,
        component="Carved horn pendant",
        example=4,
    )
    done = await floor.wanjiru.send("I can do 5")
    assert "#" + str(offer_id) in done[-1].text


async def test_a_number_out_of_the_business_range_is_not_taken_for_it(floor: Floor) -> None:
    artisan_id = await _newcomer(floor)

    replies = await floor.agent.send("7")

    assert replies[0].text == t("en", "engine.didnt_understand", text="“7”")
    assert await _status(floor, artisan_id) is ArtisanStatus.PENDING
    async with floor.store.transaction() as session:
        state = await load_conversation(session, Channel.WHATSAPP, floor.agent.address)
    # The agent was shown the menu (a newer list): the request is answered by its button or code.
    assert state.business_choices is None
