import asyncio
from collections.abc import Mapping
from datetime import datetime
from typing import Literal, TypedDict, Unpack

import pytest
from sqlmodel import select

from domain import events
from domain.errors import DomainError, Forbidden, IllegalTransition
from domain.model import (
    AgentArea,
    ArtisanProfile,
    ArtisanSkill,
    ArtisanStatus,
    Channel,
    ChannelIdentity,
    Language,
    OfferStatus,
    Person,
    Role,
)
from domain.phone import InvalidPhoneNumber
from domain.services.guards import InvalidField
from domain.services.offers import make_offer
from domain.services.people import (
    IdentityTaken,
    add_person,
    link_identity,
    pause_artisan,
    person_by_identity,
    register_artisan,
    resume_artisan,
    set_language,
    set_opted_out,
    verify_artisan,
)
from domain.store import Store
from tests.conftest import FakeClock
from tests.integration.factory_fixtures import (
    BEADS,
    BRASS,
    HORN,
    active_artisan,
    confirmed_order,
    hire_staff,
    ident,
    pending_artisan,
    stock_catalogue,
)


class Registration(TypedDict):
    """``register_artisan``'s keyword arguments."""

    name: str
    workshop: str
    area: str
    skills: Mapping[str, int]
    mpesa_number: str
    language: Language
    channel: Channel
    address: str
    now: datetime


class RegistrationChanges(TypedDict, total=False):
    """Any of them but ``now``, to change."""

    name: str
    workshop: str
    area: str
    skills: Mapping[str, int]
    mpesa_number: str
    language: Language
    channel: Channel
    address: str


def registration(now: datetime, **changes: Unpack[RegistrationChanges]) -> Registration:
    return {
        "name": "  Wanjiru Njeri ",
        "workshop": " Kibera Horn Collective ",
        "area": " Kibera ",
        "skills": {"Horn Carving": 40, BRASS: 0},
        "mpesa_number": "0712 345 678",
        "language": Language.SW,
        "channel": Channel.WHATSAPP,
        "address": "+254712345678",
        "now": now,
        **changes,
    }


async def test_a_registered_artisan_is_pending_with_a_normalised_mpesa_number_and_skills(
    any_store: Store, clock: FakeClock
) -> None:
    async with any_store.transaction() as session:
        await stock_catalogue(session)
    async with any_store.transaction() as session:
        person = await register_artisan(session, **registration(clock.now()))
        recorded = events.drain(session)
    async with any_store.transaction() as session:
        profile = await session.get(ArtisanProfile, ident(person))
        skills = (await session.exec(select(ArtisanSkill).order_by(ArtisanSkill.skill))).all()
        found = await person_by_identity(session, Channel.WHATSAPP, "+254712345678")

    assert (person.name, person.role, person.area, person.language) == (
        "Wanjiru Njeri",
        Role.ARTISAN,
        "Kibera",
        Language.SW,
    )
    assert profile is not None
    assert (profile.workshop, profile.mpesa_number, profile.status) == (
        "Kibera Horn Collective",
        "+254712345678",
        ArtisanStatus.PENDING,
    )
    assert [(s.skill, s.weekly_capacity) for s in skills] == [(BRASS, 0), (HORN, 40)]
    assert found is not None
    assert found.id == person.id
    assert recorded == [events.ArtisanRegistered(artisan_id=ident(person))]


async def test_an_address_that_already_belongs_to_someone_is_refused_naming_the_channel(
    any_store: Store, clock: FakeClock
) -> None:
    async with any_store.transaction() as session:
        await register_artisan(session, **registration(clock.now()))
    async with any_store.transaction() as session:
        with pytest.raises(IdentityTaken, match="WhatsApp number \\+254712345678 is already"):
            await register_artisan(session, **registration(clock.now(), name="Otieno"))
        people = (await session.exec(select(Person))).all()

    assert [p.name for p in people] == ["Wanjiru Njeri"]


