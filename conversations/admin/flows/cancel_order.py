"""An order is cancelled only after the admin has seen what stops, and said yes.

``/cancel <order> [reason]`` (``orders.py``) checks the order may still be cancelled and starts
this flow: the question shows, for the order's unfinished jobs, the open offers that will be
withdrawn, the accepted lots that stop (with how many artisans hold them), the pieces waiting
for QC (still reviewed) and the pieces already passed (still paid, delivered or written off).
"Yes" (the button, its number, or yes / ndiyo typed) cancels the order as
``domain.services.orders.cancel_order`` does and every artisan is told; "no" (hapana) leaves it as
it is. Asked again on "yes", so an order shipped or cancelled meanwhile is refused, not cancelled
twice. The state table is ``TABLE``; ``cancel_order.mmd`` draws it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from sqlmodel import col, select

from conversations.admin.flows.confirming import Said, said, yes_no_choices
from conversations.admin.replies import ADMINS, ORDER_STATUS
from conversations.flow import DONE, Answer, Ask, Context, Expect, Finish, Flow, Outcome, Step
from conversations.formatting import me
from conversations.i18n import N_
from conversations.messages import Reply
from domain.errors import IllegalTransition, NotFound
from domain.model import (
    OPEN_JOB_STATUSES,
    Allocation,
    AllocationStatus,
    Offer,
    OfferStatus,
    OrderStatus,
)
from domain.quantities import allocations_progress
from domain.services.orders import cancel_order, jobs_of_order
from domain.statemachine import Transitions

log = logging.getLogger(__name__)

NAME = "cancel_order"
PREFIX = "cancelorder"


class Cancelling(StrEnum):
    CONFIRM = "confirm"
    DONE = DONE


TABLE: dict[Cancelling, frozenset[Cancelling]] = {
    Cancelling.CONFIRM: frozenset({Cancelling.DONE}),
    Cancelling.DONE: frozenset(),
}


@dataclass(frozen=True, slots=True)
class WhatStops:
    """What cancelling an order stops now, and what is still reviewed and paid."""

    jobs: int
    offers: int
    offered_pieces: int
    lots: int
    lot_pieces: int
    artisans: int  # holding an open offer or an accepted lot
    in_qc: int  # pieces submitted, waiting for QC: still reviewed, paid once passed and delivered
    passed: int  # pieces passed, not yet received: still paid (delivered or written off)


async def what_stops(ctx: Context, order_id: int) -> WhatStops:
    jobs = [j for j in await jobs_of_order(ctx.session, order_id) if j.status in OPEN_JOB_STATUSES]
    ids = [j.id for j in jobs if j.id is not None]
    offers = list(
        (
            await ctx.session.exec(
                select(Offer).where(col(Offer.job_id).in_(ids), Offer.status == OfferStatus.OPEN)
            )
        ).all()
    )
    lots = list(
        (
            await ctx.session.exec(
                select(Allocation).where(
                    col(Allocation.job_id).in_(ids),
                    Allocation.status == AllocationStatus.ACTIVE,
                )
            )
        ).all()
    )
    progress = await allocations_progress(ctx.session, lots)
    return WhatStops(
        jobs=len(jobs),
        offers=len(offers),
        offered_pieces=sum(o.quantity for o in offers),
        lots=len(lots),
        lot_pieces=sum(a.quantity for a in lots),
        artisans=len({o.artisan_id for o in offers} | {a.artisan_id for a in lots}),
        in_qc=sum(p.pending_review for p in progress.values()),
        passed=sum(p.deliverable + p.in_transit for p in progress.values()),
    )


async def _ask(ctx: Context) -> Reply:
    order_id = int(ctx.data["order"])
    stops = await what_stops(ctx, order_id)
    lines = [ctx.t("clarity.cancel_ask", id=order_id, count=stops.jobs)]
    if stops.artisans == 0:
        lines.append(ctx.t("clarity.cancel_nobody"))
    else:
        lines.append(ctx.t("clarity.cancel_artisans", count=stops.artisans))
        lines.append(
            ctx.t("clarity.cancel_offers", count=stops.offers, pieces=stops.offered_pieces)
        )
        lines.append(ctx.t("clarity.cancel_lots", count=stops.lots, pieces=stops.lot_pieces))
        lines.append(ctx.t("clarity.cancel_in_qc", count=stops.in_qc))
        lines.append(ctx.t("clarity.cancel_passed", count=stops.passed))
    lines.append(ctx.t("admin.confirm_yes_no"))
    return Reply(
        "\n".join(lines), choices=yes_no_choices(ctx, PREFIX, N_("clarity.cancel_confirm_yes"))
    )


async def _answer(ctx: Context, answer: Answer) -> Outcome:
    order_id = int(ctx.data["order"])
    match said(answer, PREFIX):
        case Said.NO:
            return Finish(say=(Reply(ctx.t("clarity.cancel_kept", id=order_id)),))
        case Said.UNCLEAR:
            return Ask(ctx.t("admin.confirm_unclear"))
    if ctx.person is None or ctx.person.role not in ADMINS:  # the role may have changed since
        return Finish(say=(Reply(ctx.t("command.forbidden")),))
    stops = await what_stops(ctx, order_id)
    reason = str(ctx.data.get("reason") or "")
    try:
        async with ctx.session.begin_nested():  # a refusal leaves nothing half-made
            await cancel_order(
                ctx.session,
                order_id,
                # Without a typed reason, the order says who cancelled it in their own words.
                reason=reason or ctx.t("admin.cancelled_by", name=ctx.person.name),
                now=ctx.now,
                grace_days=ctx.policy.cancelled_work_grace_days,
            )
    except NotFound:
        return Finish(say=(Reply(ctx.t("admin.order_not_found", id=order_id)),))
    except IllegalTransition as exc:  # shipped, readied or cancelled since the question
        status = ctx.t(ORDER_STATUS[OrderStatus(exc.current)]).casefold()
        return Finish(say=(Reply(ctx.t("admin.cancel_refused", id=order_id, status=status)),))
    log.info("person %s cancelled order %s (%s jobs)", me(ctx), order_id, stops.jobs)
    return Finish(
        say=(Reply(ctx.t("admin.cancelled", id=order_id, jobs=stops.jobs, count=stops.jobs)),)
    )


FLOW = Flow(
    name=NAME,
    first=Cancelling.CONFIRM,
    table=Transitions(NAME, TABLE),
    steps={Cancelling.CONFIRM: Step(Expect.TEXT, _ask, _answer)},
    diagram=Path(__file__).with_name("cancel_order.mmd"),
)
