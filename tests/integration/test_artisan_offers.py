"""Artisans answer job offers end to end through the engine: buttons, typed codes and the menu."""

from __future__ import annotations

import asyncio

import pytest
from sqlmodel import select

from conversations.engine import Engine
from conversations.formatting import money, written_date
from conversations.i18n import t
from conversations.registry import REGISTRY
from domain.model import Allocation, DeclineReason, Offer, OfferStatus
from domain.services.offers import expire_offers, job_remainder, withdraw_offer
from domain.store import Store, is_sqlite
from tests.conftest import FakeClock
from tests.integration.conversation_driver import Chat
from tests.integration.factory_fixtures import Floor, open_floor, payloads, texts
from tests.integration.overlap import meeting

LINES = {"NECKLACE-HORN": 10, "BANGLE-BRASS": 6}  # the floor fixture's order


async def _offer(floor: Floor, offer_id: int) -> Offer:
    async with floor.store.transaction() as session:
        offer = await session.get(Offer, offer_id)
    assert offer is not None
    return offer


async def _allocations(floor: Floor) -> list[Allocation]:
    async with floor.store.transaction() as session:
        return list((await session.exec(select(Allocation))).all())


async def test_an_offer_notification_shows_everything_needed_to_decide_with_buttons_and_codes(
    floor: Floor,
) -> None:
    offer_id = await floor.offer("HORN-PENDANT", floor.factory.wanjiru, 10)

    [message] = await floor.told(floor.wanjiru)
    assert "10 × Carved horn pendant" in message.text
    assert "KES 150 a piece, KES 1,500 in all" in message.text
    assert "cattle horn 0.5 kg" in message.text  # 0.05 kg a piece x 10
    assert "Monday 2 March 22:00" in message.text  # expires 12 h after 10:00 Nairobi time
    offer = await _offer(floor, offer_id)
    assert f"Due: {written_date('en', offer.due_date)}" in message.text
    assert f"ACCEPT {offer_id}" in message.text
    assert payloads(message) == [
        f"offer:{offer_id}:accept",
        f"offer:{offer_id}:part",
        f"offer:{offer_id}:decline",
    ]


async def test_with_several_open_offers_a_typed_code_answers_exactly_the_one_it_names(
    floor: Floor,
) -> None:
    pendants = await floor.offer("HORN-PENDANT", floor.factory.wanjiru, 10)
    bangles = await floor.offer("BRASS-BANGLE", floor.factory.wanjiru, 6)

    [reply] = await floor.wanjiru.send(f"ACCEPT {bangles}")

    assert "6 × Brass bangle" in reply.text
    assert (await _offer(floor, bangles)).status is OfferStatus.ACCEPTED
    assert (await _offer(floor, pendants)).status is OfferStatus.OPEN
    [allocation] = await _allocations(floor)
    assert (allocation.offer_id, allocation.quantity) == (bangles, 6)

    await floor.wanjiru.send(f"decline {pendants} no materials")
    declined = await _offer(floor, pendants)
    assert declined.status is OfferStatus.DECLINED
    assert declined.decline_reason is DeclineReason.NO_MATERIALS


async def test_accept_all_by_button_creates_the_allocation_at_the_offered_rate(
    floor: Floor,
) -> None:
    offer_id = await floor.offer("HORN-PENDANT", floor.factory.wanjiru, 10)
    [reply] = await floor.wanjiru.send(payload=f"offer:{offer_id}:accept")
    [allocation] = await _allocations(floor)
    assert reply.text == t(
        "en",
        "artisan.offer_accepted",
        id=offer_id,
        quantity=10,
        component="Carved horn pendant",
        due=written_date("en", allocation.due_date),
        total="KES 1,500",
    )
    assert (allocation.quantity, allocation.piece_rate_cents) == (10, 15_000)


