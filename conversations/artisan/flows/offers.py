"""An artisan answers job offers: accept all, accept part ("I can do 30"), or decline with a reason.

Three small flows, each with its diagram beside this file:

- ``offers`` (menu): pick one of the open offers, then accept all, accept part or decline;
- ``offer_part``: how many pieces of one offer the artisan will make (1..offered);
- ``offer_decline``: why they turn one offer down (busy, no materials, rate too low, other).

Every answer names its offer: the notification's buttons carry the offer id
(``offer:<id>:accept``), the typed codes say it (``ACCEPT 12``, ``PART 12 30``, ``DECLINE 12``,
in Kiswahili ``KUBALI``/``SEHEMU``/``KATAA``), and the flows keep it in their data. So several
open offers never get mixed up. An offer that expired, was withdrawn, was already answered or
was made to someone else gets a clear reply and nothing changes.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from pathlib import Path

from conversations.artisan.queries import offer_component, open_offers
from conversations.artisan.views import offer_text, one_number
from conversations.flow import (
    DONE,
    Answer,
    Ask,
    Context,
    Expect,
    Finish,
    Flow,
    Goto,
    Outcome,
    Start,
    Step,
)
from conversations.formatting import me, weekday_date
from conversations.i18n import N_
from conversations.messages import Choice, Reply
from domain.errors import Forbidden, InvalidQuantity, NotFound
from domain.model import DeclineReason, Offer, OfferStatus
from domain.services.offers import OfferClosed, accept_offer, decline_offer
from domain.statemachine import Transitions
from domain.text import clean_text

log = logging.getLogger(__name__)

NAME = "offers"
PART = "offer_part"
DECLINE = "offer_decline"
MAX_NOTE = 200

REASONS: tuple[tuple[DeclineReason, str], ...] = (
    (DeclineReason.BUSY, N_("artisan.reason.busy")),
    (DeclineReason.NO_MATERIALS, N_("artisan.reason.no_materials")),
    (DeclineReason.RATE_TOO_LOW, N_("artisan.reason.rate_too_low")),
    (DeclineReason.OTHER, N_("artisan.reason.other")),
)
# Words that say a reason when it is typed rather than tapped ("DECLINE 12 busy", "nina kazi").
_REASON_WORDS: tuple[tuple[DeclineReason, tuple[str, ...]], ...] = (
    (DeclineReason.NO_MATERIALS, ("material", "malighafi", "vifaa")),
    (DeclineReason.RATE_TOO_LOW, ("rate", "pay", "low", "bei", "malipo", "ndogo")),
    (DeclineReason.BUSY, ("busy", "time", "kazi nyingi", "shughuli", "muda", "nina kazi")),
)


class Offers(StrEnum):
    PICK = "pick"
    ACT = "act"
    DONE = DONE


class Part(StrEnum):
    HOW_MANY = "how_many"
    DONE = DONE


class Decline(StrEnum):
    REASON = "reason"
    DONE = DONE


OFFERS_TABLE: dict[Offers, frozenset[Offers]] = {
    Offers.PICK: frozenset({Offers.ACT}),
    Offers.ACT: frozenset({Offers.DONE}),
    Offers.DONE: frozenset(),
}
PART_TABLE: dict[Part, frozenset[Part]] = {
    Part.HOW_MANY: frozenset({Part.DONE}),
    Part.DONE: frozenset(),
}
DECLINE_TABLE: dict[Decline, frozenset[Decline]] = {
    Decline.REASON: frozenset({Decline.DONE}),
    Decline.DONE: frozenset(),
}


# --- checks and answers shared by the flows and the commands -------------------------------


def part_example(quantity: int) -> int:
    """A number to show as an example answer to "how many can you make?": inside the range (half
    the offer), never a number the reply would then refuse."""
    return max(1, quantity // 2)


async def answerable(ctx: Context, offer_id: int) -> Offer | str:
    """The artisan's own open offer, or what to tell them instead (nothing is changed)."""
    offer = await ctx.session.get(Offer, offer_id)
    if offer is None:
        return ctx.t("artisan.offer_not_found", id=offer_id)
    if offer.artisan_id != me(ctx):
        log.warning(
            "person %s tried to answer offer %s, made to person %s",
            me(ctx),
            offer_id,
            offer.artisan_id,
        )
        return ctx.t("artisan.offer_not_yours", id=offer_id)
    if offer.status is OfferStatus.WITHDRAWN:
        return ctx.t("artisan.offer_withdrawn", id=offer_id)
    if offer.status is OfferStatus.EXPIRED or (
        offer.status is OfferStatus.OPEN and ctx.now >= offer.expires_at
    ):
        return ctx.t("artisan.offer_expired", id=offer_id)
    if offer.status is not OfferStatus.OPEN:
        return ctx.t("artisan.offer_answered", id=offer_id)
    return offer


