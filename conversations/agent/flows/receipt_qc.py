"""Work said ready without photos (over USSD) arrives: the field agent checks and counts it in.

Picked from the same list as deliveries (``receipt_pick`` in ``receipt.py``), marked "no photos:
check here". ``passed``: how many of the pieces pass QC; when some do not, ``reason``: why. Then
``domain.services.receipt_qc.count_in_at_receipt`` records the review (rejected pieces become
rework as with any QC), the delivery of the passed pieces and their receipt, which pays the
artisan. The artisan hears the QC result and the receipt as for photographed work (their
notices). The table is ``TABLE``; ``receipt_qc.mmd`` beside this file draws it.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from pathlib import Path

from conversations.agent.flows.qc_review import REASONS
from conversations.agent.queries import parse_count
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
    Step,
)
from conversations.i18n import N_
from conversations.messages import Choice, Reply
from conversations.quantity import means_all, quantity_question
from conversations.queries import job_component
from domain.errors import DomainError, Forbidden
from domain.model import Allocation, Person, QcReason, Submission
from domain.services.receipt_qc import count_in_at_receipt, is_qc_at_receipt
from domain.statemachine import Transitions
from domain.text import quoted

log = logging.getLogger(__name__)

NAME = "receipt_qc"
CHOICE_LABEL = N_("agent.receipt_qc.choice")


class ReceiptQc(StrEnum):
    PASSED = "passed"
    REASON = "reason"
    DONE = DONE


TABLE: dict[ReceiptQc, frozenset[ReceiptQc]] = {
    ReceiptQc.PASSED: frozenset({ReceiptQc.REASON, ReceiptQc.DONE}),
    ReceiptQc.REASON: frozenset({ReceiptQc.DONE}),
    ReceiptQc.DONE: frozenset(),
}


async def submission_label(ctx: Context, submission: Submission) -> str:
    """How a photoless submission is listed beside the deliveries on their way."""
    artisan, component = await _who_and_what(ctx, submission)
    return ctx.t(
        CHOICE_LABEL,
        id=submission.id,
        artisan=quoted(artisan.name),
        count=submission.count,
        component=component,
    )


async def _who_and_what(ctx: Context, submission: Submission) -> tuple[Person, str]:
    allocation = await ctx.session.get(Allocation, submission.allocation_id)
    assert allocation is not None  # never deleted
    artisan = await ctx.session.get(Person, allocation.artisan_id)
    assert artisan is not None
    component = await job_component(ctx.session, allocation.job_id)
    return artisan, "-" if component is None else component.name


async def _submission(ctx: Context) -> Submission:
    submission = await ctx.session.get(Submission, int(ctx.data["submission"]))
    assert submission is not None  # checked before the flow starts; never deleted
    return submission


async def _ask_passed(ctx: Context) -> Reply:
    submission = await _submission(ctx)
    artisan, component = await _who_and_what(ctx, submission)
    return quantity_question(
        ctx,
        ctx.t(
            "agent.receipt_qc.ask_passed",
            id=submission.id,
            artisan=quoted(artisan.name),
            count=submission.count,
            component=component,
        ),
        Choice("rqc:all", ctx.t("agent.receipt_qc.all_pass", count=submission.count)),
    )


async def _on_passed(ctx: Context, answer: Answer) -> Outcome:
    submission = await _submission(ctx)
    # A typed number is always a count: "1" is one piece, not the first option ("All 10 pass").
    passed = parse_count(answer.text, most=submission.count)
    if passed is None and means_all(answer, "rqc:all"):
        passed = submission.count
    if passed is None:
        return Ask(ctx.t("agent.receipt_qc.count_invalid", max=submission.count))
    ctx.data["passed"] = passed
    if passed == submission.count:
        return await _record(ctx, ())
    return Goto(ReceiptQc.REASON)


async def _ask_reason(ctx: Context) -> Reply:
    submission = await _submission(ctx)
    return Reply(
        ctx.t(
            "agent.receipt_qc.ask_reason",
            rejected=submission.count - int(ctx.data["passed"]),
        ),
        choices=tuple(Choice(f"rqcr:{reason.value}", ctx.t(msgid)) for reason, msgid in REASONS),
    )


async def _on_reason(ctx: Context, answer: Answer) -> Outcome:
    assert answer.choice is not None  # Expect.CHOICE
    return await _record(ctx, (QcReason(answer.choice.payload.removeprefix("rqcr:")),))


async def _record(ctx: Context, reasons: tuple[QcReason, ...]) -> Outcome:
    assert ctx.person is not None
    assert ctx.person.id is not None
    submission_id = int(ctx.data["submission"])
    passed = int(ctx.data["passed"])
    if not await is_qc_at_receipt(ctx.session, submission_id):
        return Finish(say=(Reply(ctx.t("agent.qc.not_waiting", id=submission_id)),))
    try:
        await count_in_at_receipt(
            ctx.session,
            submission_id=submission_id,
            receiver_id=ctx.person.id,
            passed=passed,
            reasons=reasons,
            now=ctx.now,
        )
    except Forbidden as exc:
        log.warning("receipt QC of %s by %s refused: %s", submission_id, ctx.person.id, exc)
        return Finish(say=(Reply(ctx.t("command.forbidden")),))
    except DomainError as exc:
        log.warning("receipt QC of %s by %s failed: %s", submission_id, ctx.person.id, exc)
        return Finish(say=(Reply(ctx.t("agent.receipt_qc.could_not_save", id=submission_id)),))
    submission = await _submission(ctx)
    artisan, component = await _who_and_what(ctx, submission)
    allocation = await ctx.session.get(Allocation, submission.allocation_id)
    assert allocation is not None
    return Finish(
        say=(
            Reply(
                ctx.t(
                    "agent.receipt_qc.recorded",
                    id=submission_id,
                    passed=passed,
                    rejected=submission.count - passed,
                    component=component,
                    artisan=quoted(artisan.name),
                    earned=ctx.money(allocation.piece_rate_cents * passed),
                )
            ),
        )
    )


FLOW = Flow(
    name=NAME,
    first=ReceiptQc.PASSED,
    table=Transitions(NAME, TABLE),
    steps={
        ReceiptQc.PASSED: Step(Expect.QUANTITY, _ask_passed, _on_passed),
        ReceiptQc.REASON: Step(Expect.CHOICE, _ask_reason, _on_reason),
    },
    diagram=Path(__file__).with_name("receipt_qc.mmd"),
)