async def test_accepting_part_asks_how_many_and_returns_the_rest_to_the_job(floor: Floor) -> None:
    offer_id = await floor.offer("HORN-PENDANT", floor.factory.wanjiru, 10)

    [question] = await floor.wanjiru.send(payload=f"offer:{offer_id}:part")
    assert question.text == t(
        "en",
        "artisan.part_ask",
        id=offer_id,
        quantity=10,
        component="Carved horn pendant",
        example=5,
    )
    assert await floor.wanjiru.say("lots") == t(
        "en", "artisan.part_not_a_number", max=10, example=5
    )
    assert await floor.wanjiru.say("I can do 11") == t(
        "en", "artisan.part_out_of_range", id=offer_id, max=10
    )
    assert (await _offer(floor, offer_id)).status is OfferStatus.OPEN

    [done] = await floor.wanjiru.send("I can do 4")
    assert "4 × Carved horn pendant" in done.text
    assert (await _offer(floor, offer_id)).status is OfferStatus.PARTLY_ACCEPTED
    [allocation] = await _allocations(floor)
    assert allocation.quantity == 4
    async with floor.store.transaction() as session:
        assert await job_remainder(session, floor.order.jobs["HORN-PENDANT"]) == 6


@pytest.mark.parametrize(
    "answer",
    ["-5", "−5", "- 5", "I can do -5", "+5", "2.5", "2,5", "1e3", "five", "3 or 4", "9" * 20],
)
async def test_a_part_answer_that_is_not_a_plain_count_is_refused_with_the_hint(
    floor: Floor, answer: str
) -> None:
    offer_id = await floor.offer("HORN-PENDANT", floor.factory.wanjiru, 10)
    await floor.wanjiru.send(f"PART {offer_id}")

    assert await floor.wanjiru.say(answer) == t(
        "en", "artisan.part_not_a_number", max=10, example=5
    )

    assert (await _offer(floor, offer_id)).status is OfferStatus.OPEN
    assert await _allocations(floor) == []
    [done] = await floor.wanjiru.send("5.")  # still asking, and a full stop is no fraction
    assert "5 × Carved horn pendant" in done.text


async def test_part_with_a_number_in_the_code_accepts_at_once(floor: Floor) -> None:
    offer_id = await floor.offer("HORN-PENDANT", floor.factory.wanjiru, 10)
    await floor.wanjiru.send(f"PART {offer_id} 3")
    [allocation] = await _allocations(floor)
    assert allocation.quantity == 3


async def test_declining_asks_the_reason_as_choices(floor: Floor) -> None:
    offer_id = await floor.offer("HORN-PENDANT", floor.factory.wanjiru, 10)

    [question] = await floor.wanjiru.send(payload=f"offer:{offer_id}:decline")
    assert [c.label for c in question.choices] == [
        "I'm busy",
        "No materials",
        "Rate too low",
        "Other reason",
    ]
    assert await floor.wanjiru.say("3") == t("en", "artisan.offer_declined", id=offer_id)
    declined = await _offer(floor, offer_id)
    assert (declined.status, declined.decline_reason) == (
        OfferStatus.DECLINED,
        DeclineReason.RATE_TOO_LOW,
    )


async def test_a_typed_reason_that_is_none_of_ours_is_kept_as_other(floor: Floor) -> None:
    offer_id = await floor.offer("HORN-PENDANT", floor.factory.wanjiru, 10)
    await floor.wanjiru.send(f"DECLINE {offer_id}")
    await floor.wanjiru.send("Family wedding this week")
    declined = await _offer(floor, offer_id)
    assert declined.decline_reason is DeclineReason.OTHER
    assert declined.decline_note == "Family wedding this week"


async def test_another_artisans_offer_button_is_refused_and_nothing_changes(floor: Floor) -> None:
    offer_id = await floor.offer("HORN-PENDANT", floor.factory.wanjiru, 10)

    for attempt in (
        {"payload": f"offer:{offer_id}:accept"},
        {"payload": f"offer:{offer_id}:part"},
        {"payload": f"offer:{offer_id}:decline"},
    ):
        assert await floor.otieno.say(**attempt) == t("sw", "artisan.offer_not_yours", id=offer_id)
    assert await floor.otieno.say(f"KUBALI {offer_id}") == t(
        "sw", "artisan.offer_not_yours", id=offer_id
    )
    assert (await _offer(floor, offer_id)).status is OfferStatus.OPEN
    assert await _allocations(floor) == []


