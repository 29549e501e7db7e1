"""``/why``: why an artisan did or did not get an offer for a job, as data and in plain English.

The eligibility checks run in the order an admin would ask them (is the artisan active, do they
have the skill, have they opted out, do they have capacity left this week, have they already been
offered this job) and the first that fails is *the* reason. The scores are those the round uses
without exploration: each outcome's population prior, the artisan's own posterior mean and how
many of their own outcomes it rests on, plus the calibrated models' view when models are given;
the artisan's rank is among everyone who could be offered the job now.

Rounds are not stored separately: "the last round" for a job is the latest moment offers were made
for it, read back from the offers themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

import numpy as np
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.errors import NotFound
from domain.model import ArtisanStatus, Component, Job, Offer, OfferStatus
from domain.services.guards import load
from domain.services.offers import job_remainder, unallocated
from domain.text import quoted
from matching.features import JobSpec, Pairs, build_frames, eligible_artisans
from matching.history import read_workforce
from matching.models import OutcomeModel
from matching.planning import score_candidates
from matching.priors import OUTCOMES, OutcomeCounts, OutcomePriors

CHECKS = ("status", "skill", "opted_out", "capacity", "already_offered")


@dataclass(frozen=True, slots=True)
class Check:
    name: str  # one of CHECKS
    passed: bool
    detail: str
    # The figures behind ``detail``, so a chat can say it in the reader's language
    # (conversations/why.py): ``state`` names which of the check's sentences applies.
    params: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OutcomeScore:
    outcome: str  # accept, on_time, qc_pass
    prior: float  # the population's rate: what a newcomer is assumed to have
    learned: float  # the artisan's posterior mean
    trials: int  # the artisan's own outcomes behind it
    model: float | None  # the calibrated model's probability, when models are in use
    # The plain counts behind ``learned`` and ``prior`` (what /artisan's record shows), and the
    # figure this offer is actually scored with (on time also counts the artisan's queue; with
    # models, blended with the model's view), so /why can say which number is which.
    successes: int = 0
    everyone_successes: int = 0
    everyone_trials: int = 0
    this_offer: float | None = None


@dataclass(frozen=True, slots=True)
class LastRound:
    at: datetime | None  # when offers for this job were last made; None if never
    offered: int  # pieces offered to this artisan then
    offered_to_others: int
    outcome: str | None  # this artisan's offer status then (open, declined, ...)


@dataclass(frozen=True, slots=True)
class Explanation:
    artisan_id: int
    artisan_name: str
    job_id: int
    skill: str
    free_pieces: int
    checks: list[Check]
    scores: list[OutcomeScore]
    score: float  # P(accept) x P(on time) x P(QC pass), posterior means
    rank: int | None  # 1 = best among artisans who could be offered the job now
    candidates: int
    last_round: LastRound
    summary: str

    @property
    def eligible(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failed_check(self) -> str | None:
        return next((c.name for c in self.checks if not c.passed), None)


async def explain(
    session: AsyncSession,
    *,
    artisan_id: int,
    job_id: int,
    now: datetime,
    models: Mapping[str, OutcomeModel] | None = None,
) -> Explanation:
    """Why ``artisan_id`` did or did not get (or would not now get) an offer for ``job_id``."""
    job = await load(session, Job, job_id, what="job")
    component = await load(session, Component, job.component_id, what="component")
    workforce = await read_workforce(session, now=now)
    if artisan_id not in workforce.states:
        raise NotFound("artisan", artisan_id)
    state = workforce.states[artisan_id]
    stats = workforce.stats
    me = next(i for i, s in enumerate(stats) if s.artisan_id == artisan_id)
    mine = stats[me]
    skill = component.skill
    free = await job_remainder(session, job_id)
    untaken = await unallocated(session, job_id)
    offers = list(
        (
            await session.exec(
                select(Offer).where(Offer.job_id == job_id).order_by(col(Offer.offered_at))
            )
        ).all()
    )
    own = [o for o in offers if o.artisan_id == artisan_id]

    declared = mine.weekly_capacity.get(skill, 0)
    committed = mine.load_this_week.get(skill, 0)
    effective = workforce.effective_capacity.get((artisan_id, skill), float(declared))
    current = [o for o in own if o.status is OfferStatus.OPEN]
    turned_down = [o for o in own if o.status in (OfferStatus.DECLINED, OfferStatus.EXPIRED)]
    checks = [
        Check(
            "status",
            state.status is ArtisanStatus.ACTIVE,
            f"{quoted(state.name)} is {state.status}",
            {"state": "status", "status": str(state.status)},
        ),
        Check(
            "skill",
            declared > 0,
            f"declares {declared} {skill} pieces a week"
            if declared > 0
            else f"does not have the {skill} skill",
            {
                "state": "skill" if declared > 0 else "no_skill",
                "skill": skill,
                "declared": declared,
            },
        ),
        Check(
            "opted_out",
            not state.opted_out,
            "has opted out of messages" if state.opted_out else "receives messages",
            {"state": "opted_out" if state.opted_out else "receives"},
        ),
        Check(
            "capacity",
            declared - committed > 0,
            f"{committed} of {declared} {skill} pieces this week already committed (learned "
            f"effective capacity {effective:.0f})",
            {
                "state": "capacity",
                "skill": skill,
                "committed": committed,
                "declared": declared,
                "effective": round(effective),
            },
        ),
        Check(
            "already_offered",
            not current and not turned_down,
            f"already holds open offer {current[0].id} for this job"
            if current
            else f"{turned_down[-1].status} offer {turned_down[-1].id} for this job"
            if turned_down
            else "has no open, declined or lapsed offer for this job",
            {"state": "open_offer", "offer": current[0].id}
            if current
            else {
                "state": "past_offer",
                "offer": turned_down[-1].id,
                "status": str(turned_down[-1].status),
            }
            if turned_down
            else {"state": "no_offer"},
        ),
    ]

    spec = JobSpec(
        job_id=job_id,
        component=component.code,
        skill=skill,
        quantity=max(untaken, 1),  # as the round scores it: the pieces nobody has taken
        piece_rate_cents=component.piece_rate_cents,
        slack_days=float((job.due_date - now.date()).days),
    )
    frames = build_frames(stats, [spec], effective_capacity=workforce.effective_capacity)
    counts = frames.artisans.counts
    priors = OutcomePriors.pooled(counts)
    pool = eligible_artisans(frames.artisans, frames.jobs.skill[0])
    ranked = np.union1d(pool, [me]).astype(np.int64)
    pairs = Pairs(ranked, np.zeros(ranked.size, dtype=np.int64))
    means = priors.posterior_means(counts)
    scored = score_candidates(frames, pairs, priors=priors, draws=means, models=models)
    at = int(np.flatnonzero(ranked == me)[0])
    models_view = scored.model or {}
    my_score = float(scored.score[at])
    in_pool = bool(np.isin(me, pool))
    rank = int(np.sum(scored.score[np.isin(ranked, pool)] > my_score)) + 1 if in_pool else None
    scores = [
        OutcomeScore(
            outcome=o,
            prior=priors.prior(o).mean,
            learned=float(means[o][me]),
            trials=int(_trials(counts, o)[me]),
            model=float(models_view[o][at]) if o in models_view else None,
            successes=int(counts.pair(o)[0][me]),
            everyone_successes=int(np.sum(counts.pair(o)[0])),
            everyone_trials=int(np.sum(_trials(counts, o))),
            this_offer=float(scored.expected[o][at]) if o in scored.expected else None,
        )
        for o in OUTCOMES
    ]

    last = _last_round(offers, artisan_id)
    explanation = Explanation(
        artisan_id=artisan_id,
        artisan_name=state.name,
        job_id=job_id,
        skill=skill,
        free_pieces=free,
        checks=checks,
        scores=scores,
        score=my_score,
        rank=rank,
        candidates=int(pool.size),
        last_round=last,
        summary="",
    )
    return _with_summary(explanation)


def _trials(counts: OutcomeCounts, outcome: str) -> np.ndarray:
    return counts.pair(outcome)[1]


def _last_round(offers: list[Offer], artisan_id: int) -> LastRound:
    if not offers:
        return LastRound(None, 0, 0, None)
    at = max(o.offered_at for o in offers)
    then = [o for o in offers if o.offered_at == at]
    mine = [o for o in then if o.artisan_id == artisan_id]
    return LastRound(
        at=at,
        offered=sum(o.quantity for o in mine),
        offered_to_others=sum(o.quantity for o in then if o.artisan_id != artisan_id),
        outcome=str(mine[0].status) if mine else None,
    )


def _with_summary(e: Explanation) -> Explanation:
    name = quoted(e.artisan_name)  # their own words, in an admin's /why reply
    parts: list[str] = []
    last = e.last_round
    if last.at is None:
        parts.append(f"Job {e.job_id} has not been offered to anyone yet.")
    elif last.offered:
        parts.append(
            f"{name} was offered {last.offered} piece(s) of job {e.job_id} in the last round "
            f"({last.at:%Y-%m-%d %H:%M} UTC); that offer is {last.outcome}."
        )
    else:
        parts.append(
            f"{name} got no offer for job {e.job_id} in the last round "
            f"({last.at:%Y-%m-%d %H:%M} UTC); {last.offered_to_others} piece(s) went to others."
        )
    failed = next((c for c in e.checks if not c.passed), None)
    if failed is not None:
        parts.append(f"{name} cannot be offered this job now: {failed.detail}.")
    elif e.free_pieces <= 0:
        parts.append(f"Every piece of job {e.job_id} is already allocated or offered.")
    else:
        parts.append(
            f"{name} is eligible and ranks {e.rank} of {e.candidates} for the "
            f"{e.free_pieces} free piece(s)."
        )
    rates = ", ".join(
        f"{s.outcome.replace('_', ' ')} {s.learned:.0%} (prior {s.prior:.0%}: "
        f"{s.everyone_successes} of {s.everyone_trials} everyone's; {s.successes} of "
        f"{s.trials} own)"
        for s in e.scores
    )
    parts.append(f"Expected share of good on-time pieces {e.score:.0%}: {rates}.")
    return replace(e, summary=" ".join(parts))