async def accept(ctx: Context, offer_id: int, quantity: int | None) -> list[Reply]:
    """Accept all of an offer (``quantity`` None) or part of it; the rest goes back to the job."""
    offer = await answerable(ctx, offer_id)
    if isinstance(offer, str):
        return [Reply(offer)]
    if quantity is not None and not 1 <= quantity <= offer.quantity:
        return [Reply(ctx.t("artisan.part_out_of_range", id=offer_id, max=offer.quantity))]
    try:
        allocation = await accept_offer(
            ctx.session, offer_id=offer_id, artisan_id=me(ctx), quantity=quantity, now=ctx.now
        )
    except Forbidden:
        return [Reply(ctx.t("artisan.offer_not_yours", id=offer_id))]
    except (OfferClosed, NotFound):
        return [Reply(ctx.t("artisan.offer_closed", id=offer_id))]
    except InvalidQuantity:
        return [Reply(ctx.t("artisan.part_out_of_range", id=offer_id, max=offer.quantity))]
    component = await offer_component(ctx.session, offer)
    params = {
        "id": offer_id,
        "quantity": allocation.quantity,
        "component": component.name,
        "due": weekday_date(ctx.t, allocation.due_date),
        "total": ctx.money(allocation.quantity * allocation.piece_rate_cents),
    }
    if allocation.quantity == offer.quantity:
        return [Reply(ctx.t("artisan.offer_accepted", **params))]
    if allocation.quantity < (offer.quantity if quantity is None else quantity):
        # Over-offered: other workshops accepted first and this is what was left.
        return [Reply(ctx.t("artisan.offer_accepted_last", **params))]
    return [Reply(ctx.t("artisan.offer_accepted_part", **params))]


def reason_from_text(ctx: Context, text: str) -> tuple[DeclineReason, str | None] | None:
    """A reason typed in words: one of ours by name or keyword; anything else is "other" with
    the words kept as the note. None if there is nothing to keep."""
    words = clean_text(text)
    folded = words.casefold()
    if not folded or not any(ch.isalpha() for ch in folded) or len(words) > MAX_NOTE:
        return None
    for reason, msgid in REASONS:
        if folded == ctx.t(msgid).casefold():
            return reason, None
    for reason, keywords in _REASON_WORDS:
        if any(word in folded for word in keywords):
            return reason, words
    return DeclineReason.OTHER, words


async def decline(
    ctx: Context, offer_id: int, reason: DeclineReason, note: str | None
) -> list[Reply]:
    offer = await answerable(ctx, offer_id)
    if isinstance(offer, str):
        return [Reply(offer)]
    try:
        await decline_offer(
            ctx.session,
            offer_id=offer_id,
            artisan_id=me(ctx),
            reason=reason,
            note=note,
            now=ctx.now,
        )
    except Forbidden:
        return [Reply(ctx.t("artisan.offer_not_yours", id=offer_id))]
    except (OfferClosed, NotFound):
        return [Reply(ctx.t("artisan.offer_closed", id=offer_id))]
    return [Reply(ctx.t("artisan.offer_declined", id=offer_id))]


async def start_part(ctx: Context, offer_id: int) -> list[Reply] | Start:
    offer = await answerable(ctx, offer_id)
    return [Reply(offer)] if isinstance(offer, str) else Start(PART, {"offer": offer_id})


async def start_decline(ctx: Context, offer_id: int) -> list[Reply] | Start:
    offer = await answerable(ctx, offer_id)
    return [Reply(offer)] if isinstance(offer, str) else Start(DECLINE, {"offer": offer_id})


async def menu_offers(ctx: Context) -> list[Reply] | Start:
    """The menu's "offers": the open offers to pick from, or a word that there are none."""
    if not await open_offers(ctx.session, me(ctx), ctx.now):
        return [Reply(ctx.t("artisan.no_offers"))]
    return Start(NAME)


# --- offers: pick one, then answer it ----------------------------------------------------


async def _ask_pick(ctx: Context) -> Reply:
    offers = await open_offers(ctx.session, me(ctx), ctx.now)
    if not offers:
        return Reply(ctx.t("artisan.no_offers"))
    choices = tuple(
        Choice(
            f"pick:{offer.id}",
            ctx.t(
                "artisan.offer_label",
                id=offer.id,
                quantity=offer.quantity,
                component=component.name,
                total=ctx.money(offer.quantity * offer.piece_rate_cents),
            ),
        )
        for offer, component in offers
    )
    return Reply(ctx.t("artisan.offers_title", count=len(offers)), choices=choices)


async def _on_pick(ctx: Context, answer: Answer) -> Outcome:
    if answer.choice is None:
        if not ctx.choices:
            return Finish(say=(Reply(ctx.t("artisan.no_offers")),))
        return Ask(ctx.unclear(answer.text))
    offer_id = int(answer.choice.payload.removeprefix("pick:"))
    checked = await answerable(ctx, offer_id)
    if isinstance(checked, str):
        return Finish(say=(Reply(checked),))
    ctx.data["offer"] = offer_id
    return Goto(Offers.ACT)


