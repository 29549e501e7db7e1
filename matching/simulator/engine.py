"""The week-by-week loop of one simulated factory under one policy, and what it measured.

A fake clock in whole weeks (rounds within a week are numbered): at the start of week ``w``
the week's orders arrive; ``rounds_per_week`` offer rounds follow, each answered at once from the
shared streams (accept with the artisan's true propensity), artisans answering in a shared random
order: when a policy over-offers a job, the first to accept take its pieces and the offers still
unanswered when it fills are withdrawn, as in production; then each artisan works through
their accepted lots, earliest due first, making at most their *true* capacity in pieces. A
finished lot is held up one week with probability 1 - reliability, is reviewed piece by piece
(each passes with the artisan's QC skill) and is on time if delivered by the end of its due week.
Rejected pieces are lost (no rework), which keeps "good pieces on time" an honest measure.

So in this world P(on time) is not a trait of the artisan: it depends on the work queued ahead
of the lot against the artisan's true capacity and on the job's due week
(:meth:`~matching.simulator.truth.Truth.on_time_probability` is its closed form, which the oracle
uses). Ours has to learn it: it logs the features it scored each accepted lot on and learns
P(on time) from the outcomes (:meth:`~matching.simulator.policies.Policy.start_week`).

What a policy sees is built exactly like production's view of the store: the same
:class:`~matching.features.ArtisanStats` counts (offers answered, allocations due and on time,
pieces reviewed and passed), committed load = pieces still to make on accepted lots, income over
the last four weeks, who is starved (nothing earned last week, nothing in progress), and the
learned effective capacity from
:func:`matching.capacity.effective_capacity` over the artisan's weeks of work.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy.stats import binom  # type: ignore[import-untyped]

from matching.capacity import (
    WeekOfWork,
    capacity_evidence,
    effective_capacity,
    population_realism,
)
from matching.fairness import gini
from matching.features import ArtisanStats, JobSpec
from matching.priors import OutcomeCounts, OutcomePriors
from matching.simulator.policies import READS_TRUTH, Hidden, Policy, RoundView
from matching.simulator.truth import MAX_PER_SLOT, Truth

FloatArray = NDArray[np.float64]
STARVED_WEEKS = 1
#: Orders arrive at the start of a week; "fill in 3 rounds" counts its first three rounds.
FIRST_ROUNDS = 3
WEEKLY = ("good_on_time", "ordered_due", "accepted", "ordered", "offers")


@dataclass
class _Lot:
    artisan: int  # index into truth.artisans
    job: int  # index into truth.jobs
    quantity: int
    remaining: int
    due_week: int
    accepted_week: int
    features: FloatArray | None = None  # what ours scored, to learn on-time from


@dataclass
class _Delivery:
    week: int
    lot: _Lot
    passed: int


@dataclass
class RunResult:
    """One policy on one seed: headline figures, the weekly series, and calibration logs."""

    metrics: dict[str, float]
    weekly: dict[str, FloatArray]
    calibration: dict[str, tuple[FloatArray, FloatArray, FloatArray, FloatArray]] = field(
        default_factory=dict
    )  # outcome -> (week, predicted, observed share, weight)
    seed: int = 0


def simulate(truth: Truth, policy: Policy) -> RunResult:
    world = truth.world
    art = truth.artisans
    n = art.size
    horizon = world.weeks + world.drain_weeks
    skills = world.skills
    components = [
        f"{skills[c // world.components_per_skill]}/{c}" for c in range(len(truth.piece_rate))
    ]

    counts = {
        k: np.zeros(n, dtype=np.int64)
        for k in ("offers", "accepted", "due", "on_time", "reviewed", "passed")
    }
    by_component: list[dict[str, int]] = [{} for _ in range(n)]
    last_work = np.full(n, -1, dtype=np.int64)
    weeks_of_work: list[list[WeekOfWork]] = [[] for _ in range(n)]
    income = np.zeros((horizon, n), dtype=np.int64)
    first_offer = np.full(n, -1, dtype=np.int64)
    first_accept = np.full(n, -1, dtype=np.int64)

    free = np.asarray([j.quantity for j in truth.jobs], dtype=np.int64)
    accepted_in_first = np.zeros(len(truth.jobs), dtype=np.int64)
    good_on_time = np.zeros(len(truth.jobs), dtype=np.int64)
    accepted_total = np.zeros(len(truth.jobs), dtype=np.int64)
    delivered_pieces = np.zeros(len(truth.jobs), dtype=np.int64)
    lead_weighted = 0.0
    lots: list[_Lot] = []
    pending: list[_Delivery] = []
    excluded: set[tuple[int, int]] = set()
    weekly = {k: np.zeros(horizon) for k in WEEKLY}
    calib: dict[str, list[tuple[int, float, float, float]]] = {
        "accept": [],
        "on_time": [],
        "qc_pass": [],
    }
    jobs_by_week: dict[int, list[int]] = {}
    for i, job in enumerate(truth.jobs):
        jobs_by_week.setdefault(job.week, []).append(i)
    open_jobs: list[int] = []
    withdrawn = 0  # offers withdrawn unanswered because their job filled first
    lots_pieces = {"delivered": 0, "on_time": 0, "reviewed": 0, "passed": 0}
    pending_predictions: dict[int, tuple[int, int]] = {}  # id(lot) -> rows in calib

    for week in range(horizon):
        policy.start_week(week)
        if week < world.weeks:
            open_jobs.extend(jobs_by_week.get(week, []))
            for i in jobs_by_week.get(week, []):
                weekly["ordered"][week] += truth.jobs[i].quantity
        open_jobs = [i for i in open_jobs if free[i] > 0 and truth.jobs[i].due_week >= week]
        active = np.flatnonzero(truth.active(week))
        load = np.zeros(n, dtype=np.int64)
        for lot in lots:
            load[lot.artisan] += lot.remaining
        recent = income[max(0, week - 4) : week].sum(axis=0)
        # Owed a reserved minimum lot: nothing earned in two weeks and nothing on the way.
        busy = {lot.artisan for lot in lots} | {d.lot.artisan for d in pending}
        starved = frozenset(
            int(a) + 1
            for a in active
            if income[max(0, week - STARVED_WEEKS) : week, a].sum() == 0 and int(a) not in busy
        )
        evidence = {
            int(a): capacity_evidence(weeks_of_work[a][-8:], weeks_of_work[a][:-8]) for a in active
        }
        realism = population_realism((float(art.declared[a]), evidence[int(a)]) for a in active)
        effective = {
            (int(a) + 1, skills[art.skill[a]]): effective_capacity(
                float(art.declared[a]), evidence[int(a)], realism=realism
            )
            for a in active
        }
        rounds = world.rounds_per_week if week < world.weeks else 0
        for round_ in range(rounds):
            if not open_jobs:
                break
            stats = [
                ArtisanStats(
                    artisan_id=int(a) + 1,
                    weekly_capacity={skills[art.skill[a]]: int(art.declared[a])},
                    area=f"area-{art.area[a]}",
                    load_this_week={skills[art.skill[a]]: int(load[a])},
                    pieces_by_component=by_component[a],
                    pieces_by_skill={skills[art.skill[a]]: int(counts["passed"][a])},
                    offers=int(counts["offers"][a]),
                    accepted=int(counts["accepted"][a]),
                    deliveries=int(counts["due"][a]),
                    on_time=int(counts["on_time"][a]),
                    pieces_reviewed=int(counts["reviewed"][a]),
                    pieces_passed=int(counts["passed"][a]),
                    days_since_last_work=None if last_work[a] < 0 else 7.0 * (week - last_work[a]),
                )
                for a in active
            ]
            specs = [
                JobSpec(
                    job_id=truth.jobs[i].job_id,
                    component=components[truth.jobs[i].component],
                    skill=skills[truth.jobs[i].skill],
                    quantity=int(free[i]),
                    piece_rate_cents=truth.jobs[i].piece_rate_cents,
                    slack_days=7.0 * (truth.jobs[i].due_week - week) + 5.0 - round_,
                )
                for i in open_jobs
            ]
            view = RoundView(
                artisans=stats,
                jobs=specs,
                effective_capacity=effective,
                income_cents={int(a) + 1: int(recent[a]) for a in active},
                excluded=excluded,
                skills=skills,
                week=week,
                starved=starved,
            )
            hidden = Hidden(truth, queue_of(lots)) if policy.name in READS_TRUTH else None
            means = OutcomePriors.pooled(_counts(counts)).posterior_means(_counts(counts))
            slot = np.zeros(n, dtype=np.int64)
            made_offers: list[tuple[int, int, int, int]] = []
            for job_id, artisan_id, quantity in policy.lots(view, hidden):
                a = artisan_id - 1
                made_offers.append(
                    (job_id, artisan_id, quantity, min(int(slot[a]), MAX_PER_SLOT - 1))
                )
                slot[a] += 1
                weekly["offers"][week] += 1
                if first_offer[a] < 0:
                    first_offer[a] = week
            # Artisans answer in their own time; on an over-offered job the first to accept take
            # the pieces and the offers still unanswered when it fills are withdrawn.
            made_offers.sort(key=lambda offer: truth.answer_u[week, round_, offer[1] - 1])
            for job_id, artisan_id, quantity, k in made_offers:
                j, a = job_id - 1, artisan_id - 1
                if free[j] <= 0:
                    withdrawn += 1
                    continue
                counts["offers"][a] += 1
                yes = truth.accept_u[week, round_, a, k] < art.accept[a]
                known = policy.estimate(job_id, artisan_id)
                expected = (
                    known.expected
                    if known is not None
                    else {o: float(means[o][a]) for o in ("accept", "on_time", "qc_pass")}
                )
                calib["accept"].append((week, expected["accept"], float(yes), 1.0))
                if not yes:
                    excluded.add((artisan_id, job_id))
                    continue
                quantity = min(quantity, int(free[j]))
                counts["accepted"][a] += 1
                if first_accept[a] < 0:
                    first_accept[a] = week
                free[j] -= quantity
                accepted_total[j] += quantity
                weekly["accepted"][week] += quantity
                if week == truth.jobs[j].week and round_ < FIRST_ROUNDS:
                    accepted_in_first[j] += quantity
                load[a] += quantity
                lot = _Lot(
                    a,
                    j,
                    quantity,
                    quantity,
                    truth.jobs[j].due_week,
                    week,
                    None if known is None else known.features,
                )
                lots.append(lot)
                calib["on_time"].append((week, expected["on_time"], np.nan, 1.0))
                calib["qc_pass"].append((week, expected["qc_pass"], np.nan, float(quantity)))
                pending_predictions[id(lot)] = (
                    len(calib["on_time"]) - 1,
                    len(calib["qc_pass"]) - 1,
                )
            open_jobs = [i for i in open_jobs if free[i] > 0]

        # A week of work: each artisan makes up to their true capacity, earliest due first.
        made = np.zeros(n, dtype=np.int64)
        finished_slot = np.zeros(n, dtype=np.int64)
        finished: list[tuple[_Lot, int, int]] = []
        for lot in sorted(lots, key=lambda lot: (lot.due_week, lot.accepted_week)):
            a = lot.artisan
            take = min(lot.remaining, int(art.true_capacity[a]) - int(made[a]))
            if take <= 0:
                continue
            lot.remaining -= take
            made[a] += take
            if lot.remaining == 0:
                k = min(int(finished_slot[a]), MAX_PER_SLOT - 1)
                finished_slot[a] += 1
                finished.append((lot, a, k))
        if finished:
            # QC of the week's finished lots in one call (scipy's ppf is slow per scalar).
            who = np.asarray([a for _, a, _ in finished], dtype=np.int64)
            slot_ = np.asarray([k for _, _, k in finished], dtype=np.int64)
            size = np.asarray([lot.quantity for lot, _, _ in finished], dtype=np.int64)
            passed_all = binom.ppf(truth.qc_u[week, who, slot_], size, art.qc_pass[who])
            slipped_all = truth.slip_u[week, who, slot_] >= art.reliability[who]
            for (lot, _, _), passed, slipped in zip(
                finished, passed_all.tolist(), slipped_all.tolist(), strict=True
            ):
                pending.append(_Delivery(week + int(slipped), lot, int(passed)))
        # Capacity evidence as production's store holds it (matching.history._weeks_of_work):
        # pieces *submitted* this week, and whether a lot due this week was not submitted by
        # then. The pieces made each week are hidden, as they are from production.
        behind = {lot.artisan for lot in lots if lot.due_week == week and lot.remaining > 0} | {
            d.lot.artisan for d in pending if d.lot.due_week == week and d.week > week
        }
        submitted = np.zeros(n, dtype=np.int64)
        for d in pending:
            if d.week <= week:
                submitted[d.lot.artisan] += d.lot.quantity
        for a in set(np.flatnonzero(submitted).tolist()) | behind:
            weeks_of_work[a].append(WeekOfWork(int(submitted[a]), a in behind))
        lots = [lot for lot in lots if lot.remaining > 0]

        # Deliveries that arrive this week are received, reviewed, paid and learned from.
        arriving = [d for d in pending if d.week <= week]
        pending = [d for d in pending if d.week > week]
        for delivery in arriving:
            lot, a, j = delivery.lot, delivery.lot.artisan, delivery.lot.job
            on_time = delivery.week <= lot.due_week
            counts["due"][a] += 1
            counts["on_time"][a] += int(on_time)
            counts["reviewed"][a] += lot.quantity
            counts["passed"][a] += delivery.passed
            code = components[truth.jobs[j].component]
            by_component[a][code] = by_component[a].get(code, 0) + delivery.passed
            last_work[a] = week
            income[week, a] += delivery.passed * truth.jobs[j].piece_rate_cents
            delivered_pieces[j] += lot.quantity
            lots_pieces["delivered"] += lot.quantity
            lots_pieces["reviewed"] += lot.quantity
            lots_pieces["passed"] += delivery.passed
            lead_weighted += lot.quantity * 7.0 * (delivery.week - truth.jobs[j].week + 1)
            if on_time:
                good_on_time[j] += delivery.passed
                lots_pieces["on_time"] += lot.quantity
                weekly["good_on_time"][lot.due_week if lot.due_week < horizon else horizon - 1] += (
                    delivery.passed
                )
            if lot.features is not None:
                policy.learn_on_time(week, lot.features, on_time)
            on_index, qc_index = pending_predictions.pop(id(lot))
            w, p, _, weight = calib["on_time"][on_index]
            calib["on_time"][on_index] = (w, p, float(on_time), weight)
            w, p, _, weight = calib["qc_pass"][qc_index]
            calib["qc_pass"][qc_index] = (w, p, delivery.passed / lot.quantity, weight)
    for job in truth.jobs:
        if job.due_week < horizon:
            weekly["ordered_due"][job.due_week] += job.quantity

    ordered = float(sum(j.quantity for j in truth.jobs)) or 1.0
    return RunResult(
        metrics=_metrics(
            truth,
            ordered,
            good_on_time,
            accepted_total,
            accepted_in_first,
            lots_pieces,
            lead_weighted,
            income,
            first_offer,
            first_accept,
            withdrawn / max(float(weekly["offers"].sum()), 1.0),
        ),
        weekly=weekly,
        calibration=_calibration(calib),
    )


def queue_of(lots: list[_Lot]) -> dict[int, list[tuple[int, int]]]:
    """Per artisan: (due week, pieces still to make) of each accepted lot."""
    queue: dict[int, list[tuple[int, int]]] = {}
    for lot in lots:
        queue.setdefault(lot.artisan, []).append((lot.due_week, lot.remaining))
    return queue


def _counts(counts: dict[str, NDArray[np.int64]]) -> OutcomeCounts:
    return OutcomeCounts.of(
        offers=counts["offers"],
        accepted=counts["accepted"],
        deliveries=counts["due"],
        on_time=counts["on_time"],
        reviewed=counts["reviewed"],
        passed=counts["passed"],
    )


def _metrics(
    truth: Truth,
    ordered: float,
    good_on_time: NDArray[np.int64],
    accepted: NDArray[np.int64],
    accepted_in_first_week: NDArray[np.int64],
    pieces: dict[str, int],
    lead_weighted: float,
    income: NDArray[np.int64],
    first_offer: NDArray[np.int64],
    first_accept: NDArray[np.int64],
    withdrawn_share: float,
) -> dict[str, float]:
    world = truth.world
    joins = truth.artisans.joins
    weeks = world.weeks
    active_weeks = np.maximum(weeks - joins, 1)
    settled = joins <= weeks - 4
    per_week = income[:weeks].sum(axis=0) / active_weeks
    windows = [
        float(np.mean(income[t : t + 4, joins <= t].sum(axis=0) <= 0))
        for t in range(4, weeks - 3)
        if np.any(joins <= t)
    ]
    newcomers = (joins >= 1) & (joins <= weeks - 2)
    offered = first_offer >= 0
    accepted_lot = first_accept >= 0
    waited_offer = first_offer - joins + 1
    waited = first_accept - joins + 1
    delivered = max(pieces["delivered"], 1)
    any_new = bool(newcomers.any())
    return {
        "good_on_time_per_ordered": float(good_on_time.sum()) / ordered,
        "fill_rate": float(accepted.sum()) / ordered,
        "fill_3_rounds": float(accepted_in_first_week.sum()) / ordered,
        "withdrawn_share": withdrawn_share,
        "on_time_rate": pieces["on_time"] / delivered,
        "qc_pass_rate": pieces["passed"] / max(pieces["reviewed"], 1),
        "lead_time_days": lead_weighted / delivered,
        "income_gini": _gini(per_week[settled]),
        "no_income_4w": float(np.mean(windows)) if windows else 0.0,
        "newcomers": float(newcomers.sum()),
        # A newcomer's trial is work, not an offer: an accepted lot in the week they join or
        # the next (an offer they could not take, or that was withdrawn, is no trial).
        "newcomer_accepted_lot_2w": float(
            np.mean(accepted_lot[newcomers] & (waited[newcomers] <= 2))
        )
        if any_new
        else float("nan"),
        "newcomer_weeks_to_first_lot": float(np.mean(waited[newcomers & accepted_lot]))
        if (newcomers & accepted_lot).any()
        else float("nan"),
        "newcomer_offer_2w": float(np.mean(offered[newcomers] & (waited_offer[newcomers] <= 2)))
        if any_new
        else float("nan"),
    }


def _gini(values: FloatArray) -> float:
    return gini(values)


def _calibration(
    rows: dict[str, list[tuple[int, float, float, float]]],
) -> dict[str, tuple[FloatArray, FloatArray, FloatArray, FloatArray]]:
    out: dict[str, tuple[FloatArray, FloatArray, FloatArray, FloatArray]] = {}
    for outcome, values in rows.items():
        known = [r for r in values if not np.isnan(r[2])]
        if not known:
            continue
        array = np.asarray(known, dtype=np.float64)
        out[outcome] = (array[:, 0], array[:, 1], array[:, 2], array[:, 3])
    return out


def weighted_ece(
    predicted: FloatArray, observed: FloatArray, weight: FloatArray, *, bins: int = 15
) -> float:
    """Expected calibration error with weights (QC rows weigh as many pieces as the lot)."""
    if predicted.size == 0 or weight.sum() <= 0:
        return float("nan")
    which = np.minimum((predicted * bins).astype(np.int64), bins - 1)
    w = np.bincount(which, weights=weight, minlength=bins)
    gap = np.abs(
        np.bincount(which, weights=weight * observed, minlength=bins)
        - np.bincount(which, weights=weight * predicted, minlength=bins)
    )
    return float(gap.sum() / w.sum())
