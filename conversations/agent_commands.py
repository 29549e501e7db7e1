"""Slash commands for field agents and admins, each checked against the sender's role.

``/pending`` (artisans waiting to be verified, in the agent's areas), ``/verify <id>``, ``/qc``
(the next submission to check, or ``/qc <id>``), ``/receipt`` (deliveries to count in, or
``/receipt <id>``), ``/visit`` (work in progress to visit, or ``/visit <id>``) and ``/atrisk``.
What the QC, receipt and visit commands start lives in ``agent_actions``. Every entry names the
roles that may run it, and a refused attempt is logged with who tried.
"""

from __future__ import annotations

import logging

from sqlmodel import col, func, select

from conversations.agent_actions import (
    at_risk,
    parse_id,
    qc_command,
    receipt_command,
    visit_command,
)
from conversations.flow import Command, Context
from conversations.i18n import N_
from conversations.messages import Reply
from domain.errors import DomainError, IllegalTransition, NotFound
from domain.model import (
    AgentArea,
    ArtisanProfile,
    ArtisanSkill,
    ArtisanStatus,
    Person,
    Role,
)
from domain.services.people import verify_artisan
from domain.text import quoted

log = logging.getLogger(__name__)

MAX_LISTED = 20


async def _agent_areas(ctx: Context) -> list[str]:
    assert ctx.person is not None
    assert ctx.person.id is not None
    rows = await ctx.session.exec(select(AgentArea.area).where(AgentArea.agent_id == ctx.person.id))
    return [area.casefold() for area in rows]


async def _skills(ctx: Context, artisan_id: int) -> str:
    rows = await ctx.session.exec(
        select(ArtisanSkill)
        .where(ArtisanSkill.artisan_id == artisan_id)
        .order_by(col(ArtisanSkill.skill))
    )
    return ", ".join(f"{s.skill} ({s.weekly_capacity})" for s in rows)


async def pending_artisans(ctx: Context) -> list[Reply]:
    """Artisans waiting for a visit: in the agent's areas, or everywhere for admins and for
    agents who cover no area yet."""
    statement = (
        select(Person, ArtisanProfile)
        .join(ArtisanProfile, col(ArtisanProfile.person_id) == Person.id)
        .where(ArtisanProfile.status == ArtisanStatus.PENDING)
        .order_by(col(Person.id))
    )
    areas = await _agent_areas(ctx) if ctx.person and ctx.person.role is Role.FIELD_AGENT else []
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
                skills=await _skills(ctx, person.id),
            )
        )
    return [Reply(ctx.t("agent.pending_title") + "\n\n" + "\n".join(lines))]


async def _verify(ctx: Context, argument: str) -> list[Reply]:
    assert ctx.person is not None
    assert ctx.person.id is not None
    artisan_id = parse_id(argument)
    if artisan_id is None:
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
    return [Reply(ctx.t("agent.verified", id=artisan_id, name=quoted(artisan.name)))]


_AGENTS = frozenset({Role.FIELD_AGENT, Role.ADMIN})
_FIELD_AGENTS = frozenset({Role.FIELD_AGENT})  # QC, visits and risk are field work, not admin

COMMANDS: dict[str, Command] = {
    "pending": Command(_AGENTS, lambda ctx, _arg: pending_artisans(ctx), N_("agent.help_pending")),
    "verify": Command(_AGENTS, _verify, N_("agent.help_verify"), button=True),
    "qc": Command(_FIELD_AGENTS, qc_command, N_("agent.help_qc"), button=True),
    "receipt": Command(_AGENTS, receipt_command, N_("agent.help_receipt"), button=True),
    "visit": Command(_FIELD_AGENTS, visit_command, N_("agent.help_visit"), button=True),
    "atrisk": Command(_FIELD_AGENTS, lambda ctx, _arg: at_risk(ctx), N_("agent.help_atrisk")),
}
