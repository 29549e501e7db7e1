"""Turning domain events into business messages, each in its recipient's language.

Whoever owns the transaction (the engine after a message, a scheduler job after a sweep) drains
``domain.events`` and passes them here before commit, so the change and the messages about it are
one unit. Each event type has one handler; events nobody needs to hear about yet are skipped.
Opted-out people get nothing (``outbox.notify_person`` refuses them).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations import agent_notices, artisan_notices
from conversations.i18n import Catalogue
from conversations.messages import Choice, Reply
from conversations.outbox import notify_person
from domain import events
from domain.model import (
    AgentArea,
    ArtisanProfile,
    ArtisanSkill,
    OutboxMessage,
    Person,
    Role,
)
from domain.text import quoted

log = logging.getLogger(__name__)

Handler = Callable[[AsyncSession, Any, Catalogue, datetime], Awaitable[list[OutboxMessage]]]


async def _verifiers_for(session: AsyncSession, area: str | None) -> list[Person]:
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
    session: AsyncSession, event: events.ArtisanRegistered, catalogue: Catalogue, now: datetime
) -> list[OutboxMessage]:
    artisan = await session.get(Person, event.artisan_id)
    profile = await session.get(ArtisanProfile, event.artisan_id)
    if artisan is None or profile is None:
        return []
    skills = ", ".join(
        f"{s.skill} ({s.weekly_capacity})"
        for s in await session.exec(
            select(ArtisanSkill)
            .where(ArtisanSkill.artisan_id == event.artisan_id)
            .order_by(col(ArtisanSkill.skill))
        )
    )
    sent = []
    verifiers = await _verifiers_for(session, artisan.area)
    if not verifiers:
        log.warning("artisan %s registered but there is nobody to verify them", artisan.id)
    for agent in verifiers:
        reply = Reply(
            catalogue.t(
                agent.language,
                "agent.verify_request",
                id=event.artisan_id,
                name=quoted(artisan.name),
                workshop=quoted(profile.workshop),
                area=quoted(artisan.area),
                skills=skills,
            ),
            choices=(
                Choice(
                    f"verify:{event.artisan_id}", catalogue.t(agent.language, "agent.verify_button")
                ),
            ),
        )
        if (message := await notify_person(session, agent, reply, now=now)) is not None:
            sent.append(message)
    return sent


async def _artisan_verified(
    session: AsyncSession, event: events.ArtisanVerified, catalogue: Catalogue, now: datetime
) -> list[OutboxMessage]:
    artisan = await session.get(Person, event.artisan_id)
    if artisan is None:
        return []
    reply = Reply(
        catalogue.t(artisan.language, "registration.verified", name=artisan.name),
        choices=(Choice("cmd:menu", catalogue.t(artisan.language, "menu.open")),),
    )
    message = await notify_person(session, artisan, reply, now=now)
    return [] if message is None else [message]


_CORE: dict[type[events.Event], Handler] = {
    events.ArtisanRegistered: _artisan_registered,
    events.ArtisanVerified: _artisan_verified,
}


def _combine(*tables: Mapping[type[events.Event], Handler]) -> dict[type[events.Event], Handler]:
    """One handler per event type; when several areas' tables handle the same event (a delivery
    discrepancy is news to the artisan and to the admins), their handlers run in table order."""
    by_event: dict[type[events.Event], list[Handler]] = {}
    for table in tables:
        for event_type, handler in table.items():
            by_event.setdefault(event_type, []).append(handler)

    def chained(handlers: list[Handler]) -> Handler:
        async def run(
            session: AsyncSession, event: Any, catalogue: Catalogue, now: datetime
        ) -> list[OutboxMessage]:
            return [m for h in handlers for m in await h(session, event, catalogue, now)]

        return run

    return {
        event_type: handlers[0] if len(handlers) == 1 else chained(handlers)
        for event_type, handlers in by_event.items()
    }


HANDLERS: dict[type[events.Event], Handler] = _combine(
    _CORE, agent_notices.HANDLERS, artisan_notices.HANDLERS
)


async def queue_notifications(
    session: AsyncSession,
    recorded: Sequence[events.Event],
    *,
    catalogue: Catalogue,
    now: datetime,
) -> list[OutboxMessage]:
    """Outbox messages for every event someone should hear about, in the order they happened."""
    queued: list[OutboxMessage] = []
    for event in recorded:
        handler = HANDLERS.get(type(event))
        if handler is None:
            log.debug("no notification for %s yet", type(event).__name__)
            continue
        queued.extend(await handler(session, event, catalogue, now))
    return queued
