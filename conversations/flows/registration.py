"""An artisan registers: language, name, workshop, skills, area, weekly capacity, M-Pesa, confirm.

The state table is ``TABLE`` below; ``registration.mmd`` beside this file draws it. Language comes
first, although it is listed last on the paper form, because every later question is asked in it.

Capacity: one number applies to each chosen skill, or one number per skill in the order they were
listed ("40, 25"). Most workshops think of "how much can we make in a week" as one figure, so the
common answer is one number, and a workshop with lopsided skills can still say so in one message.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path

from sqlmodel import col, select

from conversations.flow import DONE, Answer, Ask, Context, Expect, Finish, Flow, Goto, Outcome, Step
from conversations.i18n import N_
from conversations.messages import Choice, Reply
from domain.errors import DomainError
from domain.limits import MAX_WEEKLY_CAPACITY
from domain.model import AgentArea, Language
from domain.numbers import or_none, whole_number
from domain.phone import InvalidPhoneNumber, normalise_kenyan_mobile
from domain.services.catalogue import skills_in_use
from domain.services.guards import clean_skill
from domain.services.people import register_artisan
from domain.statemachine import Transitions
from domain.text import PLACE_NAME_MAX_LENGTH, clean_text, is_place_name

NAME = "registration"
MAX_NAME = 80
MAX_AREA = PLACE_NAME_MAX_LENGTH
MAX_CAPACITY = MAX_WEEKLY_CAPACITY
_BEYOND_ANY_CAPACITY = 999_999  # read up to here, so a bigger number hears the range it must be in
MAX_LISTED_AREAS = 9
_SEPARATORS = re.compile(r"\s*(?:,|;|\band\b|\bna\b|\s)\s*", re.IGNORECASE)
_YES = frozenset({"yes", "y", "ndiyo", "ndio", "sawa", "ok"})


class Reg(StrEnum):
    LANGUAGE = "language"
    NAME = "name"
    WORKSHOP = "workshop"
    SKILLS = "skills"
    AREA = "area"
    CAPACITY = "capacity"
    MPESA = "mpesa"
    CONFIRM = "confirm"
    DONE = DONE


TABLE: dict[Reg, frozenset[Reg]] = {
    Reg.LANGUAGE: frozenset({Reg.NAME}),
    Reg.NAME: frozenset({Reg.WORKSHOP}),
    Reg.WORKSHOP: frozenset({Reg.SKILLS}),
    Reg.SKILLS: frozenset({Reg.AREA}),
    Reg.AREA: frozenset({Reg.CAPACITY}),
    Reg.CAPACITY: frozenset({Reg.MPESA}),
    Reg.MPESA: frozenset({Reg.CONFIRM}),
    Reg.CONFIRM: frozenset({Reg.DONE, Reg.NAME}),
    Reg.DONE: frozenset(),
}


def _words(text: str) -> str:
    return clean_text(text)


def _has_letters(text: str) -> bool:
    return any(ch.isalpha() for ch in text)


# --- language -------------------------------------------------------------------------------


async def _ask_language(ctx: Context) -> Reply:
    # Asked before we know which language the person reads, so it is said in both.
    text = "\n\n".join(ctx.catalogue.t(lang, "registration.welcome") for lang in Language)
    return Reply(
        text,
        choices=(
            Choice("reg:lang:en", ctx.catalogue.t(Language.EN, "language.name")),
            Choice("reg:lang:sw", ctx.catalogue.t(Language.SW, "language.name")),
        ),
    )


async def _on_language(ctx: Context, answer: Answer) -> Outcome:
    assert answer.choice is not None  # Expect.CHOICE
    language = Language(answer.choice.payload.rsplit(":", 1)[1])
    ctx.data["lang"] = str(language)
    ctx.language = language
    return Goto(Reg.NAME)


# --- name and workshop ----------------------------------------------------------------------


async def _ask_name(ctx: Context) -> Reply:
    return Reply(ctx.t("registration.ask_name"))


async def _on_name(ctx: Context, answer: Answer) -> Outcome:
    name = _words(answer.text)
    if len(name) < 2 or len(name) > MAX_NAME or not _has_letters(name):
        return Ask(ctx.t("registration.name_invalid", max=MAX_NAME))
    ctx.data["name"] = name
    return Goto(Reg.WORKSHOP)


async def _ask_workshop(ctx: Context) -> Reply:
    return Reply(ctx.t("registration.ask_workshop", name=ctx.data["name"]))


async def _on_workshop(ctx: Context, answer: Answer) -> Outcome:
    workshop = _words(answer.text)
    if len(workshop) < 2 or len(workshop) > MAX_NAME or not _has_letters(workshop):
        return Ask(ctx.t("registration.workshop_invalid", max=MAX_NAME))
    ctx.data["workshop"] = workshop
    return Goto(Reg.SKILLS)


# --- skills ---------------------------------------------------------------------------------


async def _ask_skills(ctx: Context) -> Reply:
    skills = await skills_in_use(ctx.session)
    if not skills:
        return Reply(ctx.t("registration.ask_skills_free"))
    return Reply(
        ctx.t("registration.ask_skills"),
        choices=tuple(Choice(f"skill:{n}", skill) for n, skill in enumerate(skills, start=1)),
    )


def _pick_skills(text: str, offered: tuple[Choice, ...]) -> list[str] | None:
    """Skills named by number or by name ("1,3", "1 na 3", "beading"); None if any is unknown."""
    if len(text) > 200:
        return None
    by_label = {c.label.casefold(): c.label for c in offered}
    picked: list[str] = []
    tokens = [tok for tok in _SEPARATORS.split(text.strip()) if tok]
    # A skill name may have spaces ("brass casting"): try the whole text as one name first.
    whole = _words(text).casefold()
    if whole in by_label:
        return [by_label[whole]]
    for token in tokens:
        number = or_none(whole_number, token, least=1, most=len(offered), strict=True)
        if number is not None:
            label = offered[number - 1].label
        elif token.casefold() in by_label:
            label = by_label[token.casefold()]
        else:
            return None
        if label not in picked:
            picked.append(label)
    return picked or None


async def _on_skills(ctx: Context, answer: Answer) -> Outcome:
    if answer.choice is not None:  # a button, or a single number
        picked: list[str] | None = [answer.choice.label]
    elif ctx.choices:
        picked = _pick_skills(answer.text, ctx.choices)
    else:
        picked = _free_skills(answer.text)
    if not picked:
        if ctx.choices:
            return Ask(ctx.t("registration.skills_invalid", count=len(ctx.choices)))
        return Ask(ctx.t("registration.skills_free_invalid"))
    ctx.data["skills"] = picked
    return Goto(Reg.AREA)


def _free_skills(text: str) -> list[str] | None:
    """Skills typed by name while the catalogue has none in use yet (a brand-new factory)."""
    skills: list[str] = []
    for part in re.split(r"[,;\n]", text):
        if not part.strip():
            continue
        try:
            skill = clean_skill(part)
        except DomainError:
            return None
        if not _has_letters(skill):
            return None
        if skill not in skills:
            skills.append(skill)
    return skills[:10] or None


# --- area -----------------------------------------------------------------------------------


async def _known_areas(ctx: Context) -> list[str]:
    rows = await ctx.session.exec(
        select(AgentArea.area).distinct().order_by(col(AgentArea.area)).limit(MAX_LISTED_AREAS)
    )
    return list(rows)


async def _ask_area(ctx: Context) -> Reply:
    areas = await _known_areas(ctx)
    return Reply(
        ctx.t(N_("registration.ask_area") if areas else N_("registration.ask_area_free")),
        choices=tuple(Choice(f"area:{n}", area) for n, area in enumerate(areas, start=1)),
    )


async def _on_area(ctx: Context, answer: Answer) -> Outcome:
    if answer.choice is not None:
        ctx.data["area"] = answer.choice.label
        return Goto(Reg.CAPACITY)
    area = _words(answer.text)
    if not is_place_name(area):
        # A sentence typed as an area would reach the agents' lists ("Kibera ✅ VERIFIED by
        # admin…"); a place name is all an area needs, and all matching can use.
        return Ask(ctx.t("registration.area_invalid", max=MAX_AREA))
    # Spell a known area the way agents' areas are spelt, so the right agent is asked to verify.
    known = {choice.label.casefold(): choice.label for choice in ctx.choices}
    ctx.data["area"] = known.get(area.casefold(), area)
    return Goto(Reg.CAPACITY)


# --- capacity -------------------------------------------------------------------------------


async def _ask_capacity(ctx: Context) -> Reply:
    skills: list[str] = ctx.data["skills"]
    if len(skills) == 1:
        return Reply(ctx.t("registration.ask_capacity_one", skill=skills[0]))
    listed = "\n".join(f"{n}. {skill}" for n, skill in enumerate(skills, start=1))
    return Reply(ctx.t("registration.ask_capacity_many", skills=listed, count=len(skills)))


async def _on_capacity(ctx: Context, answer: Answer) -> Outcome:
    skills: list[str] = ctx.data["skills"]
    # Commas separate one skill's capacity from the next, so none is written "1,000".
    tokens = [tok for tok in re.split(r"[\s,;]+", answer.text.strip()) if tok]
    read = (or_none(whole_number, tok, most=_BEYOND_ANY_CAPACITY, strict=True) for tok in tokens)
    numbers = [number for number in read if number is not None]
    if not tokens or len(numbers) != len(tokens) or len(numbers) not in {1, len(skills)}:
        if len(skills) == 1:
            return Ask(ctx.t("registration.capacity_invalid_one", max=MAX_CAPACITY))
        return Ask(ctx.t("registration.capacity_invalid_many", count=len(skills), max=MAX_CAPACITY))
    if any(not 1 <= number <= MAX_CAPACITY for number in numbers):
        return Ask(ctx.t("registration.capacity_out_of_range", max=MAX_CAPACITY))
    if len(numbers) == 1:
        numbers = numbers * len(skills)
    ctx.data["capacity"] = dict(zip(skills, numbers, strict=True))
    return Goto(Reg.MPESA)


# --- M-Pesa ---------------------------------------------------------------------------------


def _own_number(ctx: Context) -> str | None:
    """The number the person writes from, when their chat address is a Kenyan mobile."""
    address = ctx.address.removeprefix("whatsapp:")
    if not address.lstrip("+").isdigit():
        return None
    try:
        return normalise_kenyan_mobile(address)
    except InvalidPhoneNumber:
        return None


def _local(e164: str) -> str:
    """+254712345678 as Kenyans write it: 0712 345 678."""
    national = "0" + e164.removeprefix("+254")
    return f"{national[:4]} {national[4:7]} {national[7:]}"


async def _ask_mpesa(ctx: Context) -> Reply:
    own = _own_number(ctx)
    choices = (
        (Choice("reg:mpesa:same", ctx.t("registration.mpesa_same", number=_local(own))),)
        if own
        else ()
    )
    return Reply(ctx.t("registration.ask_mpesa"), choices=choices)


async def _on_mpesa(ctx: Context, answer: Answer) -> Outcome:
    if answer.choice is not None and answer.choice.payload == "reg:mpesa:same":
        own = _own_number(ctx)
        assert own is not None  # the choice is only offered when there is one
        ctx.data["mpesa"] = own
        return Goto(Reg.CONFIRM)
    try:
        ctx.data["mpesa"] = normalise_kenyan_mobile(answer.text)
    except InvalidPhoneNumber:
        return Ask(ctx.t("registration.mpesa_invalid"))
    return Goto(Reg.CONFIRM)


# --- confirm --------------------------------------------------------------------------------


def _summary(ctx: Context) -> str:
    capacity: dict[str, int] = ctx.data["capacity"]
    skills = ", ".join(
        ctx.t("registration.skill_capacity", skill=skill, count=count)
        for skill, count in capacity.items()
    )
    return ctx.t(
        "registration.summary",
        name=ctx.data["name"],
        workshop=ctx.data["workshop"],
        skills=skills,
        area=ctx.data["area"],
        mpesa=_local(ctx.data["mpesa"]),
        language=ctx.t("language.name"),
    )


async def _ask_confirm(ctx: Context) -> Reply:
    return Reply(
        _summary(ctx),
        choices=(
            Choice("reg:confirm", ctx.t("registration.confirm_yes")),
            Choice("reg:restart", ctx.t("registration.confirm_restart")),
        ),
    )


async def _on_confirm(ctx: Context, answer: Answer) -> Outcome:
    payload = answer.choice.payload if answer.choice is not None else None
    if payload is None and answer.text.casefold().strip(" .!") in _YES:
        payload = "reg:confirm"
    if payload == "reg:restart":
        return Goto(Reg.NAME)
    if payload != "reg:confirm":
        return Ask(ctx.unclear(answer.text))
    try:
        person = await register_artisan(
            ctx.session,
            name=ctx.data["name"],
            workshop=ctx.data["workshop"],
            area=ctx.data["area"],
            skills=ctx.data["capacity"],
            mpesa_number=ctx.data["mpesa"],
            language=ctx.language,
            channel=ctx.channel,
            address=ctx.address,
            now=ctx.now,
        )
    except DomainError as exc:
        # Rare: the catalogue changed under a half-finished registration. Say what, stay here.
        return Ask(ctx.t("registration.could_not_register", reason=str(exc)))
    ctx.person = person
    return Finish(say=(Reply(ctx.t("registration.received", name=person.name)),))


FLOW = Flow(
    name=NAME,
    first=Reg.LANGUAGE,
    table=Transitions(NAME, TABLE),
    steps={
        Reg.LANGUAGE: Step(Expect.CHOICE, _ask_language, _on_language),
        Reg.NAME: Step(Expect.TEXT, _ask_name, _on_name),
        Reg.WORKSHOP: Step(Expect.TEXT, _ask_workshop, _on_workshop),
        Reg.SKILLS: Step(Expect.TEXT, _ask_skills, _on_skills),
        Reg.AREA: Step(Expect.TEXT, _ask_area, _on_area),
        Reg.CAPACITY: Step(Expect.TEXT, _ask_capacity, _on_capacity),
        Reg.MPESA: Step(Expect.TEXT, _ask_mpesa, _on_mpesa),
        Reg.CONFIRM: Step(Expect.TEXT, _ask_confirm, _on_confirm),
    },
    diagram=Path(__file__).with_name("registration.mmd"),
)
