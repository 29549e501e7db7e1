"""The USSD screens: what each one shows (within 160 characters) and what its answer does.

A screen is a ``prompt`` (the text and numbered options, from the same queries the chat uses) and
an ``answer`` (one keypad answer -> a ``Move``). The business is done by the same code the chat
flows call: the domain services (``accept_offer``, ``decline_offer``, ``submit_work``,
``set_language``), the offers flow's checks (``offers.answerable``: an offer taken by someone else,
withdrawn, expired or answered gets the very reply WhatsApp gives), and, for registration, the
registration flow's own steps (``registration.FLOW``: each answer is screened and stored by the
step the chat runs, and its last step calls ``register_artisan``). Only the words are USSD's own
(``ussd.po``), kept short enough for a feature phone's screen.

``menu.mmd`` beside this file draws the screens and the moves between them.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from sqlmodel import col, select

from conversations.artisan.flows import offers
from conversations.artisan.queries import active_allocations, offer_component, open_offers
from conversations.artisan.views import one_number
from conversations.flow import Answer, Ask, Context, Finish, Goto, Start
from conversations.flows import registration
from conversations.formatting import me, weekday_date
from conversations.i18n import N_
from conversations.messages import Choice
from conversations.queries import job_component
from domain.errors import CancelledWorkClosed, DomainError, Forbidden, InvalidQuantity, NotFound
from domain.explosion import factory_today
from domain.ledger import artisan_balance
from domain.model import Allocation, Language, Payout, PayoutStatus
from domain.quantities import allocation_progress
from domain.services.offers import OfferClosed, accept_offer, decline_offer
from domain.services.people import set_language
from domain.services.work import submit_work

log = logging.getLogger(__name__)

MAX_SCREEN = 160  # characters a feature phone shows on one USSD screen (after "CON "/"END ")
MAX_LISTED = 4  # offers or jobs on one screen
LABEL = 22  # characters of a component's name in a list line
LAST_PAYMENTS = 2
BACK = "0"
MAX_REG_OPTIONS = 5  # skills or areas shown; a later number still picks its option


class S(StrEnum):
    """Screen names: stored in ``ussd_session.screen``; they never change."""

    HOME = "home"
    OFFERS = "offers"
    OFFER = "offer"
    PART = "part"
    DECLINE = "decline"
    READY_JOB = "ready_job"
    READY_COUNT = "ready_count"
    READY_CONFIRM = "ready_confirm"
    LANGUAGE = "language"
    REGISTER = "register"  # the registration flow's steps, one after another


@dataclass(frozen=True, slots=True)
class Screen:
    text: str
    more: bool  # CON (a question follows) or END
    options: str = ""  # the numbered options at its end, kept when a line must go above them

    def with_line(self, line: str) -> Screen:
        """This screen with ``line`` (a problem, a note) above it; when that is too long, the
        line above the options alone; when even that is, the screen as it was."""
        for below in (self.text, self.options):
            if below and len(line) + 1 + len(below) <= MAX_SCREEN:
                return Screen(f"{line}\n{below}", self.more, self.options)
        return self


def ask(head: str, options: str) -> Screen:
    """A question with numbered options."""
    return Screen(fit(head, options), True, options)


@dataclass(frozen=True, slots=True)
class Show:
    """Go to ``screen`` (and show it), with ``note`` above it when it fits."""

    screen: S
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Stay:
    """The answer cannot be used: say why, and ask the same question again."""

    problem: str


@dataclass(frozen=True, slots=True)
class End:
    text: str


Move = Show | Stay | End


def clip(text: str, most: int = LABEL) -> str:
    return text if len(text) <= most else text[: most - 1].rstrip() + "."


def fit(*parts: str) -> str:
    """Parts joined by new lines, dropping the first ones (notes) while the whole is too long;
    the last part (the question) is cut as a last resort, so no screen is ever over the limit."""
    kept = [part for part in parts if part]
    while len(kept) > 1 and len("\n".join(kept)) > MAX_SCREEN:
        kept.pop(0)
    text = "\n".join(kept)
    if len(text) > MAX_SCREEN:
        log.warning("a USSD screen was cut to %d characters", MAX_SCREEN)
        text = text[: MAX_SCREEN - 1] + "."
    return text


def numbered(options: list[str], *, back: bool = False) -> list[str]:
    lines = [f"{n} {option}" for n, option in enumerate(options, start=1)]
    if back:
        lines.append(f"{BACK} {{back}}")
    return lines


def _pick(text: str, count: int) -> int | None:
    """The 1-based option a keypad answer picks, if it is one."""
    number = one_number(text) if text.strip().isdigit() else None
    return number if number is not None and 1 <= number <= count else None


def _menu_lines(ctx: Context, options: list[str], *, back: bool = False) -> str:
    lines = numbered(options, back=back)
    return "\n".join(line.replace("{back}", ctx.t("ussd.back")) for line in lines)


# --- home ---------------------------------------------------------------------------------


async def home_prompt(ctx: Context) -> Screen:
    count = len(await open_offers(ctx.session, me(ctx), ctx.now))
    items = [
        ctx.t("ussd.item.offers", count=count),
        ctx.t("ussd.item.jobs"),
        ctx.t("ussd.item.ready"),
        ctx.t("ussd.item.earnings"),
        ctx.t("ussd.item.language"),
    ]
    return ask(ctx.t("ussd.home"), _menu_lines(ctx, items))


async def home_answer(ctx: Context, text: str) -> Move:
    picked = _pick(text, 5)
    if picked == 1:
        if not await open_offers(ctx.session, me(ctx), ctx.now):
            return End(ctx.t("ussd.no_offers"))
        return Show(S.OFFERS)
    if picked == 2:
        return End(await jobs_text(ctx))
    if picked == 3:
        work = await _open_work(ctx)
        if not work:
            return End(ctx.t("ussd.nothing_ready"))
        if len(work) == 1:
            ctx.data["allocation"] = work[0][0].id
            return Show(S.READY_COUNT)
        return Show(S.READY_JOB)
    if picked == 4:
        return End(await earnings_text(ctx))
    if picked == 5:
        return Show(S.LANGUAGE)
    return Stay(ctx.t("ussd.choose", count=5))


# --- offers -------------------------------------------------------------------------------


async def offers_prompt(ctx: Context) -> Screen:
    listed = (await open_offers(ctx.session, me(ctx), ctx.now))[:MAX_LISTED]
    ctx.data["offers"] = [offer.id for offer, _ in listed]
    lines = [
        ctx.t(
            "ussd.offer_line",
            id=offer.id,
            quantity=offer.quantity,
            component=clip(component.name),
            total=ctx.money(offer.quantity * offer.piece_rate_cents),
        )
        for offer, component in listed
    ]
    return ask(ctx.t("ussd.offers_title"), _menu_lines(ctx, lines, back=True))


async def offers_answer(ctx: Context, text: str) -> Move:
    if text.strip() == BACK:
        return Show(S.HOME)
    listed: list[int] = ctx.data.get("offers", [])
    picked = _pick(text, len(listed))
    if picked is None:
        return Stay(ctx.t("ussd.choose_or_back", count=len(listed)))
    offer = await offers.answerable(ctx, listed[picked - 1])
    if isinstance(offer, str):
        return End(offer)  # the same reply as on WhatsApp: taken, withdrawn, expired...
    ctx.data["offer"] = offer.id
    return Show(S.OFFER)


async def offer_prompt(ctx: Context) -> Screen:
    offer = await offers.answerable(ctx, ctx.data["offer"])
    if isinstance(offer, str):
        return Screen(fit(offer), False)
    component = await offer_component(ctx.session, offer)
    head = ctx.t(
        "ussd.offer",
        id=offer.id,
        quantity=offer.quantity,
        component=clip(component.name, 30),
        rate=ctx.money(offer.piece_rate_cents),
        due=weekday_date(ctx.t, offer.due_date),
    )
    options = [
        ctx.t("artisan.offer_accept_all"),
        ctx.t("artisan.offer_accept_part"),
        ctx.t("artisan.offer_decline"),
    ]
    return ask(head, _menu_lines(ctx, options, back=True))


async def offer_answer(ctx: Context, text: str) -> Move:
    if text.strip() == BACK:
        return Show(S.OFFERS)
    picked = _pick(text, 3)
    if picked is None:
        return Stay(ctx.t("ussd.choose_or_back", count=3))
    if picked == 1:
        return End(await _accept(ctx, None))
    checked = await offers.answerable(ctx, ctx.data["offer"])
    if isinstance(checked, str):
        return End(checked)
    return Show(S.PART if picked == 2 else S.DECLINE)


async def part_prompt(ctx: Context) -> Screen:
    offer = await offers.answerable(ctx, ctx.data["offer"])
    if isinstance(offer, str):
        return Screen(fit(offer), False)
    return Screen(fit(ctx.t("ussd.part_ask", id=offer.id, max=offer.quantity)), True)


async def part_answer(ctx: Context, text: str) -> Move:
    offer = await offers.answerable(ctx, ctx.data["offer"])
    if isinstance(offer, str):
        return End(offer)
    count = one_number(text)
    if count is None or not 1 <= count <= offer.quantity:
        return Stay(ctx.t("ussd.number_range", max=offer.quantity))
    return End(await _accept(ctx, count))


async def _accept(ctx: Context, quantity: int | None) -> str:
    """Accept all of the offer or ``quantity`` of it: the domain's ``accept_offer``, after the
    checks every channel makes (``offers.answerable``), with the chat's words for a refusal."""
    offer_id: int = ctx.data["offer"]
    offer = await offers.answerable(ctx, offer_id)
    if isinstance(offer, str):
        return offer
    try:
        allocation = await accept_offer(
            ctx.session, offer_id=offer_id, artisan_id=me(ctx), quantity=quantity, now=ctx.now
        )
    except Forbidden:
        return ctx.t("artisan.offer_not_yours", id=offer_id)
    except (OfferClosed, NotFound):
        return ctx.t("artisan.offer_closed", id=offer_id)
    except InvalidQuantity:
        return ctx.t("artisan.part_out_of_range", id=offer_id, max=offer.quantity)
    component = await offer_component(ctx.session, offer)
    return ctx.t(
        "ussd.accepted",
        id=offer_id,
        quantity=allocation.quantity,
        component=clip(component.name, 30),
        due=weekday_date(ctx.t, allocation.due_date),
        total=ctx.money(allocation.quantity * allocation.piece_rate_cents),
    )


