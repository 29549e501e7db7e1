"""A delivery arrives at the central workshop: a field agent or admin counts it in.

Two small flows, each with its table and diagram beside it:

- ``receipt_pick`` (``receipt_pick.mmd``): the deliveries on their way, to pick one from;
- ``receipt`` (``receipt.mmd``): one delivery, already chosen (picked, or ``/receipt 7``): how many
  pieces arrived, and — only when that differs from what the artisan declared — a note on why.

``record_receipt`` pays the artisan for what arrived. A discrepancy is flagged to both sides: the
artisan by their own notification, the admins and the area's agents by ``agent.notices``; the
person counting is told here.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from pathlib import Path

from conversations.agent.queries import (
    DeliveryView,
    arranged_deliveries,
    method_label,
    parse_count,
    view_delivery,
)
from conversations.flow import (
    DONE,
    Answer,
    Ask,
    Context,
    Expect,
    Finish,
    Flow,
    Goto,
    Option,
    Outcome,
    Step,
    pick_one_flow,
)
from conversations.formatting import short_date_time
from conversations.i18n import N_
from conversations.messages import Choice, Reply
from domain.errors import DomainError, Forbidden, IllegalTransition
from domain.limits import MAX_PIECES
from domain.services.deliveries import record_receipt
from domain.statemachine import Transitions
from domain.text import clean_text, quoted

log = logging.getLogger(__name__)

PICK_NAME = "receipt_pick"
NAME = "receipt"
MAX_RECEIVED = MAX_PIECES
MAX_NOTE = 250  # the stored note also carries "declared X, received Y: "


# --- picking a delivery -------------------------------------------------------------------


class Pick(StrEnum):
    DELIVERY = "delivery"
    DONE = DONE


def _label(ctx: Context, view: DeliveryView) -> str:
    return ctx.t(
        "agent.receipt.choice",
        id=view.id,
        artisan=quoted(view.artisan.name),
        count=view.delivery.declared_quantity,
        component=view.component.name,
        slot=short_date_time(view.delivery.slot_start),
    )


async def _deliveries(ctx: Context) -> list[Option]:
    return [Option(view.id, _label(ctx, view)) for view in await arranged_deliveries(ctx)]


PICK_FLOW = pick_one_flow(
    PICK_NAME,
    step=Pick.DELIVERY,
    asks=N_("agent.receipt.ask_delivery"),
    none_left=N_("agent.receipt.none_arranged"),
    prefix="rcpt",
    options=_deliveries,
    target_flow=NAME,
    diagram=Path(__file__).with_name("receipt_pick.mmd"),
)


# --- counting one delivery in ----------------------------------------------------------------


class Receipt(StrEnum):
    COUNT = "count"
    NOTE = "note"
    DONE = DONE


TABLE: dict[Receipt, frozenset[Receipt]] = {
    Receipt.COUNT: frozenset({Receipt.NOTE, Receipt.DONE}),
    Receipt.NOTE: frozenset({Receipt.DONE}),
    Receipt.DONE: frozenset(),
}


async def _delivery(ctx: Context) -> DeliveryView:
    view = await view_delivery(ctx, int(ctx.data["delivery"]))
    assert view is not None  # checked before the flow starts; deliveries are never deleted
    return view


async def _ask_count(ctx: Context) -> Reply:
    view = await _delivery(ctx)
    declared = view.delivery.declared_quantity
    return Reply(
        ctx.t(
            "agent.receipt.ask_count",
            id=view.id,
            artisan=quoted(view.artisan.name),
            area=quoted(view.artisan.area),
            count=declared,
            component=view.component.name,
            method=method_label(ctx, view.delivery.method),
            slot=short_date_time(view.delivery.slot_start),
        ),
        choices=(Choice("rcpt:all", ctx.t("agent.receipt.all_arrived", count=declared)),),
    )


async def _on_count(ctx: Context, answer: Answer) -> Outcome:
    view = await _delivery(ctx)
    declared = view.delivery.declared_quantity
    # A typed number is always a count: "1" is one piece, not the first option ("All 10").
    received = parse_count(answer.text, most=MAX_RECEIVED)
    if answer.choice is not None and answer.choice.payload == "rcpt:all" and received is None:
        received = declared
    if received is None:
        return Ask(ctx.t("agent.receipt.count_invalid", max=MAX_RECEIVED))
    ctx.data["received"] = received
    if received == declared:
        return await _record(ctx, note=None)
    return Goto(Receipt.NOTE)


async def _ask_note(ctx: Context) -> Reply:
    view = await _delivery(ctx)
    return Reply(
        ctx.t(
            "agent.receipt.ask_note",
            received=int(ctx.data["received"]),
            declared=view.delivery.declared_quantity,
        ),
        choices=(Choice("rcpt:nonote", ctx.t("agent.receipt.no_note")),),
    )


async def _on_note(ctx: Context, answer: Answer) -> Outcome:
    if answer.choice is not None and answer.choice.payload == "rcpt:nonote":
        return await _record(ctx, note=None)
    note = clean_text(answer.text)
    if len(note) > MAX_NOTE:
        return Ask(ctx.t("agent.receipt.note_too_long", max=MAX_NOTE))
    return await _record(ctx, note=note)


async def _record(ctx: Context, *, note: str | None) -> Outcome:
    assert ctx.person is not None
    assert ctx.person.id is not None
    delivery_id = int(ctx.data["delivery"])
    received = int(ctx.data["received"])
    try:
        await record_receipt(
            ctx.session,
            delivery_id=delivery_id,
            receiver_id=ctx.person.id,
            received_quantity=received,
            note=note,
            now=ctx.now,
        )
    except IllegalTransition:
        return Finish(say=(Reply(ctx.t("agent.receipt.not_arranged", id=delivery_id)),))
    except Forbidden as exc:
        log.warning(
            "receipt of delivery %s by person %s refused: %s", delivery_id, ctx.person.id, exc
        )
        return Finish(say=(Reply(ctx.t("command.forbidden")),))
    except DomainError as exc:
        log.warning(
            "receipt of delivery %s by person %s failed: %s", delivery_id, ctx.person.id, exc
        )
        return Finish(say=(Reply(ctx.t("agent.receipt.could_not_save", id=delivery_id)),))
    view = await _delivery(ctx)
    declared = view.delivery.declared_quantity
    earned = ctx.money(view.allocation.piece_rate_cents * min(received, declared))
    if received == declared:
        said = ctx.t(
            "agent.receipt.recorded",
            id=delivery_id,
            count=received,
            component=view.component.name,
            artisan=quoted(view.artisan.name),
            earned=earned,
        )
    else:
        said = ctx.t(
            "agent.receipt.recorded_discrepancy",
            id=delivery_id,
            declared=declared,
            received=received,
            component=view.component.name,
            artisan=quoted(view.artisan.name),
            earned=earned,
        )
    return Finish(say=(Reply(said),))


FLOW = Flow(
    name=NAME,
    first=Receipt.COUNT,
    table=Transitions(NAME, TABLE),
    steps={
        Receipt.COUNT: Step(Expect.TEXT, _ask_count, _on_count),
        Receipt.NOTE: Step(Expect.TEXT, _ask_note, _on_note),
    },
    diagram=Path(__file__).with_name("receipt.mmd"),
)
