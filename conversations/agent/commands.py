"""Slash commands and menu items for field agents (some for admins too), each checked against
the sender's role: find the work, then start the flow for it.

``/qc`` (the next submission to check, or ``/qc <id>``), ``/receipt`` (deliveries to count in, or
``/receipt <id>``), ``/visit`` (work in progress to visit, or ``/visit <id>``) and ``/atrisk``.
QC, receipts and visits are flows (``flows/qc_review.py``, ``receipt.py``, ``visit.py``); this
module decides where each begins — the next submission in the QC queue, a delivery or allocation
picked from a list or named by its id — and answers at once when there is nothing to do. The
allocations at risk of running late need no flow. ``/pending`` and ``/verify``, which admins
use too, are ``conversations.verification``'s. Every entry names the roles that may run it, and
a refused attempt is logged with who tried.
"""

from __future__ import annotations

import logging

from sqlmodel import col, select

from conversations.agent.flows import qc_review, receipt, visit
from conversations.agent.queries import (
    allocations_to_visit,
    next_submission,
    parse_id,
    view_submission,
)
from conversations.flow import Command, Context, Start
from conversations.formatting import me, written_date
from conversations.i18n import N_
from conversations.messages import Choice, Reply
from conversations.queries import agent_areas
from domain.explosion import factory_today
from domain.model import (
    Allocation,
    AllocationStatus,
    Component,
    Delivery,
    DeliveryStatus,
    Job,
    Role,
    SubmissionStatus,
)
from domain.services.receipt_qc import is_qc_at_receipt
from domain.services.visits import RiskReason, jobs_at_risk
from domain.text import quoted

log = logging.getLogger(__name__)

MAX_AT_RISK = 15


# --- QC -------------------------------------------------------------------------------------


async def start_qc(ctx: Context, *, skipped: list[int] | None = None) -> list[Reply] | Start:
    seen = list(skipped or [])
    submission_id = await next_submission(ctx, skipped=seen)
    if submission_id is None:
        return [Reply(ctx.t("agent.qc.queue_empty"))]
    return Start(qc_review.NAME, {"submission": submission_id, "skipped": seen})


async def qc_command(ctx: Context, argument: str) -> list[Reply] | Start:
    """``/qc`` checks the next submission; ``/qc 12`` (or the button ``qc:12``) that one."""
    if not argument.strip():
        return await start_qc(ctx)
    submission_id = parse_id(argument)
    if submission_id is None:
        return [Reply(ctx.t("agent.qc.usage"))]
    view = await view_submission(ctx, submission_id)
    if view is None:
        return [Reply(ctx.t("agent.qc.not_found", id=submission_id))]
    my_id = me(ctx)
    if view.allocation.artisan_id == my_id:
        log.warning("refused QC of submission %s by its own maker, person %s", view.id, my_id)
        return [Reply(ctx.t("agent.qc.own_submission"))]
    status = view.submission.status
    if status is SubmissionStatus.REVIEWED:
        return [Reply(ctx.t("agent.qc.already_reviewed", id=submission_id))]
    if status is SubmissionStatus.PHOTOS_REQUESTED:
        return [Reply(ctx.t("agent.qc.waiting_for_photos", id=submission_id))]
    if status is not SubmissionStatus.PENDING_REVIEW:
        return [Reply(ctx.t("agent.qc.not_waiting", id=submission_id))]
    if await is_qc_at_receipt(ctx.session, submission_id):  # said ready without photos (USSD)
        return [Reply(ctx.t("agent.receipt_qc.at_receipt", id=submission_id))]
    return Start(qc_review.NAME, {"submission": submission_id, "skipped": []})


# --- receipts -------------------------------------------------------------------------------


async def start_receipt(ctx: Context) -> list[Reply] | Start:
    if not await receipt.anything_to_receive(ctx):
        return [Reply(ctx.t("agent.receipt.none_arranged"))]
    return Start(receipt.PICK_NAME)


async def receipt_command(ctx: Context, argument: str) -> list[Reply] | Start:
    """``/receipt`` lists deliveries on their way; ``/receipt 7`` counts delivery 7 in."""
    if not argument.strip():
        return await start_receipt(ctx)
    delivery_id = parse_id(argument)
    if delivery_id is None:
        return [Reply(ctx.t("agent.receipt.usage"))]
    delivery = await ctx.session.get(Delivery, delivery_id)
    if delivery is None:
        return [Reply(ctx.t("agent.receipt.not_found", id=delivery_id))]
    if delivery.status is not DeliveryStatus.ARRANGED:
        return [Reply(ctx.t("agent.receipt.not_arranged", id=delivery_id))]
    return Start(receipt.NAME, {"delivery": delivery_id})