async def test_a_field_agent_cannot_press_an_artisans_offer_button(floor: Floor) -> None:
    offer_id = await floor.offer("HORN-PENDANT", floor.factory.wanjiru, 10)
    assert await floor.agent.say(payload=f"offer:{offer_id}:accept") == t("en", "command.forbidden")
    assert (await _offer(floor, offer_id)).status is OfferStatus.OPEN


async def test_an_expired_offer_is_refused_even_before_the_sweep(floor: Floor) -> None:
    offer_id = await floor.offer("HORN-PENDANT", floor.factory.wanjiru, 10, hours=2)
    floor.clock.advance(hours=3)
    assert await floor.wanjiru.say(f"ACCEPT {offer_id}") == t(
        "en", "artisan.offer_expired", id=offer_id
    )
    assert await floor.wanjiru.say(payload=f"offer:{offer_id}:part") == t(
        "en", "artisan.offer_expired", id=offer_id
    )
    assert await _allocations(floor) == []


async def test_a_withdrawn_offer_is_refused_and_the_artisan_was_told(floor: Floor) -> None:
    offer_id = await floor.offer("HORN-PENDANT", floor.factory.wanjiru, 10)
    await floor.act(lambda s: withdraw_offer(s, offer_id=offer_id, now=floor.clock.now()))

    assert await floor.wanjiru.say(payload=f"offer:{offer_id}:accept") == t(
        "en", "artisan.offer_withdrawn", id=offer_id
    )
    told = texts(await floor.told(floor.wanjiru))
    assert told[-1] == t(
        "en",
        "artisan.offer_withdrawn_notice",
        id=offer_id,
        quantity=10,
        component="Carved horn pendant",
    )


async def test_over_offered_the_first_to_accept_take_the_pieces_and_the_others_are_told(
    floor: Floor,
) -> None:
    # Ten pendants offered 6 + 10 over two artisans: whoever answers first takes their share.
    first = await floor.offer("HORN-PENDANT", floor.factory.otieno, 6, over_offer=2.0)
    second = await floor.offer("HORN-PENDANT", floor.factory.wanjiru, 10, over_offer=2.0)
    await floor.otieno.send(f"ACCEPT {first}")

    [reply] = await floor.wanjiru.send(payload=f"offer:{second}:accept")

    allocation = next(a for a in await _allocations(floor) if a.offer_id == second)
    assert reply.text == t(
        "en",
        "artisan.offer_accepted_last",
        id=second,
        quantity=4,
        component="Carved horn pendant",
        due=written_date("en", allocation.due_date),
        total="KES 600",
    )
    assert (await _offer(floor, second)).status is OfferStatus.PARTLY_ACCEPTED


async def test_an_over_offered_artisan_is_told_kindly_when_others_took_every_piece(
    floor: Floor,
) -> None:
    taken = await floor.offer("HORN-PENDANT", floor.factory.otieno, 10, over_offer=2.0)
    missed = await floor.offer("HORN-PENDANT", floor.factory.wanjiru, 10, over_offer=2.0)

    await floor.otieno.send(f"ACCEPT {taken}")

    told = texts(await floor.told(floor.wanjiru))
    assert told[-1] == t(
        "en", "artisan.offer_filled_notice", id=missed, quantity=10, component="Carved horn pendant"
    )
    assert await floor.wanjiru.say(f"ACCEPT {missed}") == t(
        "en", "artisan.offer_withdrawn", id=missed
    )
    assert (await _offer(floor, missed)).status is OfferStatus.WITHDRAWN


async def test_an_answered_offer_cannot_be_answered_again(floor: Floor) -> None:
    offer_id = await floor.offer("HORN-PENDANT", floor.factory.wanjiru, 10)
    await floor.wanjiru.send(f"ACCEPT {offer_id}")
    assert await floor.wanjiru.say(f"DECLINE {offer_id}") == t(
        "en", "artisan.offer_answered", id=offer_id
    )


