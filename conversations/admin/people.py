"""Admins' commands about the artisans: ``/artisans [skill|area]``, ``/artisan <id>``,
``/pause <id>``, ``/resume <id>``, and ``/broadcast <skill|area|all> <text>`` to tell them all
something at once; ``/workshop <person> on|off`` says whether a field agent works at the
central workshop (and so assembles).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from decimal import Decimal

from sqlmodel import col, select

from conversations.admin import queries as reports
from conversations.admin.replies import (
    ADMINS,
    ARTISAN_STATUS,
    MAX_LISTED,
    Replies,
    an_id,
    chunks,
    percent,
)
from conversations.flow import Command, Context
from conversations.formatting import me
from conversations.i18n import N_
from conversations.messages import Reply
from conversations.outbox import notify_person
from domain.errors import IllegalTransition, NotFound
from domain.ledger import artisan_balance
from domain.model import (
    ArtisanProfile,
    ArtisanSkill,
    ArtisanStatus,
    Person,
    Role,
)
from domain.reputation import artisan_history, reputation
from domain.services.people import pause_artisan, resume_artisan, set_at_workshop
from domain.text import quoted

log = logging.getLogger(__name__)

MAX_BROADCAST = 1_000
_EVERYONE = frozenset({"all", "everyone", "wote", "kila mtu"})


def _named(text: str, names: Iterable[str]) -> str | None:
    """The longest of ``names`` that ``text`` starts with (as a whole word), ignoring case."""
    folded = " ".join(text.casefold().split())
    best = None
    for name in names:
        key = name.casefold()
        if (folded == key or folded.startswith(key + " ")) and (
            best is None or len(key) > len(best)
        ):
            best = name
    return best


async def list_artisans(ctx: Context, argument: str = "") -> Replies:
    wanted = " ".join(argument.split())
    skill = area = None
    if wanted:
        skills = await reports.known_skills(ctx.session)
        areas = await reports.known_areas(ctx.session)
        skill = _full(wanted, skills)
        if skill is None:
            area = _full(wanted, areas)
        if skill is None and area is None:
            return [
                Reply(
                    ctx.t(
                        "admin.artisans_unknown_filter",
                        filter=wanted,
                        skills=", ".join(skills) or "–",
                        areas=", ".join(quoted(area) for area in areas) or "–",
                    )
                )
            ]
    rows, total = await reports.artisans(ctx.session, skill=skill, area=area, limit=MAX_LISTED)
    if not rows:
        return [Reply(ctx.t("admin.artisans_none"))]
    lines = [
        ctx.t(
            "admin.artisan_line",
            id=row.person.id,
            name=quoted(row.person.name),
            workshop=quoted(row.profile.workshop),
            area=quoted(row.person.area, missing="–"),
            status=ctx.t(ARTISAN_STATUS[row.profile.status]),
            skills=", ".join(s.skill for s in row.skills) or "–",
        )
        for row in rows
    ]
    if total > len(rows):
        lines.append(ctx.t("admin.more", count=total - len(rows)))
    lines.append(ctx.t("admin.artisans_hint"))
    return chunks(ctx.t("admin.artisans_title", count=total), lines)


def _full(text: str, names: Iterable[str]) -> str | None:
    folded = " ".join(text.casefold().split())
    return next((name for name in names if name.casefold() == folded), None)


async def _artisan_profile(ctx: Context, argument: str) -> Replies:
    artisan_id = an_id(argument)
    if artisan_id is None:
        return [Reply(ctx.t("admin.artisan_usage"))]
    profile = await ctx.session.get(ArtisanProfile, artisan_id)
    person = await ctx.session.get(Person, artisan_id)
    if profile is None or person is None:
        return [Reply(ctx.t("admin.artisan_not_found", id=artisan_id))]
    skills = await ctx.session.exec(
        select(ArtisanSkill)
        .where(ArtisanSkill.artisan_id == artisan_id)
        .order_by(col(ArtisanSkill.skill))
    )
    score = reputation(await artisan_history(ctx.session, artisan_id, now=ctx.now))
    balance = await artisan_balance(ctx.session, artisan_id)
    text = ctx.t(
        "admin.artisan_profile",
        id=artisan_id,
        name=quoted(person.name),
        workshop=quoted(profile.workshop),
        area=quoted(person.area, missing="–"),
        status=ctx.t(ARTISAN_STATUS[profile.status]),
        mpesa=profile.mpesa_number,
        skills=", ".join(f"{s.skill} ({s.weekly_capacity})" for s in skills) or "–",
        on_time=percent(Decimal(str(score.on_time_rate))),
        qc=percent(Decimal(str(score.qc_pass_rate))),
        acceptance=percent(Decimal(str(score.acceptance_rate))),
        volume=score.volume,
        active=await reports.active_allocations(ctx.session, artisan_id),
        earned=ctx.money(balance.earned_cents),
        paid=ctx.money(balance.paid_cents),
        in_flight=ctx.money(balance.in_flight_cents),
        available=ctx.money(balance.available_cents),
    )
    if person.opted_out:
        text += "\n" + ctx.t("admin.artisan_opted_out")
    return [Reply(text)]


async def _pause(ctx: Context, argument: str) -> Replies:
    return await _pause_or_resume(ctx, argument, pause=True)


async def _resume(ctx: Context, argument: str) -> Replies:
    return await _pause_or_resume(ctx, argument, pause=False)


async def _pause_or_resume(ctx: Context, argument: str, *, pause: bool) -> Replies:
    artisan_id = an_id(argument)
    if artisan_id is None:
        usage = N_("admin.pause_usage") if pause else N_("admin.resume_usage")
        return [Reply(ctx.t(usage))]
    change = pause_artisan if pause else resume_artisan
    try:
        profile = await change(ctx.session, artisan_id=artisan_id, admin_id=me(ctx), now=ctx.now)
    except NotFound:
        return [Reply(ctx.t("admin.artisan_not_found", id=artisan_id))]
    except IllegalTransition as exc:
        status = ctx.t(ARTISAN_STATUS[ArtisanStatus(exc.current)]).casefold()
        msgid = N_("admin.pause_refused") if pause else N_("admin.resume_refused")
        return [Reply(ctx.t(msgid, id=artisan_id, status=status))]
    person = await ctx.session.get(Person, profile.person_id)
    assert person is not None
    msgid = N_("admin.paused") if pause else N_("admin.resumed")
    return [Reply(ctx.t(msgid, id=artisan_id, name=quoted(person.name)))]


async def _broadcast(ctx: Context, argument: str) -> Replies:
    text = argument.strip()
    if not text:
        return [Reply(ctx.t("admin.broadcast_usage"))]
    skills = await reports.known_skills(ctx.session)
    areas = await reports.known_areas(ctx.session)
    everyone = _named(text, _EVERYONE)
    skill = None if everyone else _named(text, skills)
    area = None if everyone or skill else _named(text, areas)
    audience = everyone or skill or area
    if audience is None:
        return [Reply(ctx.t("admin.broadcast_unknown_audience", audience=text.split()[0]))]
    message = text[len(audience) :].strip()
    if not message:
        return [Reply(ctx.t("admin.broadcast_usage"))]
    if len(message) > MAX_BROADCAST:
        return [Reply(ctx.t("admin.broadcast_too_long", max=MAX_BROADCAST))]
    rows, _ = await reports.artisans(
        ctx.session,
        skill=skill,
        area=area,
        statuses=(ArtisanStatus.ACTIVE, ArtisanStatus.PAUSED),
    )
    if not rows:
        return [Reply(ctx.t("admin.broadcast_nobody", audience=audience))]
    sent = 0
    for row in rows:
        words = ctx.catalogue.t(row.person.language, "admin.broadcast_message", text=message)
        if await notify_person(ctx.session, row.person, Reply(words), now=ctx.now) is not None:
            sent += 1
    log.info("person %s broadcast to %s: %s of %s sent", me(ctx), audience, sent, len(rows))
    return [Reply(ctx.t("admin.broadcast_done", sent=sent, skipped=len(rows) - sent))]


_ON = frozenset({"on", "yes", "ndiyo", "washa"})
_OFF = frozenset({"off", "no", "hapana", "zima"})


async def _workshop(ctx: Context, argument: str) -> Replies:
    """``/workshop <person> on|off``: whether a field agent works at the central workshop,
    where they see what is ready to assemble and record assemblies."""
    words = argument.casefold().split()
    person_id = an_id(argument)
    if person_id is None or len(words) != 2 or words[1] not in _ON | _OFF:
        return [Reply(ctx.t("admin.workshop_usage"))]
    person = await ctx.session.get(Person, person_id)
    if person is None:
        return [Reply(ctx.t("admin.person_not_found", id=person_id))]
    if person.role is not Role.FIELD_AGENT:
        return [Reply(ctx.t("admin.workshop_not_an_agent", id=person_id, name=quoted(person.name)))]
    on = words[1] in _ON
    await set_at_workshop(ctx.session, person_id=person_id, at_workshop=on, admin_id=me(ctx))
    msgid = N_("admin.workshop_on") if on else N_("admin.workshop_off")
    return [Reply(ctx.t(msgid, id=person_id, name=quoted(person.name)))]


COMMANDS: dict[str, Command] = {
    "artisans": Command(ADMINS, list_artisans, N_("admin.help_artisans")),
    "artisan": Command(ADMINS, _artisan_profile, N_("admin.help_artisan")),
    "pause": Command(ADMINS, _pause, N_("admin.help_pause")),
    "resume": Command(ADMINS, _resume, N_("admin.help_resume")),
    "broadcast": Command(ADMINS, _broadcast, N_("admin.help_broadcast")),
    "workshop": Command(ADMINS, _workshop, N_("admin.help_workshop")),
}