async def _ask_act(ctx: Context) -> Reply:
    offer = await answerable(ctx, ctx.data["offer"])
    if isinstance(offer, str):
        return Reply(offer)
    component = await offer_component(ctx.session, offer)
    return Reply(
        await offer_text(ctx.session, ctx.t, ctx.money, offer, component),
        choices=(
            Choice("act:accept", ctx.t("artisan.offer_accept_all")),
            Choice("act:part", ctx.t("artisan.offer_accept_part")),
            Choice("act:decline", ctx.t("artisan.offer_decline")),
        ),
    )


async def _on_act(ctx: Context, answer: Answer) -> Outcome:
    offer_id: int = ctx.data["offer"]
    if answer.choice is None:
        if not ctx.choices:  # the offer closed while it was shown: say so again
            checked = await answerable(ctx, offer_id)
            return Finish(
                say=(Reply(checked if isinstance(checked, str) else ctx.t("artisan.no_offers")),)
            )
        return Ask(ctx.unclear(answer.text))
    action = answer.choice.payload.removeprefix("act:")
    if action == "accept":
        return Finish(say=tuple(await accept(ctx, offer_id, None)))
    started = await (
        start_part(ctx, offer_id) if action == "part" else start_decline(ctx, offer_id)
    )
    return started if isinstance(started, Start) else Finish(say=tuple(started))


# --- offer_part: how many -------------------------------------------------------------------


async def _ask_how_many(ctx: Context) -> Reply:
    offer = await answerable(ctx, ctx.data["offer"])
    if isinstance(offer, str):
        return Reply(offer)
    component = await offer_component(ctx.session, offer)
    return Reply(
        ctx.t(
            "artisan.part_ask",
            id=offer.id,
            quantity=offer.quantity,
            example=part_example(offer.quantity),
            component=component.name,
        )
    )


async def _on_how_many(ctx: Context, answer: Answer) -> Outcome:
    offer = await answerable(ctx, ctx.data["offer"])
    if isinstance(offer, str):
        return Finish(say=(Reply(offer),))
    count = one_number(answer.text)
    if count is None:
        return Ask(
            ctx.t(
                "artisan.part_not_a_number",
                max=offer.quantity,
                example=part_example(offer.quantity),
            )
        )
    if not 1 <= count <= offer.quantity:
        return Ask(ctx.t("artisan.part_out_of_range", id=offer.id, max=offer.quantity))
    return Finish(say=tuple(await accept(ctx, ctx.data["offer"], count)))


# --- offer_decline: why ---------------------------------------------------------------------


async def _ask_reason(ctx: Context) -> Reply:
    offer = await answerable(ctx, ctx.data["offer"])
    if isinstance(offer, str):
        return Reply(offer)
    component = await offer_component(ctx.session, offer)
    return Reply(
        ctx.t("artisan.decline_ask", id=offer.id, component=component.name),
        choices=tuple(Choice(f"why:{reason}", ctx.t(msgid)) for reason, msgid in REASONS),
    )


async def _on_reason(ctx: Context, answer: Answer) -> Outcome:
    offer_id: int = ctx.data["offer"]
    if answer.choice is not None:
        reason = DeclineReason(answer.choice.payload.removeprefix("why:"))
        return Finish(say=tuple(await decline(ctx, offer_id, reason, None)))
    if not ctx.choices:  # the offer closed while it was shown
        checked = await answerable(ctx, offer_id)
        return Finish(
            say=(Reply(checked if isinstance(checked, str) else ctx.t("artisan.no_offers")),)
        )
    typed = reason_from_text(ctx, answer.text)
    if typed is None:
        return Ask(ctx.t("artisan.decline_reason_invalid", count=len(ctx.choices)))
    return Finish(say=tuple(await decline(ctx, offer_id, *typed)))


_HERE = Path(__file__).parent

FLOW = Flow(
    name=NAME,
    first=Offers.PICK,
    table=Transitions(NAME, OFFERS_TABLE),
    steps={
        Offers.PICK: Step(Expect.TEXT, _ask_pick, _on_pick),
        Offers.ACT: Step(Expect.TEXT, _ask_act, _on_act),
    },
    diagram=_HERE / "offers.mmd",
)
PART_FLOW = Flow(
    name=PART,
    first=Part.HOW_MANY,
    table=Transitions(PART, PART_TABLE),
    steps={Part.HOW_MANY: Step(Expect.TEXT, _ask_how_many, _on_how_many)},
    diagram=_HERE / "offer_part.mmd",
)
DECLINE_FLOW = Flow(
    name=DECLINE,
    first=Decline.REASON,
    table=Transitions(DECLINE, DECLINE_TABLE),
    steps={Decline.REASON: Step(Expect.TEXT, _ask_reason, _on_reason)},
    diagram=_HERE / "offer_decline.mmd",
)
