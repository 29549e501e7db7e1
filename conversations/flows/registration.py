"""An artisan registers: language, name, workshop, skills, area, weekly capacity, M-Pesa, confirm.

Skills and areas are offered and read by their names in the person's language (catalogue data,
domain/services/names.py), and stored by their codes. A typed area is matched to a known one:
case, accents and spaces do not matter ("mathare" is Mathare), a close misspelling is suggested
("Did you mean Mathare?"), and anything else is refused with the list: a new area is an admin's
decision, never a side effect of a typo. Only a factory that knows no area yet takes one typed.

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

from conversations.errors import error_text
from conversations.flow import DONE, Answer, Ask, Context, Expect, Finish, Flow, Goto, Outcome, Step
from conversations.flows import impact_questions
from conversations.i18n import N_
from conversations.messages import Choice, Reply
from domain.errors import DomainError
from domain.limits import MAX_WEEKLY_CAPACITY
from domain.model import Language, NameKind, WomenLed
from domain.names import match_area, match_name
from domain.numbers import or_none, whole_number
from domain.phone import InvalidPhoneNumber, normalise_kenyan_mobile
from domain.services.catalogue import skills_in_use
from domain.services.guards import clean_skill
from domain.services.impact_answers import set_impact_answers
from domain.services.names import find_area, known_areas
from domain.services.people import register_artisan
from domain.statemachine import Transitions
from domain.text import PLACE_NAME_MAX_LENGTH, clean_text, is_place_name, quoted

NAME = "registration"
MAX_NAME = 80
MAX_AREA = PLACE_NAME_MAX_LENGTH
MAX_CAPACITY = MAX_WEEKLY_CAPACITY
_BEYOND_ANY_CAPACITY = 999_999  # read up to here, so a bigger number hears the range it must be in
# Between the skills of a list: commas, "and", "na", "&", "+", "/" (a name keeps its spaces).
_LIST_SEPARATORS = re.compile(r"\s*(?:[,;&+/\n]|\band\b|\bna\b)\s*", re.IGNORECASE)
_YES = frozenset({"yes", "y", "ndiyo", "ndio", "sawa", "ok"})
_NO = frozenset({"no", "n", "hapana", "la"})


class Reg(StrEnum):
    LANGUAGE = "language"
    NAME = "name"
    WORKSHOP = "workshop"
    SKILLS = "skills"
    AREA = "area"
    AREA_CONFIRM = "area_confirm"
    CAPACITY = "capacity"
    MPESA = "mpesa"
    CONFIRM = "confirm"
    PRIOR_INCOME = "prior_income"  # the two optional impact questions (issue 19)
    WOMEN_LED = "women_led"
    DONE = DONE


TABLE: dict[Reg, frozenset[Reg]] = {
    Reg.LANGUAGE: frozenset({Reg.NAME}),
    Reg.NAME: frozenset({Reg.WORKSHOP}),
    Reg.WORKSHOP: frozenset({Reg.SKILLS}),
    Reg.SKILLS: frozenset({Reg.AREA}),
    Reg.AREA: frozenset({Reg.CAPACITY, Reg.AREA_CONFIRM}),
    Reg.AREA_CONFIRM: frozenset({Reg.CAPACITY, Reg.AREA}),
    Reg.CAPACITY: frozenset({Reg.MPESA}),
    Reg.MPESA: frozenset({Reg.CONFIRM}),
    Reg.CONFIRM: frozenset({Reg.DONE, Reg.NAME, Reg.PRIOR_INCOME}),
    Reg.PRIOR_INCOME: frozenset({Reg.WOMEN_LED}),
    Reg.WOMEN_LED: frozenset({Reg.DONE}),
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
    ctx.data["offered_skills"] = skills  # the codes behind the numbered names
    if not skills:
        return Reply(ctx.t("registration.ask_skills_free"))
    return Reply(
        ctx.t("registration.ask_skills"),
        choices=tuple(
            Choice(f"skill:{n}", ctx.catalogue.name(ctx.language, NameKind.SKILL, skill))
            for n, skill in enumerate(skills, start=1)
        ),
    )


def _spellings(ctx: Context, code: str) -> set[str]:
    """Every way a skill may be typed: its code, its words, its name in each language."""
    names = {ctx.catalogue.name(language, NameKind.SKILL, code) for language in Language}
    return {spelling.casefold() for spelling in (code, code.replace("_", " "), *names)}


def _pick_skills(ctx: Context, text: str, codes: list[str]) -> list[str] | None:
    """Skill codes named by number or by name in either language, one or a list ("1,3",
    "1 na 3", "ushanga", "brass and wire", "horn carving, wire work", "shaba & waya"): each part
    by its number, its name, or a word or the start of one that names exactly one skill
    (``domain.names.match_name``, as areas are matched); None if any part names none."""
    if len(text) > 200:
        return None
    known = {code: sorted(_spellings(ctx, code)) for code in codes}
    picked: list[str] = []

    def one(part: str) -> str | None:
        number = or_none(whole_number, part, least=1, most=len(codes), strict=True)
        if number is not None:
            return codes[number - 1]
        return match_name(part, known).exact

    # A skill name may have spaces, "and" or "na" in it: try the whole text as one name first.
    whole = match_area(_words(text), known).exact
    if whole is not None:
        return [whole]
    for part in (p for p in _LIST_SEPARATORS.split(text.strip()) if p.strip()):
        found = one(part.strip())
        # "1 3" or "brass wire": the words one by one, when together they name no skill.
        found_all = [found] if found is not None else [one(word) for word in part.split()]
        if not found_all or any(code is None for code in found_all):
            return None
        picked.extend(code for code in found_all if code is not None and code not in picked)
    return picked or None


def _offered(ctx: Context, key: str) -> list[str]:
    offered = ctx.data.get(key)
    return list(offered) if isinstance(offered, list) else []


async def _on_skills(ctx: Context, answer: Answer) -> Outcome:
    codes = _offered(ctx, "offered_skills")
    if answer.choice is not None:  # a button, or a single number
        number = int(answer.choice.payload.rsplit(":", 1)[1])
        picked: list[str] | None = codes[number - 1 : number] or None
    elif ctx.choices:
        picked = _pick_skills(ctx, answer.text, codes)
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


async def _ask_area(ctx: Context) -> Reply:
    # Every known area, never a first few: one left off could only be typed, and was refused.
    areas = list(await known_areas(ctx.session))
    ctx.data["offered_areas"] = areas
    return Reply(
        ctx.t(N_("registration.ask_area") if areas else N_("registration.ask_area_free")),
        choices=tuple(
            Choice(f"area:{n}", ctx.catalogue.name(ctx.language, NameKind.AREA, area))
            for n, area in enumerate(areas, start=1)
        ),
    )


async def _on_area(ctx: Context, answer: Answer) -> Outcome:
    if answer.choice is not None:
        number = int(answer.choice.payload.rsplit(":", 1)[1])
        ctx.data["area"] = _offered(ctx, "offered_areas")[number - 1]
        return Goto(Reg.CAPACITY)
    area = _words(answer.text)
    if not is_place_name(area):
        # A sentence typed as an area would reach the agents' lists ("Kibera ✅ VERIFIED by
        # admin…"); a place name is all an area needs, and all matching can use.
        return Ask(ctx.t("registration.area_invalid", max=MAX_AREA))
    match = await find_area(ctx.session, area)
    if match.exact is not None:  # "mathare", "MATHARE", "Ngong-road": filed as known
        ctx.data["area"] = match.exact
        return Goto(Reg.CAPACITY)
    if match.suggestion is not None:
        ctx.data["area_suggestion"] = match.suggestion
        return Goto(Reg.AREA_CONFIRM)
    if not await known_areas(ctx.session):
        ctx.data["area"] = area  # a factory with no area yet: the first ones are typed
        return Goto(Reg.CAPACITY)
    return Ask(ctx.t("registration.area_unknown", area=quoted(area)))


async def _ask_area_confirm(ctx: Context) -> Reply:
    return Reply(
        ctx.t("registration.area_did_you_mean", area=ctx.data["area_suggestion"]),
        choices=(
            Choice("reg:area:yes", ctx.t("registration.area_yes")),
            Choice("reg:area:no", ctx.t("registration.area_no")),
        ),
    )


async def _on_area_confirm(ctx: Context, answer: Answer) -> Outcome:
    payload = answer.choice.payload if answer.choice is not None else None
    said = answer.text.casefold().strip(" .!")
    if payload == "reg:area:yes" or (payload is None and said in _YES):
        ctx.data["area"] = ctx.data.pop("area_suggestion")
        return Goto(Reg.CAPACITY)
    if payload == "reg:area:no" or (payload is None and said in _NO):
        ctx.data.pop("area_suggestion", None)
        return Goto(Reg.AREA)
    return Ask(ctx.unclear(answer.text))


# --- capacity -------------------------------------------------------------------------------


async def _ask_capacity(ctx: Context) -> Reply:
    skills: list[str] = ctx.data["skills"]
    if len(skills) == 1:
        return Reply(ctx.t("registration.ask_capacity_one", skill=skills[0]))
    listed = "\n".join(
        f"{n}. {ctx.catalogue.name(ctx.language, NameKind.SKILL, skill)}"
        for n, skill in enumerate(skills, start=1)
    )
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


# --- the optional impact questions (conversations/flows/impact_questions.py) -----------------


async def _on_prior_income(ctx: Context, answer: Answer) -> Outcome:
    understood, cents = impact_questions.read_prior_income(answer)
    if not understood:
        return Ask(ctx.t("impact.prior_income_invalid"))
    ctx.data[impact_questions.PRIOR_KEY] = cents
    return Goto(Reg.WOMEN_LED)


async def _on_women_led(ctx: Context, answer: Answer) -> Outcome:
    women_led = impact_questions.read_women_led(answer)
    if women_led is None:
        return Ask(ctx.unclear(answer.text))
    ctx.data[impact_questions.WOMEN_LED_KEY] = women_led.value
    return await _register(ctx)


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
        _summary(ctx) + "\n\n" + ctx.t("impact.offer"),
        choices=(
            Choice("reg:confirm", ctx.t("registration.confirm_yes")),
            Choice("reg:restart", ctx.t("registration.confirm_restart")),
            # Optional, after the two that always were: registering never depends on it.
            Choice(impact_questions.YES, ctx.t("impact.register_and_answer")),
        ),
    )


async def _on_confirm(ctx: Context, answer: Answer) -> Outcome:
    payload = answer.choice.payload if answer.choice is not None else None
    if payload is None and answer.text.casefold().strip(" .!") in _YES:
        payload = "reg:confirm"
    if payload == "reg:restart":
        return Goto(Reg.NAME)
    for key in impact_questions.KEYS:
        ctx.data.pop(key, None)
    if payload == impact_questions.YES:  # consent to the two optional questions
        ctx.data[impact_questions.CONSENT_KEY] = True
        return Goto(Reg.PRIOR_INCOME)
    if payload != "reg:confirm":
        return Ask(ctx.unclear(answer.text))
    return await _register(ctx)


async def _register(ctx: Context) -> Outcome:
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
        return Ask(ctx.t("registration.could_not_register", reason=error_text(ctx, exc)))
    ctx.person = person
    if ctx.data.get(impact_questions.CONSENT_KEY) and person.id is not None:
        women_led = ctx.data.get(impact_questions.WOMEN_LED_KEY)
        await set_impact_answers(
            ctx.session,
            person_id=person.id,
            prior_income_cents=ctx.data.get(impact_questions.PRIOR_KEY),
            women_led=None if women_led is None else WomenLed(women_led),
            now=ctx.now,
        )
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
        Reg.AREA_CONFIRM: Step(Expect.TEXT, _ask_area_confirm, _on_area_confirm),
        Reg.CAPACITY: Step(Expect.TEXT, _ask_capacity, _on_capacity),
        Reg.MPESA: Step(Expect.TEXT, _ask_mpesa, _on_mpesa),
        Reg.PRIOR_INCOME: Step(Expect.TEXT, impact_questions.ask_prior_income, _on_prior_income),
        Reg.WOMEN_LED: Step(Expect.TEXT, impact_questions.ask_women_led, _on_women_led),
        Reg.CONFIRM: Step(Expect.TEXT, _ask_confirm, _on_confirm),
    },
    diagram=Path(__file__).with_name("registration.mmd"),
)