async def decline_prompt(ctx: Context) -> Screen:
    reasons = [ctx.t(msgid) for _, msgid in offers.REASONS]
    head = ctx.t("ussd.decline_ask", id=ctx.data["offer"])
    return ask(head, _menu_lines(ctx, reasons))


async def decline_answer(ctx: Context, text: str) -> Move:
    picked = _pick(text, len(offers.REASONS))
    if picked is None:
        return Stay(ctx.t("ussd.choose", count=len(offers.REASONS)))
    offer_id: int = ctx.data["offer"]
    checked = await offers.answerable(ctx, offer_id)
    if isinstance(checked, str):
        return End(checked)
    try:
        await decline_offer(
            ctx.session,
            offer_id=offer_id,
            artisan_id=me(ctx),
            reason=offers.REASONS[picked - 1][0],
            note=None,
            now=ctx.now,
        )
    except Forbidden:
        return End(ctx.t("artisan.offer_not_yours", id=offer_id))
    except (OfferClosed, NotFound):
        return End(ctx.t("artisan.offer_closed", id=offer_id))
    return End(ctx.t("artisan.offer_declined", id=offer_id))


# --- jobs and earnings ------------------------------------------------------------------------


async def jobs_text(ctx: Context) -> str:
    jobs = await active_allocations(ctx.session, me(ctx))
    if not jobs:
        return ctx.t("ussd.no_jobs")
    lines = [
        ctx.t(
            "ussd.job_line",
            id=allocation.job_id,
            quantity=allocation.quantity,
            component=clip(component.name),
            due=weekday_date(ctx.t, allocation.due_date),
            passed=progress.passed,
        )
        for allocation, component, progress in jobs[:MAX_LISTED]
    ]
    more = len(jobs) - MAX_LISTED
    if more > 0:
        lines.append(ctx.t("ussd.more", count=more))
    return fit(ctx.t("ussd.jobs_title"), "\n".join(lines))


