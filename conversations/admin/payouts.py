"""Admins' commands about paying artisans: ``/payouts`` (approved batches not finished, with
their state and any payout held inside them and why; what waits for approval, with an Approve
button; or what a batch made now would pay), ``/make_payouts``, ``/approve_payouts [batch]``
(the confirmation and the rules: ``flows/approve_payouts.py``), ``/cancel_payouts [batch]``.
What the other admins and the artisans are then told is ``notices.py``'s.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations.admin import queries as reports
from conversations.admin.flows.approve_payouts import ask_to_approve
from conversations.admin.replies import (
    ADMINS,
    Replies,
    an_id,
    chunks,
)
from conversations.flow import Command, Context, Start
from conversations.formatting import me
from conversations.i18n import N_
from conversations.messages import Choice, Reply
from domain.errors import IllegalTransition, NotFound
from domain.model import (
    PayoutBatch,
    PayoutBatchStatus,
    PayoutStatus,
    Person,
)
from domain.payouts import (
    HoldReason,
    batch_count_and_total,
    cancel_batch,
    create_payout_batch,
    current_float,
    float_shortfall,
    payout_holds,
)
from domain.text import quoted

log = logging.getLogger(__name__)


def _started_by(ctx: Context, starter: Person | None) -> str:
    """Who made a batch, as admins see it beside the batch: an admin's name, or the schedule."""
    if starter is None:
        return ctx.t("admin.batch_scheduled")
    return ctx.t("admin.batch_started_by", name=starter.name)


async def _batch_started_by(ctx: Context, batch: PayoutBatch) -> str:
    starters = await reports.batch_starters(ctx.session, [batch])
    return _started_by(ctx, starters.get(batch.id or 0))


async def _held(
    ctx: Context, due: list[tuple[Person, int]]
) -> tuple[list[tuple[Person, int]], list[str]]:
    """Of those owed the minimum, who a batch would pay, and a line for each it leaves out with
    the reason: a new M-Pesa number not confirmed yet, a receiver name that did not match, more
    than the most one payout may pay."""
    holds = await payout_holds(ctx.session, [person.id for person, _ in due if person.id])
    limit = ctx.policy.payout_max_per_artisan_cents
    paid: list[tuple[Person, int]] = []
    lines: list[str] = []
    for person, amount in due:
        hold = holds.get(person.id or 0)
        if hold is not None:
            reason = _hold_reason(ctx, hold, person)
        elif limit is not None and amount > limit:
            reason = ctx.t("admin.hold_over_limit", limit=ctx.money(limit))
        else:
            paid.append((person, amount))
            continue
        lines.append(
            ctx.t(
                "admin.payout_held_line",
                id=person.id,
                name=quoted(person.name),
                amount=ctx.money(amount),
                reason=reason,
            )
        )
    return paid, lines


def _over_batch_limit(ctx: Context, batch_id: int, total: int) -> list[Reply]:
    limit = ctx.policy.payout_max_per_batch_cents
    if limit is None or total <= limit:
        return []
    return [
        Reply(
            ctx.t(
                "admin.batch_over_limit",
                id=batch_id,
                total=ctx.money(total),
                limit=ctx.money(limit),
            )
        )
    ]


async def _batch_checks(ctx: Context, batch_id: int, total: int) -> list[str]:
    """What stands between a waiting batch and its approval: the batch limit, and the M-Pesa
    float against what the batch pays (M-Pesa configured only)."""
    lines = [reply.text for reply in _over_batch_limit(ctx, batch_id, total)]
    if not ctx.policy.mpesa_configured:
        return lines
    known = await current_float(ctx.session)
    if known is None:
        return [*lines, ctx.t("admin.float_unknown")]
    short = float_shortfall(known, total)
    available, needed = ctx.money(known.available_cents), ctx.money(total)
    if short:
        line = ctx.t("admin.float_short", available=available, total=needed, short=ctx.money(short))
    else:
        line = ctx.t("admin.float_enough", available=available, total=needed)
    return [*lines, line]


