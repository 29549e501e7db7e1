"""My jobs: the artisan's work in progress, one short paragraph a job.

A menu action (one answer, no questions), so no flow and no diagram. Progress comes from
``domain.quantities``: passed, waiting for QC, still to make, and rework (rejected pieces that
have not been sent again), with the rework's due date from the latest QC review that set one.
"""

from __future__ import annotations

from sqlmodel import col, select

from conversations.artisan.queries import active_allocations
from conversations.flow import Context
from conversations.formatting import weekday_date
from conversations.messages import Reply
from domain.model import QcReview, Submission


async def _rework_due(ctx: Context, allocation_id: int) -> str | None:
    review = (
        await ctx.session.exec(
            select(QcReview)
            .join(Submission, col(Submission.id) == col(QcReview.submission_id))
            .where(Submission.allocation_id == allocation_id, col(QcReview.rejected) > 0)
            .order_by(col(QcReview.reviewed_at).desc())
        )
    ).first()
    if review is None or review.rework_due_date is None:
        return None
    return weekday_date(ctx.t, review.rework_due_date)


async def my_jobs(ctx: Context) -> list[Reply]:
    assert ctx.person is not None  # only artisans get here
    assert ctx.person.id is not None
    jobs = await active_allocations(ctx.session, ctx.person.id)
    if not jobs:
        return [Reply(ctx.t("artisan.no_jobs"))]
    paragraphs = []
    for allocation, component, progress in jobs:
        assert allocation.id is not None
        # Rejected pieces come back as rework; they are part of what is still to make.
        rework = min(progress.rejected, progress.outstanding)
        text = ctx.t(
            "artisan.job_line",
            id=allocation.job_id,  # the job's own number, as staff see it
            component=component.name,
            quantity=allocation.quantity,
            due=weekday_date(ctx.t, allocation.due_date),
            passed=progress.passed,
            waiting=progress.pending_review,
            to_make=progress.outstanding - rework,
            delivered=progress.received,
        )
        if rework:
            rework_due = await _rework_due(ctx, allocation.id)
            text += "\n" + ctx.t(
                "artisan.job_rework",
                count=rework,
                due=rework_due or weekday_date(ctx.t, allocation.due_date),
            )
        paragraphs.append(text)
    return [Reply(ctx.t("artisan.jobs_title", count=len(jobs)) + "\n\n" + "\n\n".join(paragraphs))]
