"""Verifying new artisans, which field agents and admins both do: the other side of registration.

- ``ArtisanRegistered``: the field agents covering the new artisan's area hear there is someone
  to visit, with a button that verifies them (every field agent when nobody covers the area, the
  admins when there are no field agents at all, so a registration is never left unseen);
- ``/pending`` (also the menu's "pending" for both roles) lists who is waiting: in the agent's
  areas, or everywhere for admins and for agents who cover no area yet;
- ``/verify <id>`` (or the button) makes the artisan active;
- ``ArtisanVerified``: the artisan hears they can start, with a button that opens the menu.

Shared by the agent and admin roles, so it sits beside registration rather than in either.
"""

from __future__ import annotations

import logging

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations.channel_choice import NAMES as CHANNEL_NAMES
from conversations.channel_choice import channel_named
from conversations.flow import Command, Context
from conversations.i18n import N_, Catalogue
from conversations.messages import Choice, Reply
from conversations.notices import NoticeContext, NoticeTable, tell
from conversations.queries import agent_areas
from domain import events
from domain.errors import DomainError, IllegalTransition, NotFound
from domain.limits import MAX_ID
from domain.model import (
    AgentArea,
    ArtisanProfile,
    ArtisanSkill,
    ArtisanStatus,
    Language,
    NameKind,
    Person,
    Role,
)
from domain.numbers import or_none, whole_number
from domain.services.channel_choice import NotOnChannel, choose_channel
from domain.services.people import verify_artisan
from domain.text import quoted

log = logging.getLogger(__name__)

MAX_LISTED = 20
VERIFIERS = frozenset({Role.FIELD_AGENT, Role.ADMIN})


async def _skills(
    session: AsyncSession, catalogue: Catalogue, language: Language, artisan_id: int
) -> str:
    """An artisan's skills by name with their weekly capacity: "beadwork (40), horn carving
    (25)", "kazi ya shanga (40), ..." in Kiswahili."""
    rows = await session.exec(
        select(ArtisanSkill)
        .where(ArtisanSkill.artisan_id == artisan_id)
        .order_by(col(ArtisanSkill.skill))
    )
    return ", ".join(
        f"{catalogue.name(language, NameKind.SKILL, s.skill)} ({s.weekly_capacity})" for s in rows
    )


# --- the list and the command ---------------------------------------------------------------


async def pending_artisans(ctx: Context) -> list[Reply]:
    """Artisans waiting for a visit: in the agent's areas, or everywhere for admins and for
    agents who cover no area yet."""
    statement = (
        select(Person, ArtisanProfile)
        .join(ArtisanProfile, col(ArtisanProfile.person_id) == Person.id)
        .where(ArtisanProfile.status == ArtisanStatus.PENDING)
        .order_by(col(Person.id))
    )
    areas: list[str] = []
    if ctx.person is not None and ctx.person.role is Role.FIELD_AGENT:
        assert ctx.person.id is not None
        areas = await agent_areas(ctx.session, ctx.person.id)
    if areas:
        statement = statement.where(func.lower(col(Person.area)).in_(areas))
    rows = list(await ctx.session.exec(statement.limit(MAX_LISTED)))
    if not rows:
        return [Reply(ctx.t("agent.no_pending"))]
    lines = []
    for person, profile in rows:
        assert person.id is not None
        lines.append(
            ctx.t(
                "agent.pending_line",
                id=person.id,
                name=quoted(person.name),
                workshop=quoted(profile.workshop),
                area=quoted(person.area),
                skills=await _skills(ctx.session, ctx.catalogue, ctx.language, person.id),
            )
        )
    return [Reply(ctx.t("agent.pending_title") + "\n\n" + "\n".join(lines))]


def _artisan_id(argument: str) -> int | None:
    """``12`` or ``#12`` as a number (``domain.numbers``, digits only); None for anything else.

    The same reading as the agents' ``parse_id`` (conversations/agent/queries.py): this module
    sits below the roles, so it reads the id itself rather than import theirs.
    """
    return or_none(whole_number, argument.strip().removeprefix("#"), most=MAX_ID, strict=True)