async def test_two_people_claiming_one_number_at_once_leave_it_with_whoever_commits_first(
    any_store: Store, clock: FakeClock
) -> None:
    first_registered, release_first = asyncio.Event(), asyncio.Event()

    async def first() -> None:
        async with any_store.transaction() as session:
            await register_artisan(session, **registration(clock.now()))
            first_registered.set()
            await release_first.wait()

    async def second() -> None:
        await first_registered.wait()
        async with any_store.transaction() as session:
            await register_artisan(session, **registration(clock.now(), name="Otieno"))

    winner, loser = asyncio.create_task(first()), asyncio.create_task(second())
    await first_registered.wait()
    await asyncio.sleep(0.3)  # the second is now waiting on the first's lock (or index entry)
    release_first.set()
    await winner
    with pytest.raises(IdentityTaken, match="WhatsApp number \\+254712345678"):
        await loser
    async with any_store.transaction() as session:
        people = (await session.exec(select(Person))).all()

    assert [p.name for p in people] == ["Wanjiru Njeri"]


async def test_the_same_address_on_another_channel_is_someone_else(
    store: Store, clock: FakeClock
) -> None:
    async with store.transaction() as session:
        first = await register_artisan(session, **registration(clock.now()))
        second = await register_artisan(
            session,
            **registration(clock.now(), name="Otieno", channel=Channel.TELEGRAM),
        )
        on_telegram = await person_by_identity(session, Channel.TELEGRAM, "+254712345678")

    assert first.id != second.id
    assert on_telegram is not None
    assert on_telegram.id == second.id


@pytest.mark.parametrize("field", ["name", "workshop", "area"])
async def test_a_blank_name_workshop_or_area_is_refused(
    store: Store, clock: FakeClock, field: Literal["name", "workshop", "area"]
) -> None:
    async with store.transaction() as session:
        fields = registration(clock.now())
        fields[field] = "   "
        with pytest.raises(InvalidField, match=f"{field} must not be empty"):
            await register_artisan(session, **fields)


async def test_an_mpesa_number_that_is_not_a_kenyan_mobile_is_refused(
    store: Store, clock: FakeClock
) -> None:
    async with store.transaction() as session:
        with pytest.raises(InvalidPhoneNumber, match="not a valid Kenyan number"):
            await register_artisan(
                session,
                **registration(clock.now(), mpesa_number="+44 20 7946 0958"),
            )


async def test_a_skill_no_product_uses_is_refused_with_the_skills_to_choose_from(
    store: Store, clock: FakeClock
) -> None:
    async with store.transaction() as session:
        await stock_catalogue(session)
        with pytest.raises(InvalidField, match="welding not used by any product") as caught:
            await register_artisan(
                session,
                **registration(clock.now(), skills={"Welding": 5, HORN: 4}),
            )

    assert f"choose from {BEADS}, {BRASS}, {HORN}" in str(caught.value)


async def test_any_skill_is_accepted_while_the_catalogue_is_empty(
    store: Store, clock: FakeClock
) -> None:
    async with store.transaction() as session:
        person = await register_artisan(
            session,
            **registration(clock.now(), skills={"Welding": 5}),
        )
        skills = (await session.exec(select(ArtisanSkill))).all()

    assert [(s.artisan_id, s.skill) for s in skills] == [(person.id, "welding")]


@pytest.mark.parametrize(
    ("skills", "message"),
    [
        ({}, "at least one skill"),
        ({HORN: -1}, f"weekly capacity for {HORN} must be a whole number from 0 to 10,000"),
        ({HORN: 10_001}, f"weekly capacity for {HORN} must be a whole number from 0 to 10,000"),
        ({HORN: 1, " horn  CARVING ": 2}, f"{HORN} twice"),
    ],
)
async def test_skills_must_be_named_once_each_with_a_capacity_from_zero_to_the_most_allowed(
    store: Store, clock: FakeClock, skills: dict[str, int], message: str
) -> None:
    async with store.transaction() as session:
        with pytest.raises(InvalidField, match=message):
            await register_artisan(session, **registration(clock.now(), skills=skills))


async def test_a_field_agent_is_added_with_the_areas_they_cover(
    store: Store, clock: FakeClock
) -> None:
    async with store.transaction() as session:
        agent = await add_person(
            session,
            role=Role.FIELD_AGENT,
            name=" Kamau ",
            channel=Channel.TELEGRAM,
            address="551234",
            areas=["Kibera", " Gikomba", "Kibera"],
            now=clock.now(),
        )
        areas = (await session.exec(select(AgentArea))).all()

    assert (agent.name, agent.role, agent.language) == ("Kamau", Role.FIELD_AGENT, Language.EN)
    assert sorted((a.agent_id, a.area) for a in areas) == [
        (agent.id, "Gikomba"),
        (agent.id, "Kibera"),
    ]