async def approved_unsent(ctx: Context) -> Replies:
    """Approved batches not finished yet: how many of their payouts are paid, being sent and
    waiting, and why those waiting wait (a held artisan, with the reason; M-Pesa not set up; a
    float short of what is left to send)."""
    batches = list(
        await ctx.session.exec(
            select(PayoutBatch)
            .where(
                col(PayoutBatch.status).in_(
                    [PayoutBatchStatus.APPROVED, PayoutBatchStatus.PROCESSING]
                )
            )
            .order_by(col(PayoutBatch.id))
        )
    )
    if not batches:
        return []
    starters = await reports.batch_starters(ctx.session, batches)
    known = await current_float(ctx.session) if ctx.policy.mpesa_configured else None
    replies: Replies = []
    for batch in batches:
        assert batch.id is not None
        lines = await reports.batch_lines(ctx.session, batch.id)
        by_status: dict[PayoutStatus, int] = {}
        for payout, _ in lines:
            by_status[payout.status] = by_status.get(payout.status, 0) + 1
        waiting = [(p, person) for p, person in lines if p.status is PayoutStatus.PENDING]
        holds = await payout_holds(ctx.session, [p.artisan_id for p, _ in waiting])
        approver = (
            None if batch.approved_by is None else await ctx.session.get(Person, batch.approved_by)
        )
        header = ctx.t(
            "admin.payouts_approved_batch",
            id=batch.id,
            by=_started_by(ctx, starters.get(batch.id)),
            approver=approver.name if approver else ctx.t("admin.batch_auto_approved"),
            total=ctx.money(sum(p.amount_cents for p, _ in lines)),
            paid=by_status.get(PayoutStatus.SUCCEEDED, 0),
            sending=by_status.get(PayoutStatus.SENDING, 0) + by_status.get(PayoutStatus.UNKNOWN, 0),
            waiting=len(waiting),
            failed=by_status.get(PayoutStatus.FAILED, 0),
        )
        body: list[str] = []
        for payout, person in waiting:
            hold = holds.get(payout.artisan_id)
            if hold is None:
                continue
            body.append(
                ctx.t(
                    "admin.payout_held_line",
                    id=person.id,
                    name=quoted(person.name),
                    amount=ctx.money(payout.amount_cents),
                    reason=_hold_reason(ctx, hold, person),
                )
            )
        free = sum(p.amount_cents for p, _ in waiting if p.artisan_id not in holds)
        if free and not ctx.policy.mpesa_configured:
            body.append(ctx.t("admin.payouts_approved_no_mpesa"))
        elif free and known is not None and float_shortfall(known, free):
            body.append(
                ctx.t(
                    "admin.payouts_approved_float_short",
                    available=ctx.money(known.available_cents),
                    short=ctx.money(float_shortfall(known, free)),
                )
            )
        elif free:
            body.append(ctx.t("admin.payouts_approved_going"))
        replies += chunks(header, body)
    return replies


def _hold_reason(ctx: Context, hold: HoldReason, person: Person) -> str:
    if hold is HoldReason.NUMBER_UNCONFIRMED:
        return ctx.t("admin.hold_number_unconfirmed")
    return ctx.t("admin.hold_payee_name", id=person.id)