# --- visits ---------------------------------------------------------------------------------


async def start_visit(ctx: Context) -> list[Reply] | Start:
    if not await allocations_to_visit(ctx):
        return [Reply(ctx.t("agent.visit.none_active"))]
    return Start(visit.PICK_NAME)


async def visit_command(ctx: Context, argument: str) -> list[Reply] | Start:
    """``/visit`` lists work in progress; ``/visit 4`` records a visit to allocation 4."""
    if not argument.strip():
        return await start_visit(ctx)
    allocation_id = parse_id(argument)
    if allocation_id is None:
        return [Reply(ctx.t("agent.visit.usage"))]
    allocation = await ctx.session.get(Allocation, allocation_id)
    if allocation is None:
        return [Reply(ctx.t("agent.visit.not_found", id=allocation_id))]
    if allocation.status is not AllocationStatus.ACTIVE:
        return [Reply(ctx.t("agent.visit.not_active", id=allocation_id))]
    return Start(visit.NAME, {"allocation": allocation_id})


# --- at risk --------------------------------------------------------------------------------


async def at_risk(ctx: Context) -> list[Reply]:
    """Allocations in the agent's areas that look late, most urgent first, each with a visit
    button."""
    my_id = me(ctx)
    assert ctx.person is not None
    if ctx.person.role is not Role.FIELD_AGENT:  # the menu shows this item to field agents only
        return [Reply(ctx.t("command.forbidden"))]
    if not await agent_areas(ctx.session, my_id):
        return [Reply(ctx.t("agent.atrisk.no_areas"))]
    risky = await jobs_at_risk(ctx.session, agent_id=my_id, today=factory_today(ctx.now))
    if not risky:
        return [Reply(ctx.t("agent.atrisk.none"))]
    components = {
        job_id: name
        for job_id, name in await ctx.session.exec(
            select(Job.id, Component.name)
            .join(Component, col(Component.id) == col(Job.component_id))
            .where(col(Job.id).in_([r.job_id for r in risky]))
        )
    }
    lines = []
    for row in risky[:MAX_AT_RISK]:
        when = (
            ctx.t("agent.atrisk.overdue", days=-row.days_left)
            if row.reason is RiskReason.OVERDUE
            else ctx.t("agent.atrisk.due_in", days=row.days_left)
        )
        lines.append(
            ctx.t(
                "agent.atrisk.line",
                allocation=row.allocation_id,
                job=row.job_id,  # the job's own number, as the artisan and the admins see it
                artisan=quoted(row.artisan_name),
                area=quoted(row.area),
                component=components.get(row.job_id, "-"),
                due=written_date(ctx.language, row.due_date),
                when=when,
                done=row.pieces_done,
                quantity=row.quantity,
            )
        )
    text = ctx.t("agent.atrisk.title", count=len(risky)) + "\n\n" + "\n\n".join(lines)
    if len(risky) > MAX_AT_RISK:
        text += "\n\n" + ctx.t("agent.atrisk.more", count=len(risky) - MAX_AT_RISK)
    choices = tuple(
        Choice(
            f"visit:{row.allocation_id}",
            ctx.t("agent.atrisk.visit_button", allocation=row.allocation_id),
        )
        for row in risky[:3]
    )
    return [Reply(text, choices=choices)]


_AGENTS = frozenset({Role.FIELD_AGENT, Role.ADMIN})
_FIELD_AGENTS = frozenset({Role.FIELD_AGENT})  # QC, visits and risk are field work, not admin

COMMANDS: dict[str, Command] = {
    "qc": Command(_FIELD_AGENTS, qc_command, N_("agent.help_qc"), button=True),
    "receipt": Command(_AGENTS, receipt_command, N_("agent.help_receipt"), button=True),
    "visit": Command(_FIELD_AGENTS, visit_command, N_("agent.help_visit"), button=True),
    "atrisk": Command(_FIELD_AGENTS, lambda ctx, _arg: at_risk(ctx), N_("agent.help_atrisk")),
}