async def test_artisans_cannot_be_added_past_registration(store: Store, clock: FakeClock) -> None:
    async with store.transaction() as session:
        with pytest.raises(DomainError, match="artisans register themselves"):
            await add_person(
                session,
                role=Role.ARTISAN,
                name="X",
                channel=Channel.WEB,
                address="x",
                now=clock.now(),
            )


async def test_adding_a_person_on_a_taken_address_is_refused(
    store: Store, clock: FakeClock
) -> None:
    async with store.transaction() as session:
        await register_artisan(session, **registration(clock.now()))
        with pytest.raises(IdentityTaken, match="WhatsApp number"):
            await add_person(
                session,
                role=Role.ADMIN,
                name="Achieng",
                channel=Channel.WHATSAPP,
                address="+254712345678",
                now=clock.now(),
            )


async def test_a_field_agent_verifies_a_pending_artisan_who_becomes_active(
    any_store: Store, clock: FakeClock
) -> None:
    async with any_store.transaction() as session:
        staff = await hire_staff(session, now=clock.now())
        artisan = await pending_artisan(session, now=clock.now())
        events.drain(session)
    visit = clock.advance(days=2)
    async with any_store.transaction() as session:
        profile = await verify_artisan(
            session, artisan_id=ident(artisan), agent_id=staff.agent, now=visit
        )
        recorded = events.drain(session)
    async with any_store.transaction() as session:
        stored = await session.get(ArtisanProfile, ident(artisan))

    assert profile.status is ArtisanStatus.ACTIVE
    assert stored is not None
    assert (stored.status, stored.verified_by, stored.verified_at) == (
        ArtisanStatus.ACTIVE,
        staff.agent,
        visit,
    )
    assert recorded == [events.ArtisanVerified(artisan_id=ident(artisan), agent_id=staff.agent)]


async def test_an_admin_may_verify_an_artisan_too(store: Store, clock: FakeClock) -> None:
    async with store.transaction() as session:
        staff = await hire_staff(session, now=clock.now())
        artisan = await pending_artisan(session, now=clock.now())
        profile = await verify_artisan(
            session, artisan_id=ident(artisan), agent_id=staff.admin, now=clock.now()
        )

    assert profile.verified_by == staff.admin


async def test_an_artisan_cannot_verify_another_artisan(store: Store, clock: FakeClock) -> None:
    async with store.transaction() as session:
        staff = await hire_staff(session, now=clock.now())
        vouching = await active_artisan(
            session, verified_by=staff.agent, now=clock.now(), name="Otieno"
        )
        artisan = await pending_artisan(session, now=clock.now())
        with pytest.raises(Forbidden, match="only an admin or field agent may verify an artisan"):
            await verify_artisan(
                session, artisan_id=ident(artisan), agent_id=ident(vouching), now=clock.now()
            )
        profile = await session.get(ArtisanProfile, ident(artisan))

    assert profile is not None
    assert profile.status is ArtisanStatus.PENDING


async def test_an_active_artisan_cannot_be_verified_again(store: Store, clock: FakeClock) -> None:
    async with store.transaction() as session:
        staff = await hire_staff(session, now=clock.now())
        artisan = await active_artisan(session, verified_by=staff.agent, now=clock.now())
        with pytest.raises(IllegalTransition, match="that is active cannot become active"):
            await verify_artisan(
                session, artisan_id=ident(artisan), agent_id=staff.agent, now=clock.now()
            )


async def test_pausing_an_artisan_withdraws_their_unanswered_offers(
    store: Store, clock: FakeClock
) -> None:
    async with store.transaction() as session:
        await stock_catalogue(session)
        staff = await hire_staff(session, now=clock.now())
        artisan = await active_artisan(session, verified_by=staff.agent, now=clock.now())
        order = await confirmed_order(session, now=clock.now())
        offer = await make_offer(
            session,
            job_id=order.jobs["HORN-PENDANT"],
            artisan_id=ident(artisan),
            quantity=5,
            expires_at=clock.now().replace(hour=20),
            now=clock.now(),
        )
        events.drain(session)
        profile = await pause_artisan(
            session, artisan_id=ident(artisan), admin_id=staff.admin, now=clock.now()
        )
        recorded = events.drain(session)

    assert profile.status is ArtisanStatus.PAUSED
    assert offer.status is OfferStatus.WITHDRAWN
    assert recorded == [events.OfferWithdrawn(offer_id=ident(offer), artisan_id=ident(artisan))]


