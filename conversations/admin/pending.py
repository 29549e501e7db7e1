"""Pending work, as admins see it: pieces out on offer (waiting for artisans' answers) beside
those accepted and those nobody has taken, and, when ``/match`` offers nothing, why.

The reasons come from what the round itself saw: the jobs it could not offer in full, each with
its ``matching.round.Shortfall`` code; and when no job was in the round at all, from the same rows
the round reads (open jobs, their accepted pieces and open offers, draft orders).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations.flow import Context
from conversations.i18n import N_
from conversations.ports import MatchShortfalls, MatchSummary, Unfilled
from domain.model import (
    Allocation,
    AllocationStatus,
    Job,
    JobStatus,
    Offer,
    OfferStatus,
    Order,
    OrderStatus,
)

_UNFINISHED = (JobStatus.OPEN, JobStatus.IN_PRODUCTION)
SHORTFALL: dict[str, str] = {
    "no_skill": N_("admin.match_why_no_skill"),
    "unavailable": N_("admin.match_why_unavailable"),
    "at_capacity": N_("admin.match_why_at_capacity"),
    "all_offered": N_("admin.match_why_all_offered"),
    "ran_out": N_("admin.match_why_ran_out"),
    "outranked": N_("admin.match_why_outranked"),
    "refused": N_("admin.match_why_refused"),
}


async def pieces_on_offer(session: AsyncSession, job_id: int) -> int:
    """Pieces of the job in open offers: sent, waiting for the artisans' answers."""
    total = await session.exec(
        select(func.coalesce(func.sum(Offer.quantity), 0)).where(
            Offer.job_id == job_id, Offer.status == OfferStatus.OPEN
        )
    )
    return int(total.one())


async def why_nothing_offered(ctx: Context, summary: MatchSummary) -> list[str]:
    """The lines that say why a round made no offer."""
    unfilled: Sequence[Unfilled] = summary.unfilled if isinstance(summary, MatchShortfalls) else ()
    if unfilled:
        return [
            ctx.t(
                SHORTFALL.get(job.code, N_("admin.match_why_outranked")),
                job=job.job_id,
                skill=job.skill,
                pieces=job.left,
            )
            for job in unfilled
        ]
    # No job was in the round: say which of the round's own inputs left it empty.
    jobs = list(
        await ctx.session.exec(select(Job.id, Job.quantity).where(col(Job.status).in_(_UNFINISHED)))
    )
    if not jobs:
        drafts = await ctx.session.exec(
            select(func.count()).select_from(Order).where(Order.status == OrderStatus.DRAFT)
        )
        count = int(drafts.one())
        if count:
            return [ctx.t("admin.match_why_drafts", count=count)]
        return [ctx.t("admin.match_why_no_orders")]
    ids = [job_id for job_id, _ in jobs if job_id is not None]
    accepted = await ctx.session.exec(
        select(func.coalesce(func.sum(Allocation.quantity), 0)).where(
            col(Allocation.job_id).in_(ids), Allocation.status != AllocationStatus.CANCELLED
        )
    )
    offered = await ctx.session.exec(
        select(func.coalesce(func.sum(Offer.quantity), 0)).where(
            col(Offer.job_id).in_(ids), Offer.status == OfferStatus.OPEN
        )
    )
    return [
        ctx.t(
            "admin.match_why_all_out",
            jobs=len(ids),
            accepted=int(accepted.one()),
            offered=int(offered.one()),
        )
    ]