async def earnings_text(ctx: Context) -> str:
    balance = await artisan_balance(ctx.session, me(ctx))
    text = ctx.t(
        "ussd.earnings",
        earned=ctx.money(balance.earned_cents),
        paid=ctx.money(balance.paid_cents),
        available=ctx.money(balance.available_cents + balance.in_flight_cents),
    )
    paid = await ctx.session.exec(
        select(Payout)
        .where(Payout.artisan_id == me(ctx), Payout.status == PayoutStatus.SUCCEEDED)
        .order_by(col(Payout.updated_at).desc(), col(Payout.id).desc())
        .limit(LAST_PAYMENTS)
    )
    lines = [
        ctx.t(
            "ussd.payment_line",
            date=weekday_date(ctx.t, factory_today(payout.updated_at)),
            amount=ctx.money(payout.amount_cents),
            receipt=payout.mpesa_receipt or "-",
        )
        for payout in paid
    ]
    return fit(text, *lines)


# --- work ready, without a photo ---------------------------------------------------------------


async def _open_work(ctx: Context) -> list[tuple[Allocation, str, int]]:
    return [
        (allocation, component.name, progress.outstanding)
        for allocation, component, progress in await active_allocations(ctx.session, me(ctx))
        if progress.outstanding > 0
    ][:MAX_LISTED]


