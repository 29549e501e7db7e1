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

from conversations.agent.flows import receipt_qc
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
    Start,
    Step,
    pick_one_step,
)
from conversations.formatting import weekday_date_time
from conversations.i18n import N_
from conversations.messages import Choice, Reply
from conversations.quantity import means_all, quantity_question
from domain.errors import DomainError, Forbidden, IllegalTransition
from domain.limits import MAX_PIECES
from domain.services.deliveries import record_receipt
from domain.services.receipt_qc import awaiting_receipt_qc
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
        slot=weekday_date_time(ctx.t, view.delivery.slot_start),
    )


QC_AT_RECEIPT = "s"  # an option key "s12": submission 12, work said ready without photos


async def _deliveries(ctx: Context) -> list[Option]:
    """Deliveries on their way, then work said ready without photos (USSD), to check here."""
    listed = [Option(view.id, _label(ctx, view)) for view in await arranged_deliveries(ctx)]
    for submission in await awaiting_receipt_qc(ctx.session):
        label = await receipt_qc.submission_label(ctx, submission)
        listed.append(Option(f"{QC_AT_RECEIPT}{submission.id}", label))
    return listed


async def anything_to_receive(ctx: Context) -> bool:
    return bool(await arranged_deliveries(ctx) or await awaiting_receipt_qc(ctx.session, limit=1))


async def _picked(ctx: Context, key: str) -> Outcome:
    if key.startswith(QC_AT_RECEIPT):
        return Start(receipt_qc.NAME, {"submission": int(key.removeprefix(QC_AT_RECEIPT))})
    return Start(NAME, {"delivery": int(key)})


PICK_FLOW = Flow(
    name=PICK_NAME,
    first=Pick.DELIVERY,
    table=Transitions(PICK_NAME, {Pick.DELIVERY: frozenset({Pick.DONE}), Pick.DONE: frozenset()}),
    steps={
        Pick.DELIVERY: pick_one_step(
            asks=N_("agent.receipt.ask_delivery"),
            none_left=N_("agent.receipt.none_arranged"),
            prefix="rcpt",
            options=_deliveries,
            picked=_picked,
        )
    },
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
    return quantity_question(
        ctx,
        ctx.t(
            "agent.receipt.ask_count",
            id=view.id,
            artisan=quoted(view.artisan.name),
            area=quoted(view.artisan.area),
            count=declared,
            component=view.component.name,
            method=method_label(ctx, view.delivery.method),
            slot=weekday_date_time(ctx.t, view.delivery.slot_start),
        ),
        Choice("rcpt:all", ctx.t("agent.receipt.all_arrived", count=declared)),
    )


async def _on_count(ctx: Context, answer: Answer) -> Outcome:
    view = await _delivery(ctx)
    declared = view.delivery.declared_quantity
    # A typed number is always a count: "1" is one piece, not the first option ("All 10").
    received = parse_count(answer.text, most=MAX_RECEIVED)
    if received is None and means_all(answer, "rcpt:all"):
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
        Receipt.COUNT: Step(Expect.QUANTITY, _ask_count, _on_count),
        Receipt.NOTE: Step(Expect.TEXT, _ask_note, _on_note),
    },
    diagram=Path(__file__).with_name("receipt.mmd"),
)