async def test_a_paused_artisan_is_resumed_by_an_admin(store: Store, clock: FakeClock) -> None:
    async with store.transaction() as session:
        staff = await hire_staff(session, now=clock.now())
        artisan = await active_artisan(session, verified_by=staff.agent, now=clock.now())
        await pause_artisan(
            session, artisan_id=ident(artisan), admin_id=staff.admin, now=clock.now()
        )
        profile = await resume_artisan(
            session, artisan_id=ident(artisan), admin_id=staff.admin, now=clock.now()
        )

    assert profile.status is ArtisanStatus.ACTIVE


async def test_only_an_admin_may_pause_or_resume_an_artisan(store: Store, clock: FakeClock) -> None:
    async with store.transaction() as session:
        staff = await hire_staff(session, now=clock.now())
        artisan = await active_artisan(session, verified_by=staff.agent, now=clock.now())
        with pytest.raises(Forbidden, match="only an admin may pause an artisan; Kamau is a field"):
            await pause_artisan(
                session, artisan_id=ident(artisan), admin_id=staff.agent, now=clock.now()
            )
        with pytest.raises(Forbidden, match="only an admin may resume an artisan"):
            await resume_artisan(
                session, artisan_id=ident(artisan), admin_id=ident(artisan), now=clock.now()
            )


async def test_a_pending_artisan_cannot_be_paused(store: Store, clock: FakeClock) -> None:
    async with store.transaction() as session:
        staff = await hire_staff(session, now=clock.now())
        artisan = await pending_artisan(session, now=clock.now())
        with pytest.raises(IllegalTransition, match="pending cannot become paused"):
            await pause_artisan(
                session, artisan_id=ident(artisan), admin_id=staff.admin, now=clock.now()
            )


async def test_a_person_can_link_a_second_identity_and_be_found_by_either(
    store: Store, clock: FakeClock
) -> None:
    async with store.transaction() as session:
        artisan = await pending_artisan(session, now=clock.now())
        await link_identity(
            session, person_id=ident(artisan), channel=Channel.TELEGRAM, address=" 987654 "
        )
        again = await link_identity(
            session, person_id=ident(artisan), channel=Channel.TELEGRAM, address="987654"
        )
        found = await person_by_identity(session, Channel.TELEGRAM, "987654")
        identities = (await session.exec(select(ChannelIdentity))).all()

    assert found is not None
    assert found.id == artisan.id
    assert again.person_id == artisan.id
    assert sorted(i.channel for i in identities) == [Channel.TELEGRAM, Channel.WHATSAPP]


async def test_an_identity_belonging_to_someone_else_cannot_be_linked(
    store: Store, clock: FakeClock
) -> None:
    async with store.transaction() as session:
        first = await pending_artisan(session, now=clock.now())
        second = await pending_artisan(session, now=clock.now(), name="Otieno")
        await link_identity(session, person_id=ident(first), channel=Channel.TELEGRAM, address="1")
        with pytest.raises(IdentityTaken, match="the Telegram account 1 is already registered"):
            await link_identity(
                session, person_id=ident(second), channel=Channel.TELEGRAM, address="1"
            )


async def test_an_unknown_address_belongs_to_nobody(store: Store) -> None:
    async with store.transaction() as session:
        assert await person_by_identity(session, Channel.WHATSAPP, "+254700000000") is None


async def test_a_person_changes_language_and_opts_out_and_back_in(
    store: Store, clock: FakeClock
) -> None:
    async with store.transaction() as session:
        artisan = await pending_artisan(session, now=clock.now())
        await set_language(session, person_id=ident(artisan), language=Language.EN)
        await set_opted_out(session, person_id=ident(artisan), opted_out=True)
    async with store.transaction() as session:
        stored = await session.get(Person, ident(artisan))
        assert stored is not None
        assert (stored.language, stored.opted_out) == (Language.EN, True)
        await set_opted_out(session, person_id=ident(artisan), opted_out=False)

    assert stored.opted_out is False