async def ready_job_prompt(ctx: Context) -> Screen:
    work = await _open_work(ctx)
    ctx.data["jobs"] = [allocation.id for allocation, _, _ in work]
    lines = [
        ctx.t("ussd.ready_job_line", id=allocation.job_id, component=clip(name), left=left)
        for allocation, name, left in work
    ]
    return ask(ctx.t("ussd.ready_which"), _menu_lines(ctx, lines, back=True))


async def ready_job_answer(ctx: Context, text: str) -> Move:
    if text.strip() == BACK:
        return Show(S.HOME)
    listed: list[int] = ctx.data.get("jobs", [])
    picked = _pick(text, len(listed))
    if picked is None:
        return Stay(ctx.t("ussd.choose_or_back", count=len(listed)))
    ctx.data["allocation"] = listed[picked - 1]
    return Show(S.READY_COUNT)


async def _outstanding(ctx: Context) -> tuple[int, str]:
    allocation = await ctx.session.get(Allocation, ctx.data["allocation"])
    if allocation is None or allocation.artisan_id != me(ctx):
        return 0, "-"
    component = await job_component(ctx.session, allocation.job_id)
    progress = await allocation_progress(ctx.session, ctx.data["allocation"])
    return progress.outstanding, "-" if component is None else component.name


async def ready_count_prompt(ctx: Context) -> Screen:
    left, name = await _outstanding(ctx)
    text = ctx.t("ussd.ready_count", id=ctx.data["allocation"], component=clip(name), max=left)
    return Screen(fit(text), True)


async def ready_count_answer(ctx: Context, text: str) -> Move:
    left, _ = await _outstanding(ctx)
    count = one_number(text)
    if count is None or not 1 <= count <= left:
        return Stay(ctx.t("ussd.number_range", max=left))
    ctx.data["count"] = count
    return Show(S.READY_CONFIRM)


async def ready_confirm_prompt(ctx: Context) -> Screen:
    _, name = await _outstanding(ctx)
    head = ctx.t(
        "ussd.ready_confirm",
        count=ctx.data["count"],
        component=clip(name),
        id=ctx.data["allocation"],
    )
    options = [ctx.t("ussd.yes"), ctx.t("ussd.no")]
    return ask(head, _menu_lines(ctx, options))