async def payouts_preview(ctx: Context, _argument: str = "") -> Replies:
    minimum = ctx.money(ctx.policy.payout_minimum_cents)
    waiting = await reports.batches_awaiting_approval(ctx.session)
    starters = await reports.batch_starters(ctx.session, waiting)
    owed, held = await _held(
        ctx, await reports.payable_now(ctx.session, ctx.policy.payout_minimum_cents)
    )
    held_replies = chunks(ctx.t("admin.payouts_held_title"), held) if held else []
    replies: Replies = []
    for batch in waiting:
        assert batch.id is not None
        lines = await reports.batch_lines(ctx.session, batch.id)
        total = sum(payout.amount_cents for payout, _ in lines)
        header = ctx.t(
            "admin.payout_batch",
            id=batch.id,
            by=_started_by(ctx, starters.get(batch.id)),
            count=len(lines),
            total=ctx.money(total),
        )
        replies += chunks(
            header,
            [
                ctx.t(
                    "admin.payout_line",
                    id=person.id,
                    name=quoted(person.name),
                    amount=ctx.money(payout.amount_cents),
                    msisdn=payout.msisdn,
                )
                for payout, person in lines
            ]
            + await _batch_checks(ctx, batch.id, total)
            + [ctx.t("admin.payout_approve_hint")],
        )
        # The same confirmation as typing /approve_payouts <batch>.
        button = Choice(f"approve_payouts:{batch.id}", ctx.t("admin.approve_button", id=batch.id))
        replies[-1] = dataclasses.replace(replies[-1], choices=(button,))
    approved = await approved_unsent(ctx)
    if replies:
        if not ctx.policy.mpesa_configured:
            replies.append(Reply(ctx.t("admin.mpesa_not_configured")))
        return approved + replies + held_replies
    due = owed
    if not due:
        return [*approved, Reply(ctx.t("admin.payouts_nothing", minimum=minimum)), *held_replies]
    header = ctx.t(
        "admin.payouts_preview",
        minimum=minimum,
        count=len(due),
        total=ctx.money(sum(amount for _, amount in due)),
    )
    return (
        approved
        + chunks(
            header,
            [
                ctx.t(
                    "admin.payout_preview_line",
                    id=person.id,
                    name=quoted(person.name),
                    amount=ctx.money(amount),
                )
                for person, amount in due
            ]
            + [ctx.t("admin.payouts_make_hint")],
        )
        + held_replies
    )


async def _make_payouts(ctx: Context, _argument: str) -> Replies:
    """A batch now of everyone owed the minimum or more, started by this admin, to approve next."""
    in_the_way = await _batch_in_the_way(ctx)
    if in_the_way:
        return in_the_way
    minimum = ctx.policy.payout_minimum_cents
    batch = await create_payout_batch(
        ctx.session,
        minimum_cents=minimum,
        now=ctx.now,
        created_by=me(ctx),
        max_per_artisan_cents=ctx.policy.payout_max_per_artisan_cents,
    )
    if batch is None:
        # On PostgreSQL another admin's batch may have reserved every balance while this one
        # waited for the lock: name that batch rather than say nobody is owed.
        in_the_way = await _batch_in_the_way(ctx)
        return in_the_way or [
            Reply(ctx.t("admin.payouts_made_nothing", minimum=ctx.money(minimum)))
        ]
    assert batch.id is not None
    lines = await reports.batch_lines(ctx.session, batch.id)
    total = ctx.money(sum(payout.amount_cents for payout, _ in lines))
    log.info("person %s made payout batch %s: %s payouts", me(ctx), batch.id, len(lines))
    replies = [
        Reply(
            ctx.t(
                "admin.payouts_made",
                id=batch.id,
                count=len(lines),
                total=total,
                minimum=ctx.money(minimum),
            )
        )
    ]
    if not ctx.policy.mpesa_configured:
        replies.append(Reply(ctx.t("admin.mpesa_not_configured")))
    return replies


async def _batch_in_the_way(ctx: Context) -> Replies:
    """Why no new batch should be made now (one waits for approval, or one is being made)."""
    waiting = await reports.batches_awaiting_approval(ctx.session)
    if waiting:
        batch = waiting[0]
        by = await _batch_started_by(ctx, batch)
        return [Reply(ctx.t("admin.payouts_make_waiting", id=batch.id, by=by))]
    building = await reports.batch_being_built(ctx.session)
    if building is not None:
        # Adding to a batch someone else is still building would race its builder.
        by = await _batch_started_by(ctx, building)
        return [Reply(ctx.t("admin.payouts_make_building", id=building.id, by=by))]
    return []


