"""A bare number answering a business message (a verify request, a job offer) on a channel
without buttons: it picks that message's option while its list is the newest numbered list the
person was shown, never disturbs a question waiting for a typed number, and the reply says what
was chosen."""

from __future__ import annotations

import pytest
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
from domain.store import Store
from tests.conftest import FakeClock
from tests.integration.artisan_world import World, build_world


@pytest.fixture
async def world(store: Store, clock: FakeClock) -> World:
    return await build_world(store, clock)


async def _newcomer(world: World, name: str = "Akinyi Otieno") -> int:
    """A pending artisan in Kibera: Kamau, the area's agent, is asked to verify her."""
    artisan = await world.act(
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
            now=world.clock.now(),
        )
    )
    assert artisan.id is not None
    return artisan.id


async def _status(world: World, artisan_id: int) -> ArtisanStatus:
    async with world.store.transaction() as session:
        profile = await session.get(ArtisanProfile, artisan_id)
        assert profile is not None
        return profile.status


def _chosen(label: str, about: str) -> str:
    return t("en", "engine.business_choice", label=label, message=about)


async def test_an_idle_agent_answering_1_to_a_verify_request_verifies_and_is_told_so(
    world: World,
) -> None:
    artisan_id = await _newcomer(world)
    [request] = await world.told(world.agent)
    assert [c.label for c in request.choices] == [t("en", "agent.verify_button")]

    replies = await world.agent.send("1")

    about = request.text.splitlines()[0]
    assert [r.text for r in replies] == [
        _chosen(t("en", "agent.verify_button"), about),
        t("en", "agent.verified", id=artisan_id, name="Akinyi Otieno"),
    ]
    assert await _status(world, artisan_id) is ArtisanStatus.ACTIVE


async def test_a_verify_request_newer_than_the_menu_wins_the_number(world: World) -> None:
    menu = await world.agent.send("menu")
    assert menu[-1].choices, "the agent's menu offers numbered choices"
    artisan_id = await _newcomer(world)

    replies = await world.agent.send("1")

    assert replies[0].text.startswith(_chosen(t("en", "agent.verify_button"), "")[:12])
    assert await _status(world, artisan_id) is ArtisanStatus.ACTIVE


async def test_a_menu_shown_after_the_verify_request_takes_the_number_back(world: World) -> None:
    artisan_id = await _newcomer(world)
    menu = await world.agent.send("menu")
    assert menu[-1].choices

    replies = await world.agent.send("1")

    assert all("“" + t("en", "agent.verify_button") + "”" not in r.text for r in replies)
    assert await _status(world, artisan_id) is ArtisanStatus.PENDING
    async with world.store.transaction() as session:
        state = await load_conversation(session, Channel.WHATSAPP, world.agent.address)
    assert state.business_choices is None


async def test_the_number_is_used_once(world: World) -> None:
    artisan_id = await _newcomer(world)
    await world.agent.send("1")
    assert await _status(world, artisan_id) is ArtisanStatus.ACTIVE

    again = await world.agent.send("1")

    assert all(
        t("en", "agent.verified", id=artisan_id, name="Akinyi Otieno") != r.text for r in again
    )


async def test_a_question_waiting_for_a_typed_number_keeps_its_answer_and_the_offer_waits(
    world: World,
) -> None:
    wanjiru = world.factory.wanjiru
    first = await world.offer("HORN-PENDANT", wanjiru, 6)
    asked = await world.wanjiru.send(f"PART {first}")
    assert asked[-1].text == t(
        "en", "artisan.part_ask", id=first, quantity=6, component="Horn pendant"
    )
    second = await world.offer("BRASS-BANGLE", wanjiru, 4)

    # "2" is an answer to "how many?", not the new offer's second button.
    took = await world.wanjiru.send("2")
    assert "“" not in took[0].text
    async with world.store.transaction() as session:
        allocations = list(await session.exec(select(Allocation).order_by(col(Allocation.id))))
        assert [(a.artisan_id, a.quantity) for a in allocations] == [(wanjiru, 2)]

    # Now idle, her "1" answers the newer offer: accept all of it.
    accepted = await world.wanjiru.send("1")
    assert accepted[0].text.startswith("You chose “" + t("en", "artisan.offer_accept_all"))
    assert f"#{second}" in accepted[1].text
    async with world.store.transaction() as session:
        offer = await session.get(Offer, second)
        assert offer is not None
        assert offer.status is OfferStatus.ACCEPTED


async def test_a_numbered_reply_to_an_offer_starts_accepting_part_of_it(world: World) -> None:
    offer_id = await world.offer("HORN-PENDANT", world.factory.wanjiru, 8)

    replies = await world.wanjiru.send("2")

    assert replies[0].text.startswith("You chose “" + t("en", "artisan.offer_accept_part"))
    assert replies[-1].text == t(
        "en", "artisan.part_ask", id=offer_id, quantity=8, component="Horn pendant"
    )
    done = await world.wanjiru.send("I can do 5")
    assert "#" + str(offer_id) in done[-1].text


async def test_a_number_out_of_the_business_range_is_not_taken_for_it(world: World) -> None:
    artisan_id = await _newcomer(world)

    replies = await world.agent.send("7")

    assert all("“" not in r.text for r in replies)
    assert await _status(world, artisan_id) is ArtisanStatus.PENDING
    async with world.store.transaction() as session:
        state = await load_conversation(session, Channel.WHATSAPP, world.agent.address)
    # The agent was shown the menu (a newer list): the request is answered by its button or code.
    assert state.business_choices is None