async def ready_confirm_answer(ctx: Context, text: str) -> Move:
    picked = _pick(text, 2)
    if picked is None:
        return Stay(ctx.t("ussd.choose", count=2))
    if picked == 2:
        return Show(S.HOME)
    allocation_id: int = ctx.data["allocation"]
    try:
        submission = await submit_work(
            ctx.session,
            allocation_id=allocation_id,
            artisan_id=me(ctx),
            count=ctx.data["count"],
            photos=(),
            qc_at_receipt=True,
            now=ctx.now,
        )
    except InvalidQuantity:
        ctx.data.pop("count", None)
        return Show(S.READY_COUNT, note=ctx.t("ussd.count_changed"))
    except CancelledWorkClosed as closed:
        return End(ctx.t("ussd.job_closed", id=closed.allocation_id))
    except (Forbidden, NotFound, DomainError):
        return End(ctx.t("ussd.job_closed", id=allocation_id))
    return End(ctx.t("ussd.ready_done", id=submission.id, count=submission.count))


# --- language -----------------------------------------------------------------------------


LANGUAGES = (Language.EN, Language.SW)


def _language_lines(ctx: Context) -> str:
    names = [ctx.catalogue.t(language, "language.name") for language in LANGUAGES]
    return _menu_lines(ctx, names)


async def language_prompt(ctx: Context) -> Screen:
    return ask(ctx.t("ussd.language_ask"), _language_lines(ctx))


async def language_answer(ctx: Context, text: str) -> Move:
    picked = _pick(text, len(LANGUAGES))
    if picked is None:
        return Stay(ctx.t("ussd.choose", count=len(LANGUAGES)))
    language = LANGUAGES[picked - 1]
    assert ctx.person is not None
    assert ctx.person.id is not None
    await set_language(ctx.session, person_id=ctx.person.id, language=language)
    ctx.language = language
    return End(ctx.t("ussd.language_set"))


# --- registration: the registration flow's own steps, asked in USSD's words ------------------
#
# One screen, ``S.REGISTER``, walks ``registration.FLOW`` step by step (the step is kept in the
# session's data): the step's own prompt gives the options (skills in use, known areas, "use this
# number"), its own answer screens and stores the answer, and its last step registers. The words
# are USSD's own where it has them (``REG_WORDS``); a step added to the chat flow later is asked
# in the flow's own words, cut to the screen, until it gets short ones here.

Reg = registration.Reg
STEP = "reg_step"
# Each registration step's question and its "that did not work" line.
REG_WORDS: dict[str, tuple[str, str]] = {
    Reg.NAME: (N_("ussd.reg_name"), N_("ussd.reg_name_invalid")),
    Reg.WORKSHOP: (N_("ussd.reg_workshop"), N_("ussd.reg_workshop_invalid")),
    Reg.SKILLS: (N_("ussd.reg_skills"), N_("ussd.reg_skills_invalid")),
    Reg.AREA: (N_("ussd.reg_area"), N_("ussd.reg_area_invalid")),
    Reg.AREA_CONFIRM: (N_("ussd.reg_area_confirm"), N_("ussd.reg_area_confirm_invalid")),
    Reg.CAPACITY: (N_("ussd.reg_capacity"), N_("ussd.reg_capacity_invalid")),
    Reg.MPESA: (N_("ussd.reg_mpesa"), N_("ussd.reg_mpesa_invalid")),
    Reg.CONFIRM: (N_("ussd.reg_confirm"), N_("ussd.reg_confirm_invalid")),
}
# At the end, register or start again: the chat's optional questions after registering (issue
# 19's impact questions) are not asked on a USSD screen.
CONFIRM_CHOICES = frozenset({"reg:confirm", "reg:restart"})


def _reg_step(ctx: Context) -> str:
    step: str = ctx.data.get(STEP, registration.FLOW.first)
    return step


async def _reg_reply(ctx: Context) -> tuple[str, tuple[Choice, ...]]:
    """The chat step's own question and options (skills in use, known areas, this number)."""
    step = _reg_step(ctx)
    reply = await registration.FLOW.step(step).prompt(ctx)
    choices = reply.choices
    if step == Reg.CONFIRM:
        choices = tuple(choice for choice in choices if choice.payload in CONFIRM_CHOICES)
    return reply.text, choices


