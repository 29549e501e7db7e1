"""Admins' commands about the artisans: ``/artisans [skill|area] [page]``, ``/artisan <id>``,
``/pause <id>``, ``/resume <id>``, and ``/broadcast <skill|area|all> en: <text> sw: <text>`` to
tell them all something at once (one text per language they read, previewed and sent on yes:
``flows/broadcast.py``); ``/workshop <person> on|off`` says whether a field agent works at the
central workshop (and so assembles).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from decimal import Decimal

from sqlmodel import col, select

from conversations.admin import queries as reports
from conversations.admin.flows import broadcast
from conversations.admin.pager import continuing, paged, split_page
from conversations.admin.replies import (
    ADMINS,
    ARTISAN_STATUS,
    Replies,
    an_id,
    percent,
)
from conversations.flow import Command, Context, Start
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
    Language,
    NameKind,
    Person,
    Role,
)
from domain.names import folded, match_area, match_name
from domain.reputation import artisan_history, reputation
from domain.services.people import pause_artisan, resume_artisan, set_at_workshop
from domain.text import quoted

log = logging.getLogger(__name__)

MAX_BROADCAST = 1_000
_EVERYONE = frozenset({"all", "everyone", "wote", "kila mtu"})


def _name(ctx: Context, kind: NameKind, code: str) -> str:
    """A skill or area as the admin reads it: its name in their language (catalogue data)."""
    return ctx.catalogue.name(ctx.language, kind, code)


def _spellings(
    ctx: Context, areas: Iterable[str], kind: NameKind = NameKind.AREA
) -> dict[str, list[str]]:
    """Each area (or skill) and its names in every language, for ``match_area``."""
    return {
        area: [ctx.catalogue.name(language, kind, area) for language in Language] for area in areas
    }


def _by_name(ctx: Context, kind: NameKind, wanted: str, codes: Iterable[str]) -> str | None:
    """The code whose name, in any language, ``wanted`` is (case and accents aside)."""
    found = ctx.catalogue.names.find(kind, wanted)
    return next((code for code in codes if found is not None and folded(code) == found), None)


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
    wanted, page = split_page(argument)
    skill = area = None
    if wanted:
        skills = await reports.known_skills(ctx.session)
        areas = await reports.known_areas(ctx.session)
        # By code or by name in either language: "horn_carving", "uchongaji wa pembe".
        skill = _full(wanted, skills) or _by_name(ctx, NameKind.SKILL, wanted, skills)
        if skill is None:
            area = _full(wanted, areas) or _by_name(ctx, NameKind.AREA, wanted, areas)
        # By a word or the start of one, in either language ("horn", "shanga", "ngong"): the
        # matching registration uses, for skills and areas alike.
        skill_names = _spellings(ctx, skills, NameKind.SKILL)
        if skill is None and area is None:
            skill = match_name(wanted, skill_names).exact
        if skill is None and area is None:
            area = match_name(wanted, _spellings(ctx, areas)).exact
        close = None if skill or area else match_area(wanted, _spellings(ctx, areas)).suggestion
        if close is None and not (skill or area):
            close_skill = match_name(wanted, skill_names).suggestion
            close = None if close_skill is None else _name(ctx, NameKind.SKILL, close_skill)
        if close is not None:  # "Matare": most likely Mathare, said so with the command
            return [Reply(ctx.t("words.filter_did_you_mean", typed=quoted(wanted), area=close))]
        if skill is None and area is None:
            return [
                Reply(
                    ctx.t(
                        "admin.artisans_unknown_filter",
                        filter=wanted,
                        skills=", ".join(_name(ctx, NameKind.SKILL, s) for s in skills) or "–",
                        areas=", ".join(_name(ctx, NameKind.AREA, a) for a in areas) or "–",
                    )
                )
            ]
    rows, total = await reports.artisans(
        ctx.session, skill=skill, area=area, limit=page.size, offset=page.offset
    )
    if not total:
        return [Reply(ctx.t("admin.artisans_none"))]
    lines = [
        ctx.t(
            "admin.artisan_line",
            id=row.person.id,
            name=quoted(row.person.name),
            workshop=quoted(row.profile.workshop),
            area=quoted(row.person.area, missing="–"),
            status=ctx.t(ARTISAN_STATUS[row.profile.status]),
            skills=", ".join(_name(ctx, NameKind.SKILL, s.skill) for s in row.skills) or "–",
        )
        for row in rows
    ]
    return paged(
        ctx,
        command="artisans",
        filter_text=wanted,
        page=page,
        total=total,
        header=ctx.t("admin.artisans_title", count=total),
        lines=lines,
        footer=[ctx.t("admin.artisans_hint")],
    )


def _full(text: str, names: Iterable[str]) -> str | None:
    """The name ``text`` is, ignoring case and ``_`` for a space (a button's filter)."""

    def folded(name: str) -> str:
        return " ".join(name.replace("_", " ").casefold().split())

    return next((name for name in names if folded(name) == folded(text)), None)


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
    history = await artisan_history(ctx.session, artisan_id, now=ctx.now)
    score = reputation(history)
    balance = await artisan_balance(ctx.session, artisan_id)
    text = ctx.t(
        "admin.artisan_profile",
        id=artisan_id,
        name=quoted(person.name),
        workshop=quoted(profile.workshop),
        area=quoted(person.area, missing="–"),
        status=ctx.t(ARTISAN_STATUS[profile.status]),
        mpesa=profile.mpesa_number,
        skills=", ".join(
            f"{_name(ctx, NameKind.SKILL, s.skill)} ({s.weekly_capacity})" for s in skills
        )
        or "–",
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
    # The plain counts behind the smoothed score, and why the two (and /why's) differ.
    text += "\n" + ctx.t(
        "admin.artisan_record",
        on_time=history.allocations_on_time,
        due=history.allocations_due,
        passed=history.qc_pieces_passed,
        checked=history.qc_pieces_passed + history.qc_pieces_rejected,
        accepted=history.offers_accepted,
        offers=history.offers_decided,
    )
    text += "\n" + ctx.t("admin.artisan_scores_note")
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


async def _broadcast(ctx: Context, argument: str) -> Replies | Start:
    """Who to, and one text per language they read; then the preview and its yes
    (``flows/broadcast.py``): nothing goes before the admin has seen it."""
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
    people = await broadcast.recipients(ctx, skill, area)
    if not people:
        return [Reply(ctx.t("admin.broadcast_nobody", audience=audience))]
    counts = Counter(person.language for person in people)
    texts = broadcast.per_language(message)
    if texts is None:
        return [
            Reply(
                ctx.t(
                    "admin.broadcast_per_language",
                    languages=broadcast.languages_named(ctx, counts),
                    audience=audience,
                )
            )
        ]
    if any(len(words) > MAX_BROADCAST for words in texts.values()):
        return [Reply(ctx.t("admin.broadcast_too_long", max=MAX_BROADCAST))]
    missing = Counter({language: n for language, n in counts.items() if not texts.get(language)})
    if missing:
        return [
            Reply(
                ctx.t(
                    "admin.broadcast_missing_language",
                    languages=broadcast.languages_named(ctx, missing),
                    codes=", ".join(f"{language}:" for language in missing),
                )
            )
        ]
    return Start(
        broadcast.NAME,
        {
            "audience": audience,
            "skill": skill,
            "area": area,
            "texts": {str(language): words for language, words in texts.items()},
        },
    )


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
    text = ctx.t(msgid, id=person_id, name=quoted(person.name))
    # The agent hears it too, in their language, with what they can now do (or no longer).
    told = N_("clarity.workshop_on_notice") if on else N_("clarity.workshop_off_notice")
    notice = Reply(ctx.catalogue.t(person.language, told))
    if await notify_person(ctx.session, person, notice, now=ctx.now) is not None:
        text += "\n" + ctx.t("clarity.workshop_told", name=quoted(person.name))
    return [Reply(text)]


COMMANDS: dict[str, Command] = {
    "artisans": Command(
        ADMINS, continuing("artisans", list_artisans), N_("admin.help_artisans"), button=True
    ),
    "artisan": Command(ADMINS, _artisan_profile, N_("admin.help_artisan")),
    "pause": Command(ADMINS, _pause, N_("admin.help_pause")),
    "resume": Command(ADMINS, _resume, N_("admin.help_resume")),
    "broadcast": Command(ADMINS, _broadcast, N_("admin.help_broadcast")),
    "workshop": Command(ADMINS, _workshop, N_("admin.help_workshop")),
}
