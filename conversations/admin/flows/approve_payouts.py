"""An admin approves a payout batch only after seeing its total and saying yes.

Started by ``/approve_payouts [batch]`` (and the "Approve" button under a batch in ``/payouts``)
once ``domain.payouts.check_approval`` found nothing in the way: the question shows the batch,
its payouts and total, the M-Pesa float it was checked against, and, when its maker approves it
as the only admin, says so. "Yes" (the button, its number, or yes / ndiyo typed) approves it with
``domain.payouts.approve_batch`` — the same function the staff console calls, which checks
everything again (the float may have changed while the question waited); "no" (hapana) leaves
the batch waiting. The state table is ``TABLE``; ``approve_payouts.mmd`` draws it.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from pathlib import Path

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations.admin.flows.confirming import Said, said, yes_no_choices
from conversations.admin.replies import Replies
from conversations.flow import (
    DONE,
    Answer,
    Ask,
    Context,
    Expect,
    Finish,
    Flow,
    Outcome,
    Start,
    Step,
)
from conversations.formatting import me, numeric_date_time
from conversations.i18n import N_
from conversations.messages import Choice, Reply
from conversations.notices import NoticeContext, NoticeTable, tell
from domain import events
from domain.errors import Forbidden, IllegalTransition, NotFound
from domain.model import PayoutBatch, PayoutBatchStatus, Person, Role
from domain.payouts import (
    ApprovalCheck,
    FloatTooLow,
    FloatUnknown,
    MakerCannotApprove,
    OverBatchLimit,
    approve_batch,
    batch_count_and_total,
    check_approval,
)
from domain.statemachine import Transitions

log = logging.getLogger(__name__)

NAME = "approve_payouts"
PREFIX = "payapprove"


class Approve(StrEnum):
    CONFIRM = "confirm"
    DONE = DONE


TABLE: dict[Approve, frozenset[Approve]] = {
    Approve.CONFIRM: frozenset({Approve.DONE}),
    Approve.DONE: frozenset(),
}


async def started_by(ctx: Context, created_by: int | None) -> str:
    """Who made a batch, as admins see it beside the batch: an admin's name, or the schedule."""
    starter = None if created_by is None else await ctx.session.get(Person, created_by)
    if starter is None:
        return ctx.t("admin.batch_scheduled")
    return ctx.t("admin.batch_started_by", name=starter.name)


def refused(ctx: Context, exc: Exception, batch_id: int) -> Replies:
    """What an admin reads when the domain refuses an approval (nothing was changed)."""
    match exc:
        case OverBatchLimit():
            return [
                Reply(
                    ctx.t(
                        "admin.batch_over_limit",
                        id=exc.batch_id,
                        total=ctx.money(exc.total_cents),
                        limit=ctx.money(exc.limit_cents),
                    )
                )
            ]
        case FloatTooLow():
            return [
                Reply(
                    ctx.t(
                        "admin.approve_float_short",
                        id=exc.batch_id,
                        total=ctx.money(exc.total_cents),
                        available=ctx.money(exc.available_cents),
                        short=ctx.money(exc.total_cents - exc.available_cents),
                    )
                )
            ]
        case FloatUnknown():
            return [
                Reply(
                    ctx.t(
                        "admin.approve_float_unknown",
                        id=exc.batch_id,
                        total=ctx.money(exc.total_cents),
                    )
                )
            ]
        case MakerCannotApprove():
            return [Reply(ctx.t("admin.approve_maker_checker", id=exc.batch_id))]
        case NotFound():
            return [Reply(ctx.t("admin.batch_not_found", id=batch_id))]
        case IllegalTransition():
            return [Reply(ctx.t("admin.approve_not_waiting", id=batch_id))]
        case Forbidden():
            return [Reply(ctx.t("command.forbidden"))]
    raise exc


_REFUSALS = (
    OverBatchLimit,
    FloatTooLow,
    FloatUnknown,
    MakerCannotApprove,
    NotFound,
    IllegalTransition,
    Forbidden,
)


async def _check(ctx: Context, batch_id: int) -> ApprovalCheck:
    return await check_approval(
        ctx.session,
        batch_id=batch_id,
        admin_id=me(ctx),
        max_batch_cents=ctx.policy.payout_max_per_batch_cents,
        check_float=ctx.policy.mpesa_configured,
        maker_checker=ctx.policy.payout_maker_checker,
    )


async def ask_to_approve(ctx: Context, batch_id: int) -> Start | Replies:
    """The confirmation question for batch ``batch_id``, or why it cannot be approved now."""
    try:
        checked = await _check(ctx, batch_id)
    except _REFUSALS as exc:
        log.info("approval of payout batch %s refused for person %s: %s", batch_id, me(ctx), exc)
        return refused(ctx, exc, batch_id)
    return Start(NAME, {"batch": checked.batch_id})