async def _approve_payouts(ctx: Context, argument: str) -> Replies | Start:
    """Which batch, then the confirmation question (``flows/approve_payouts.py``): nothing is
    approved before the admin has seen the total and said yes."""
    batch_id = await _which_batch(ctx, argument, _APPROVE)
    if not isinstance(batch_id, int):
        return batch_id
    return await ask_to_approve(ctx, batch_id)


async def _cancel_payouts(ctx: Context, argument: str) -> Replies:
    """Drop a batch before approval (a mistake, a wrong minimum, one left half-made by a crash):
    its reservations are voided and the money goes in the next batch."""
    batch = await _act_on_batch(ctx, argument, _CANCEL, cancel_batch)
    if not isinstance(batch, PayoutBatch):
        return batch
    assert batch.id is not None
    count, total = await batch_count_and_total(ctx.session, batch.id)
    log.info("person %s cancelled payout batch %s: %s payouts", me(ctx), batch.id, count)
    by = await _batch_started_by(ctx, batch)
    return [
        Reply(
            ctx.t(
                "admin.payouts_cancelled", id=batch.id, by=by, count=count, total=ctx.money(total)
            )
        )
    ]


class _BatchAction(Protocol):
    async def __call__(
        self, session: AsyncSession, *, batch_id: int, admin_id: int, now: datetime
    ) -> PayoutBatch: ...


@dataclass(frozen=True)
class _BatchWords:
    """What a batch command says when it cannot tell which batch is meant, or may not act."""

    usage: str
    nothing: str
    which: str
    refused: str  # the batch is no longer waiting for approval


_APPROVE = _BatchWords(
    N_("admin.approve_usage"),
    N_("admin.approve_nothing"),
    N_("admin.approve_which"),
    N_("admin.approve_not_waiting"),
)
_CANCEL = _BatchWords(
    N_("admin.cancel_payouts_usage"),
    N_("admin.cancel_payouts_nothing"),
    N_("admin.cancel_payouts_which"),
    N_("admin.cancel_payouts_too_late"),
)


async def _which_batch(ctx: Context, argument: str, words: _BatchWords) -> int | Replies:
    """The batch the command names, or the one waiting for approval; else the reply saying why
    not (not a number, several or none waiting)."""
    batch_id = an_id(argument)
    if argument.strip() and batch_id is None:
        return [Reply(ctx.t(words.usage))]
    if batch_id is None:
        waiting = await reports.batches_awaiting_approval(ctx.session)
        if not waiting:
            return [Reply(ctx.t(words.nothing))]
        if len(waiting) > 1:
            ids = ", ".join(f"#{batch.id}" for batch in waiting)
            return [Reply(ctx.t(words.which, ids=ids))]
        batch_id = waiting[0].id
        assert batch_id is not None
    return batch_id


async def _act_on_batch(
    ctx: Context, argument: str, words: _BatchWords, act: _BatchAction
) -> PayoutBatch | Replies:
    """``act`` on the batch the command names, or on the one waiting for approval; else the
    reply saying why not (not a number, several or none waiting, no such batch, too late)."""
    batch_id = await _which_batch(ctx, argument, words)
    if not isinstance(batch_id, int):
        return batch_id
    try:
        return await act(ctx.session, batch_id=batch_id, admin_id=me(ctx), now=ctx.now)
    except NotFound:
        return [Reply(ctx.t("admin.batch_not_found", id=batch_id))]
    except IllegalTransition as exc:
        log.info("batch %s: %s", batch_id, exc)
        return [Reply(ctx.t(words.refused, id=batch_id))]


COMMANDS: dict[str, Command] = {
    "payouts": Command(ADMINS, payouts_preview, N_("admin.help_payouts")),
    "make_payouts": Command(ADMINS, _make_payouts, N_("admin.help_make_payouts")),
    "approve_payouts": Command(
        ADMINS, _approve_payouts, N_("admin.help_approve_payouts"), button=True
    ),
    "cancel_payouts": Command(ADMINS, _cancel_payouts, N_("admin.help_cancel_payouts")),
}