async def register_prompt(ctx: Context) -> Screen:
    step = _reg_step(ctx)
    if step == Reg.LANGUAGE:
        welcome = " / ".join(ctx.catalogue.t(lang, "ussd.welcome") for lang in LANGUAGES)
        return ask(welcome, _language_lines(ctx))
    said, choices = await _reg_reply(ctx)
    if step == Reg.CONFIRM:
        head = _reg_summary(ctx)
    elif step in REG_WORDS:
        head = ctx.t(REG_WORDS[step][0], **_reg_params(ctx, step))
    else:
        head = said
    labels = [clip(choice.label, 28) for choice in choices[:MAX_REG_OPTIONS]]
    return ask(head, _menu_lines(ctx, labels))


def _reg_params(ctx: Context, step: str) -> dict[str, object]:
    if step == Reg.WORKSHOP:
        return {"name": clip(ctx.data.get("name", ""), 30)}
    if step == Reg.CAPACITY:
        return {"skills": clip(", ".join(ctx.data.get("skills", [])), 40)}
    if step == Reg.AREA_CONFIRM:
        return {"area": clip(ctx.data.get("area_suggestion", ""), 30)}
    return {}


def _reg_summary(ctx: Context) -> str:
    capacity: dict[str, int] = ctx.data.get("capacity", {})
    return ctx.t(
        "ussd.reg_confirm",
        name=clip(ctx.data.get("name", ""), 24),
        workshop=clip(ctx.data.get("workshop", ""), 24),
        skills=clip(", ".join(f"{skill} {count}" for skill, count in capacity.items()), 30),
        area=clip(ctx.data.get("area", ""), 20),
        mpesa=_local(ctx.data.get("mpesa", "")),
    )


def _local(e164: str) -> str:
    """+254712345678 as Kenyans write it: 0712345678."""
    return "0" + e164.removeprefix("+254") if e164.startswith("+254") else e164


async def register_answer(ctx: Context, text: str) -> Move:
    step = _reg_step(ctx)
    _, choices = await _reg_reply(ctx)
    ctx.choices = choices
    picked = _pick(text, len(choices)) if choices else None
    if step == Reg.LANGUAGE and picked is None:
        return Stay(ctx.t("ussd.choose", count=len(choices)))
    choice = None if picked is None else choices[picked - 1]
    outcome = await registration.FLOW.step(step).answer(ctx, Answer(text.strip(), choice))
    if isinstance(outcome, Ask):
        return Stay(ctx.t(REG_WORDS[step][1]) if step in REG_WORDS else outcome.problem)
    if isinstance(outcome, Goto):
        ctx.data[STEP] = str(outcome.step)
        return Show(S.REGISTER)
    if isinstance(outcome, Finish | Start):
        assert ctx.person is not None  # registered by the flow's last step
        return End(ctx.t("ussd.registered", name=clip(ctx.person.name, 30)))
    raise AssertionError(f"unexpected outcome {outcome!r}")  # pragma: no cover


# --- the table --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScreenDef:
    prompt: Callable[[Context], Awaitable[Screen]]
    answer: Callable[[Context, str], Awaitable[Move]]


SCREENS: dict[S, ScreenDef] = {
    S.HOME: ScreenDef(home_prompt, home_answer),
    S.OFFERS: ScreenDef(offers_prompt, offers_answer),
    S.OFFER: ScreenDef(offer_prompt, offer_answer),
    S.PART: ScreenDef(part_prompt, part_answer),
    S.DECLINE: ScreenDef(decline_prompt, decline_answer),
    S.READY_JOB: ScreenDef(ready_job_prompt, ready_job_answer),
    S.READY_COUNT: ScreenDef(ready_count_prompt, ready_count_answer),
    S.READY_CONFIRM: ScreenDef(ready_confirm_prompt, ready_confirm_answer),
    S.LANGUAGE: ScreenDef(language_prompt, language_answer),
    S.REGISTER: ScreenDef(register_prompt, register_answer),
}