async def test_the_menu_lists_open_offers_and_lets_the_artisan_pick_one(floor: Floor) -> None:
    await floor.offer("HORN-PENDANT", floor.factory.wanjiru, 10)
    bangles = await floor.offer("BRASS-BANGLE", floor.factory.wanjiru, 6)

    await floor.wanjiru.send("hi")
    [listing] = await floor.wanjiru.send("Job offers")
    assert listing.text == t("en", "artisan.offers_title", count=2)
    labels = [c.label for c in listing.choices]
    assert labels[1] == f"#{bangles} 6 × Brass bangle (KES 1,800)"

    [details] = await floor.wanjiru.send("2")
    assert "6 × Brass bangle" in details.text
    [question] = await floor.wanjiru.send("2")  # accept part
    assert question.text.startswith(f"Offer #{bangles} is for 6")
    await floor.wanjiru.send("5")
    [allocation] = await _allocations(floor)
    assert (allocation.offer_id, allocation.quantity) == (bangles, 5)


async def test_the_menu_says_so_when_there_are_no_offers(floor: Floor) -> None:
    await floor.wanjiru.send("hi")
    assert await floor.wanjiru.say("1") == t("en", "artisan.no_offers")


async def test_kiswahili_offer_answered_with_kiswahili_words(floor: Floor) -> None:
    offer_id = await floor.offer("HORN-PENDANT", floor.factory.otieno, 10)
    [message] = await floor.told(floor.otieno)
    assert message.text.startswith(t("sw", "artisan.offer_new"))
    assert f"KUBALI {offer_id}" in message.text
    assert [c.label for c in message.choices] == ["Kubali zote", "Kubali sehemu", "Kataa"]

    await floor.otieno.send(f"SEHEMU {offer_id}")
    [done] = await floor.otieno.send("naweza 7")
    assert done.text.startswith("Asante!")
    [allocation] = await _allocations(floor)
    assert allocation.quantity == 7


async def test_an_offer_expiring_unanswered_is_explained_kindly(floor: Floor) -> None:
    offer_id = await floor.offer("HORN-PENDANT", floor.factory.wanjiru, 10, hours=1)
    floor.clock.advance(hours=2)
    await floor.act(lambda s: expire_offers(s, now=floor.clock.now()))
    told = texts(await floor.told(floor.wanjiru))
    assert told[-1] == t(
        "en",
        "artisan.offer_expired_notice",
        id=offer_id,
        quantity=10,
        component="Carved horn pendant",
    )


async def test_the_code_words_are_still_answers_for_someone_who_is_not_an_artisan(
    floor: Floor,
) -> None:
    # A field agent's words are never taken for an artisan's code: not understood, and the menu.
    said, menu = await floor.agent.send("kataa 2")
    assert said.text == t("en", "engine.didnt_understand", text="“kataa 2”")
    assert menu.text == t("en", "menu.title", name="Kamau")


async def test_only_artisans_may_run_the_artisan_commands(floor: Floor) -> None:
    offer_id = await floor.offer("HORN-PENDANT", floor.factory.wanjiru, 10)
    for command in (
        f"/accept {offer_id}",
        f"/part {offer_id} 3",
        f"/decline {offer_id}",
        "/morephotos 1",
    ):
        assert await floor.agent.say(command) == t("en", "command.forbidden"), command
    assert await floor.agent.say(payload="morephotos:1") == t("en", "command.forbidden")
    assert (await _offer(floor, offer_id)).status is OfferStatus.OPEN


async def test_typed_part_and_decline_codes_are_refused_on_someone_elses_offer(
    floor: Floor,
) -> None:
    offer_id = await floor.offer("HORN-PENDANT", floor.factory.wanjiru, 10)
    refused = t("sw", "artisan.offer_not_yours", id=offer_id)
    assert await floor.otieno.say(f"SEHEMU {offer_id} 3") == refused
    assert await floor.otieno.say(f"KATAA {offer_id} nina kazi nyingi") == refused
    assert await floor.otieno.say(f"sehemu {offer_id}") == refused
    assert (await _offer(floor, offer_id)).status is OfferStatus.OPEN
    assert await _allocations(floor) == []