async def _ask(ctx: Context) -> Reply:
    batch_id = int(ctx.data["batch"])
    try:
        checked: ApprovalCheck | None = await _check(ctx, batch_id)
    except _REFUSALS:
        checked = None  # changed since the command: the answer's approval says why
    count, total = await batch_count_and_total(ctx.session, batch_id)
    batch = await ctx.session.get(PayoutBatch, batch_id)
    lines = [
        ctx.t(
            "admin.approve_confirm",
            id=batch_id,
            by=await started_by(ctx, batch.created_by if batch else None),
            count=count,
            total=ctx.money(total),
        )
    ]
    if checked is not None and checked.float_known is not None:
        known = checked.float_known
        lines.append(
            ctx.t(
                "admin.approve_confirm_float",
                available=ctx.money(known.available_cents),
                when=numeric_date_time(known.as_of),
            )
        )
    if not ctx.policy.mpesa_configured:
        lines.append(ctx.t("admin.approve_confirm_not_configured"))
    if checked is not None and checked.alone:
        lines.append(ctx.t("admin.approve_alone"))
    lines.append(ctx.t("admin.confirm_yes_no"))
    return Reply(
        "\n".join(lines), choices=yes_no_choices(ctx, PREFIX, N_("admin.approve_confirm_yes"))
    )


async def _answer(ctx: Context, answer: Answer) -> Outcome:
    match said(answer, PREFIX):
        case Said.NO:
            return Finish(say=(Reply(ctx.t("admin.approve_kept", id=ctx.data["batch"])),))
        case Said.UNCLEAR:
            return Ask(ctx.t("admin.confirm_unclear"))
    batch_id = int(ctx.data["batch"])
    try:
        checked = await _check(ctx, batch_id)
        batch = await approve_batch(
            ctx.session,
            batch_id=batch_id,
            admin_id=me(ctx),
            now=ctx.now,
            max_batch_cents=ctx.policy.payout_max_per_batch_cents,
            check_float=ctx.policy.mpesa_configured,
            maker_checker=ctx.policy.payout_maker_checker,
        )
    except _REFUSALS as exc:
        log.warning("approval of payout batch %s refused: %s", batch_id, exc)
        return Finish(say=tuple(refused(ctx, exc, batch_id)))
    said_ = {
        "id": batch_id,
        "by": await started_by(ctx, batch.created_by),
        "count": checked.count,
        "total": ctx.money(checked.total_cents),
    }
    log.info("person %s approved payout batch %s", me(ctx), batch_id)
    # Never a silent drop without M-Pesa: the money stays reserved and goes once it is set up.
    msgid = N_("admin.approved") if ctx.policy.mpesa_configured else N_("admin.approved_not_sent")
    replies = [Reply(ctx.t(msgid, **said_))]
    if checked.alone:
        replies.append(Reply(ctx.t("admin.approved_alone")))
    return Finish(say=tuple(replies))


# --- the notice: the float has come ----------------------------------------------------------


async def _float_arrived(
    session: AsyncSession, event: events.FloatArrived, ctx: NoticeContext
) -> int:
    """M-Pesa reported the float after approval was refused for want of it ("try again in a
    minute"): every admin hears it once, in their language, against each batch waiting for
    approval, with its Approve button when the float covers it (the button asks to confirm,
    and ``approve_batch`` checks everything again)."""
    waiting = await session.exec(
        select(PayoutBatch.id)
        .where(PayoutBatch.status == PayoutBatchStatus.AWAITING_APPROVAL)
        .order_by(col(PayoutBatch.id))
    )
    batches = [
        (batch_id, (await batch_count_and_total(session, batch_id))[1])
        for batch_id in waiting.all()
        if batch_id is not None
    ]
    if not batches:
        return 0
    admins = await session.exec(
        select(Person).where(Person.role == Role.ADMIN).order_by(col(Person.id))
    )
    sent = 0
    for admin in admins.all():
        for batch_id, total in batches:
            lines = [
                ctx.catalogue.t(
                    admin.language,
                    "polish.float_arrived",
                    available=ctx.money(event.available_cents),
                    when=numeric_date_time(event.as_of),
                    id=batch_id,
                    total=ctx.money(total),
                )
            ]
            choices: tuple[Choice, ...] = ()
            if total <= event.available_cents:
                lines.append(
                    ctx.catalogue.t(admin.language, "polish.float_arrived_enough", id=batch_id)
                )
                label = ctx.catalogue.t(admin.language, "admin.approve_button", id=batch_id)
                choices = (Choice(f"approve_payouts:{batch_id}", label),)
            else:
                short = ctx.money(total - event.available_cents)
                lines.append(
                    ctx.catalogue.t(admin.language, "polish.float_arrived_short", short=short)
                )
            sent += await tell(session, admin, Reply("\n".join(lines), choices=choices), ctx.now)
    return sent


NOTICES: NoticeTable = {events.FloatArrived: _float_arrived}


FLOW = Flow(
    name=NAME,
    first=Approve.CONFIRM,
    table=Transitions(NAME, TABLE),
    steps={Approve.CONFIRM: Step(Expect.TEXT, _ask, _answer)},
    diagram=Path(__file__).with_name("approve_payouts.mmd"),
)