async def _verify(ctx: Context, argument: str) -> list[Reply]:
    assert ctx.person is not None
    assert ctx.person.id is not None
    # "/verify 12", or "/verify 12 sms" to choose at once where their business messages go.
    words = argument.split()
    artisan_id = _artisan_id(words[0]) if words else None
    channel = channel_named(words[1]) if len(words) == 2 else None
    if artisan_id is None or len(words) > 2 or (len(words) == 2 and channel is None):
        return [Reply(ctx.t("agent.verify_usage"))]
    try:
        await verify_artisan(
            ctx.session, artisan_id=artisan_id, agent_id=ctx.person.id, now=ctx.now
        )
    except NotFound:
        return [Reply(ctx.t("agent.verify_not_found", id=artisan_id))]
    except IllegalTransition:
        return [Reply(ctx.t("agent.verify_not_pending", id=artisan_id))]
    except DomainError as exc:
        log.warning("verify of artisan %s by person %s refused: %s", artisan_id, ctx.person.id, exc)
        return [Reply(ctx.t("command.forbidden"))]
    artisan = await ctx.session.get(Person, artisan_id)
    assert artisan is not None
    said = [Reply(ctx.t("agent.verified", id=artisan_id, name=quoted(artisan.name)))]
    if channel is not None:
        try:
            await choose_channel(ctx.session, artisan_id, channel)
        except NotOnChannel:
            said.append(Reply(ctx.t("channel.not_on", channel=CHANNEL_NAMES[channel])))
        else:
            said.append(
                Reply(
                    ctx.t(
                        "channel.chosen_for",
                        id=artisan_id,
                        name=artisan.name,
                        channel=CHANNEL_NAMES[channel],
                    )
                )
            )
    return said


COMMANDS: dict[str, Command] = {
    "pending": Command(
        VERIFIERS, lambda ctx, _arg: pending_artisans(ctx), N_("agent.help_pending")
    ),
    "verify": Command(VERIFIERS, _verify, N_("agent.help_verify"), button=True),
}


# --- the notices ------------------------------------------------------------------------------


async def verifiers_for(session: AsyncSession, area: str | None) -> list[Person]:
    """Field agents covering ``area``; every field agent if nobody covers it; admins if there
    are no field agents at all, so a registration is never left unseen."""
    if area:
        covering = await session.exec(
            select(Person)
            .join(AgentArea, col(AgentArea.agent_id) == Person.id)
            .where(func.lower(col(AgentArea.area)) == area.casefold())
            .where(Person.role == Role.FIELD_AGENT)
            .order_by(col(Person.id))
        )
        agents = list(covering)
        if agents:
            return agents
    for role in (Role.FIELD_AGENT, Role.ADMIN):
        people = list(
            await session.exec(select(Person).where(Person.role == role).order_by(col(Person.id)))
        )
        if people:
            return people
    return []


async def _artisan_registered(
    session: AsyncSession, event: events.ArtisanRegistered, ctx: NoticeContext
) -> int:
    artisan = await session.get(Person, event.artisan_id)
    profile = await session.get(ArtisanProfile, event.artisan_id)
    if artisan is None or profile is None:
        return 0
    sent = 0
    verifiers = await verifiers_for(session, artisan.area)
    if not verifiers:
        log.warning("artisan %s registered but there is nobody to verify them", artisan.id)
    for agent in verifiers:
        reply = Reply(
            ctx.catalogue.t(
                agent.language,
                "agent.verify_request",
                id=event.artisan_id,
                name=quoted(artisan.name),
                workshop=quoted(profile.workshop),
                area=quoted(artisan.area),
                skills=await _skills(session, ctx.catalogue, agent.language, event.artisan_id),
            ),
            choices=(
                Choice(
                    f"verify:{event.artisan_id}",
                    ctx.catalogue.t(agent.language, "agent.verify_button"),
                ),
            ),
        )
        sent += await tell(session, agent, reply, ctx.now)
    return sent


async def _artisan_verified(
    session: AsyncSession, event: events.ArtisanVerified, ctx: NoticeContext
) -> int:
    artisan = await session.get(Person, event.artisan_id)
    if artisan is None:
        return 0
    reply = Reply(
        ctx.catalogue.t(artisan.language, "registration.verified", name=artisan.name),
        choices=(Choice("cmd:menu", ctx.catalogue.t(artisan.language, "menu.open")),),
    )
    return await tell(session, artisan, reply, ctx.now)


NOTICES: NoticeTable = {
    events.ArtisanRegistered: _artisan_registered,
    events.ArtisanVerified: _artisan_verified,
}