async def test_a_typed_code_that_answers_the_offer_being_picked_closes_the_offers_list(
    floor: Floor,
) -> None:
    pendants = await floor.offer("HORN-PENDANT", floor.factory.wanjiru, 10)
    await floor.wanjiru.send("hi")
    [listing] = await floor.wanjiru.send("Job offers")
    assert listing.text == t("en", "artisan.offers_title", count=1)

    await floor.wanjiru.send(f"ACCEPT {pendants}")
    # The list was for choosing an offer to answer; it is answered, so the next message starts
    # afresh instead of being read as a pick from a list that no longer applies.
    [menu] = await floor.wanjiru.send("hello")
    assert "1 to 1" not in menu.text
    assert t("en", "menu.item.offers") in [choice.label for choice in menu.choices]
    [allocation] = await _allocations(floor)
    assert (allocation.offer_id, allocation.quantity) == (pendants, 10)


# --- at once, on every backend (tests/integration/overlap.py holds them at the job's order) ----


def _accepted(language: str, allocation: Allocation, *, last: bool) -> str:
    return t(
        language,
        "artisan.offer_accepted_last" if last else "artisan.offer_accepted",
        id=allocation.offer_id,
        quantity=allocation.quantity,
        component="Carved horn pendant",
        due=written_date(language, allocation.due_date),
        total=money(allocation.quantity * allocation.piece_rate_cents),
    )


async def test_two_artisans_accepting_more_than_is_left_at_once_share_the_job_exactly(
    any_store: Store, clock: FakeClock
) -> None:
    floor = await open_floor(any_store, clock, lines=LINES)
    # Twelve of the ten pendants offered: whoever answers first gets six, the other the rest.
    offers = {
        "otieno": await floor.offer("HORN-PENDANT", floor.factory.otieno, 6, over_offer=2.0),
        "wanjiru": await floor.offer("HORN-PENDANT", floor.factory.wanjiru, 6, over_offer=2.0),
    }

    with meeting(any_store, table="customer_order") as met:
        answered = await asyncio.gather(
            *(
                floor.chat(who).send(payload=f"offer:{offer}:accept")
                for who, offer in offers.items()
            )
        )

    assert met.met or is_sqlite(str(any_store.engine.url))
    allocations = {a.offer_id: a for a in await _allocations(floor)}
    assert sorted(a.quantity for a in allocations.values()) == [4, 6]
    said = {who: texts(replies) for who, replies in zip(offers, answered, strict=True)}
    assert said == {
        who: [
            _accepted(
                language, allocations[offers[who]], last=allocations[offers[who]].quantity == 4
            )
        ]
        for who, language in (("otieno", "sw"), ("wanjiru", "en"))
    }


async def test_an_artisan_double_tapping_accept_on_two_servers_at_once_gets_one_allocation(
    any_store: Store, clock: FakeClock
) -> None:
    floor = await open_floor(any_store, clock, lines=LINES)
    offer_id = await floor.offer("HORN-PENDANT", floor.factory.wanjiru, 10)
    # Each server queues one person's messages in order; two servers can take one each.
    other_server = Chat(
        Engine(any_store, registry=REGISTRY),
        clock,
        address=floor.wanjiru.address,
        channel=floor.wanjiru.channel,
    )

    with meeting(any_store, table="customer_order") as met:
        answered = await asyncio.gather(
            floor.wanjiru.send(payload=f"offer:{offer_id}:accept"),
            other_server.send(payload=f"offer:{offer_id}:accept"),
        )

    assert met.met or is_sqlite(str(any_store.engine.url))
    [allocation] = await _allocations(floor)
    assert (allocation.offer_id, allocation.quantity) == (offer_id, 10)
    assert sorted(texts([*answered[0], *answered[1]])) == sorted(
        [_accepted("en", allocation, last=False), t("en", "artisan.offer_answered", id=offer_id)]
    )
    assert (await _offer(floor, offer_id)).status is OfferStatus.ACCEPTED
