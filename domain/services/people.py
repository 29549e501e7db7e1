"""People: artisans who register themselves, field agents and admins, and their chat identities."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain import events
from domain.errors import DomainError, NotFound, Problem
from domain.limits import MAX_WEEKLY_CAPACITY
from domain.model import (
    ARTISAN_TRANSITIONS,
    AgentArea,
    ArtisanProfile,
    ArtisanSkill,
    ArtisanStatus,
    Channel,
    ChannelIdentity,
    Language,
    Offer,
    OfferStatus,
    Person,
    Role,
)
from domain.phone import normalise_kenyan_mobile
from domain.services.catalogue import skills_in_use
from domain.services.guards import (
    InvalidField,
    clean_area,
    clean_skill,
    clean_text,
    load,
    person_in_role,
)
from domain.services.names import filed_area
from domain.services.offers import withdraw_offer

VERIFIERS = frozenset({Role.FIELD_AGENT, Role.ADMIN})

_CHANNEL_NAMES = {
    Channel.WHATSAPP: "WhatsApp number",
    Channel.TELEGRAM: "Telegram account",
    Channel.CONSOLE: "console user",
    Channel.WEB: "web account",
}


class IdentityTaken(DomainError):
    """A chat address already belongs to somebody: one identity, one person."""

    def __init__(self, channel: Channel, address: str) -> None:
        super().__init__(
            f"the {_CHANNEL_NAMES[channel]} {address} is already registered to someone else"
        )
        self.channel = channel
        self.address = address
        self.reasons = (Problem("identity_taken", {"channel": channel}),)


def _clean_address(address: str) -> str:
    return clean_text(address, field="channel address", max_length=64)


async def _claim(
    session: AsyncSession, person_id: int, channel: Channel, address: str
) -> ChannelIdentity:
    """Give ``address`` to the person; the unique index settles a race with another claimant."""
    identity = ChannelIdentity(person_id=person_id, channel=channel, address=address)
    session.add(identity)
    try:
        await session.flush()
    except IntegrityError as exc:
        # Someone committed the same address after we checked; the caller's unit of work rolls
        # back, and the person is told the same thing as if the check had caught it.
        raise IdentityTaken(channel, address) from exc
    return identity


async def person_by_identity(
    session: AsyncSession, channel: Channel, address: str
) -> Person | None:
    """Who writes to us from ``address`` on ``channel``, if we know them."""
    found = await session.exec(
        _BY_IDENTITY, params={"channel": channel, "address": address.strip()}
    )
    return found.first()


# Built once: every incoming message looks its sender up, and building the statement and its
# cache key each time cost more than running it.
_BY_IDENTITY = (
    select(Person)
    .join(ChannelIdentity, col(ChannelIdentity.person_id) == Person.id)
    .where(
        ChannelIdentity.channel == sa.bindparam("channel"),
        ChannelIdentity.address == sa.bindparam("address"),
    )
)


async def link_identity(
    session: AsyncSession, *, person_id: int, channel: Channel, address: str
) -> ChannelIdentity:
    """Let a person reach us from one more address; linking an address they have is a no-op."""
    address = _clean_address(address)
    await load(session, Person, person_id, what="person")
    existing = (
        await session.exec(
            select(ChannelIdentity).where(
                ChannelIdentity.channel == channel, ChannelIdentity.address == address
            )
        )
    ).first()
    if existing is not None:
        if existing.person_id != person_id:
            raise IdentityTaken(channel, address)
        return existing
    return await _claim(session, person_id, channel, address)


async def register_artisan(
    session: AsyncSession,
    *,
    name: str,
    workshop: str,
    area: str,
    skills: Mapping[str, int],
    mpesa_number: str,
    language: Language,
    channel: Channel,
    address: str,
    now: datetime,
) -> Person:
    """A new artisan, pending until a field agent has visited and verified them.

    ``skills`` maps each skill to the pieces a week the artisan can make with it. While the
    catalogue uses any skills, only those are accepted, so matching can find the artisan.
    """
    name = clean_text(name, field="name", max_length=80)
    workshop = clean_text(workshop, field="workshop", max_length=80)
    area = await filed_area(session, clean_area(area))  # "mathare" is the known Mathare
    address = _clean_address(address)
    mpesa = normalise_kenyan_mobile(mpesa_number)
    capacities = await _clean_skills(session, skills)
    if await person_by_identity(session, channel, address) is not None:
        raise IdentityTaken(channel, address)

    person = Person(name=name, role=Role.ARTISAN, language=language, area=area, created_at=now)
    session.add(person)
    await session.flush()
    assert person.id is not None
    await _claim(session, person.id, channel, address)
    session.add(ArtisanProfile(person_id=person.id, workshop=workshop, mpesa_number=mpesa))
    for skill, capacity in capacities.items():
        session.add(ArtisanSkill(artisan_id=person.id, skill=skill, weekly_capacity=capacity))
    await session.flush()
    events.record(session, events.ArtisanRegistered(artisan_id=person.id))
    return person


async def _clean_skills(session: AsyncSession, skills: Mapping[str, int]) -> dict[str, int]:
    if not skills:
        raise InvalidField("skills", "must name at least one skill").because(Problem("no_skill"))
    capacities: dict[str, int] = {}
    for raw, capacity in skills.items():
        skill = clean_skill(raw)
        if skill in capacities:
            raise InvalidField("skills", f"list {skill} twice").because(
                Problem("skill_twice", {"skill": skill})
            )
        if (
            isinstance(capacity, bool)
            or not isinstance(capacity, int)
            or not 0 <= capacity <= MAX_WEEKLY_CAPACITY
        ):
            raise InvalidField(
                f"weekly capacity for {skill}",
                f"must be a whole number from 0 to {MAX_WEEKLY_CAPACITY:,} ({capacity!r})",
            ).because(Problem("bad_capacity", {"skill": skill, "most": MAX_WEEKLY_CAPACITY}))
        capacities[skill] = capacity
    known = await skills_in_use(session)
    if known and (unknown := sorted(set(capacities) - set(known))):
        raise InvalidField(
            "skills",
            f"{', '.join(unknown)} not used by any product; choose from {', '.join(known)}",
        ).because(Problem("unknown_skills", {"skills": tuple(unknown), "known": tuple(known)}))
    return capacities


async def add_person(
    session: AsyncSession,
    *,
    role: Role,
    name: str,
    channel: Channel,
    address: str,
    language: Language = Language.EN,
    area: str | None = None,
    areas: Sequence[str] = (),
    at_workshop: bool = False,
    now: datetime,
) -> Person:
    """A field agent or an admin, reachable at one address; ``areas`` are those they cover;
    ``at_workshop``: a field agent working at the central workshop, who records assemblies."""
    if role is Role.ARTISAN:
        raise DomainError("artisans register themselves (with skills and M-Pesa number)")
    name = clean_text(name, field="name", max_length=80)
    address = _clean_address(address)
    home = None if area is None else await filed_area(session, clean_area(area))
    covered = sorted({await filed_area(session, clean_area(a)) for a in areas})
    if await person_by_identity(session, channel, address) is not None:
        raise IdentityTaken(channel, address)

    person = Person(
        name=name,
        role=role,
        language=language,
        area=home,
        created_at=now,
        at_workshop=at_workshop,
    )
    session.add(person)
    await session.flush()
    assert person.id is not None
    await _claim(session, person.id, channel, address)
    for covered_area in covered:
        session.add(AgentArea(agent_id=person.id, area=covered_area))
    await session.flush()
    return person


async def artisan_profile(session: AsyncSession, artisan_id: int) -> ArtisanProfile:
    profile = await session.get(ArtisanProfile, artisan_id)
    if profile is None:
        raise NotFound("artisan", artisan_id)
    return profile


async def verify_artisan(
    session: AsyncSession, *, artisan_id: int, agent_id: int, now: datetime
) -> ArtisanProfile:
    """A field agent (or admin) vouches for a pending artisan, who may now receive offers."""
    await person_in_role(session, agent_id, VERIFIERS, to="verify an artisan")
    profile = await artisan_profile(session, artisan_id)
    profile.status = ARTISAN_TRANSITIONS.check(profile.status, ArtisanStatus.ACTIVE)
    profile.verified_by = agent_id
    profile.verified_at = now
    await session.flush()
    events.record(session, events.ArtisanVerified(artisan_id=artisan_id, agent_id=agent_id))
    return profile


async def pause_artisan(
    session: AsyncSession, *, artisan_id: int, admin_id: int, now: datetime
) -> ArtisanProfile:
    """Stop offering work to an artisan; offers they have not answered yet are withdrawn.

    Work they already accepted stays theirs to finish.
    """
    await person_in_role(session, admin_id, {Role.ADMIN}, to="pause an artisan")
    profile = await artisan_profile(session, artisan_id)
    profile.status = ARTISAN_TRANSITIONS.check(profile.status, ArtisanStatus.PAUSED)
    open_offers = await session.exec(
        select(Offer).where(Offer.artisan_id == artisan_id, Offer.status == OfferStatus.OPEN)
    )
    for offer in list(open_offers):
        assert offer.id is not None
        await withdraw_offer(session, offer_id=offer.id, now=now)
    await session.flush()
    return profile


async def resume_artisan(
    session: AsyncSession, *, artisan_id: int, admin_id: int, now: datetime
) -> ArtisanProfile:
    """Offer work to a paused artisan again."""
    await person_in_role(session, admin_id, {Role.ADMIN}, to="resume an artisan")
    profile = await artisan_profile(session, artisan_id)
    profile.status = ARTISAN_TRANSITIONS.check(profile.status, ArtisanStatus.ACTIVE)
    await session.flush()
    return profile


async def set_at_workshop(
    session: AsyncSession, *, person_id: int, at_workshop: bool, admin_id: int
) -> Person:
    """An admin says whether a field agent works at the central workshop, where they may
    record assemblies (admins always may, so only field agents are marked)."""
    await person_in_role(session, admin_id, {Role.ADMIN}, to="say who works at the workshop")
    person = await load(session, Person, person_id, what="person")
    if person.role is not Role.FIELD_AGENT:
        raise InvalidField(
            "person",
            f"{person_id} is not a field agent; only field agents are marked as at the workshop",
        )
    person.at_workshop = at_workshop
    await session.flush()
    return person


async def set_language(session: AsyncSession, *, person_id: int, language: Language) -> Person:
    person = await load(session, Person, person_id, what="person")
    person.language = language
    await session.flush()
    return person


async def set_opted_out(session: AsyncSession, *, person_id: int, opted_out: bool) -> Person:
    """Record that a person asked us to stop (or may again start) sending them messages.

    An opted-out artisan receives no new offers.
    """
    person = await load(session, Person, person_id, what="person")
    person.opted_out = opted_out
    await session.flush()
    return person
