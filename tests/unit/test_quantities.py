"""The job quantity invariant as a pure rule over a tally of counts."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import InvalidQuantity
from domain.quantities import AllocationProgress, JobTally, ReviewedCount, check_job_tally

# A healthy job: 20 ordered, 15 allocated; 12 submitted in three batches, one still waiting.
HEALTHY = JobTally(
    job_id=7,
    ordered=20,
    allocated=15,
    submitted=12,
    pending_review=2,
    passed=8,
    rejected=2,
    in_transit=3,
    received=4,
    reviews=(ReviewedCount(1, 6, 5, 1), ReviewedCount(2, 4, 3, 1)),
)


def test_a_healthy_tally_passes() -> None:
    check_job_tally(HEALTHY)
    assert HEALTHY.net_submitted == 10
    assert HEALTHY.delivered == 7
    assert HEALTHY.unallocated == 5


def test_an_empty_job_passes() -> None:
    check_job_tally(JobTally(job_id=1, ordered=5))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"allocated": 21},
            "job 7: 21 pieces allocated, more than the 20 ordered",
        ),
        (
            {"allocated": 9},
            "job 7: 10 pieces submitted and not rejected, more than the 9 allocated",
        ),
        (
            {"submitted": 13},
            r"job 7: 13 pieces submitted but 8 passed \+ 2 rejected \+ 2 waiting for QC = 12",
        ),
        (
            {"in_transit": 5},
            r"job 7: 9 pieces delivered or on their way \(4 received, 5 in transit\), more than "
            "the 8 that passed QC",
        ),
        (
            {"received": 9, "in_transit": 0},
            r"job 7: 9 pieces delivered or on their way \(9 received, 0 in transit\)",
        ),
        (
            {"rejected": -1},
            "job 7: rejected is -1; a count of pieces cannot be negative",
        ),
        (
            {"reviews": (ReviewedCount(1, 6, 5, 0), ReviewedCount(2, 4, 3, 1))},
            "job 7: submission 1 had 6 pieces but its QC review passed 5 and rejected 0",
        ),
    ],
)
def test_each_broken_rule_is_refused_and_named(change: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidQuantity, match=message):
        check_job_tally(replace(HEALTHY, **change))  # type: ignore[arg-type]


@st.composite
def consistent_tallies(draw: st.DrawFn) -> JobTally:
    """Any tally a job can really reach, built the way the pieces flow through the factory."""
    ordered = draw(st.integers(1, 500))
    allocated = draw(st.integers(0, ordered))
    reviews = []
    budget = allocated  # passed + pending may not exceed what is allocated
    passed = rejected = 0
    for submission_id in range(draw(st.integers(0, 6))):
        if budget == 0:
            break
        good = draw(st.integers(0, budget))
        bad = draw(st.integers(0 if good else 1, 50))
        reviews.append(ReviewedCount(submission_id, good + bad, good, bad))
        passed += good
        rejected += bad
        budget -= good
    pending = draw(st.integers(0, budget))
    received = draw(st.integers(0, passed))
    in_transit = draw(st.integers(0, passed - received))
    return JobTally(
        job_id=1,
        ordered=ordered,
        allocated=allocated,
        submitted=passed + rejected + pending,
        pending_review=pending,
        passed=passed,
        rejected=rejected,
        in_transit=in_transit,
        received=received,
        reviews=tuple(reviews),
    )


@given(consistent_tallies())
def test_every_reachable_tally_passes(tally: JobTally) -> None:
    check_job_tally(tally)
    assert tally.rejected + tally.passed <= tally.submitted
    assert tally.net_submitted <= tally.allocated <= tally.ordered


@given(consistent_tallies(), st.integers(1, 50))
def test_passing_more_pieces_than_were_allocated_is_always_caught(
    tally: JobTally, extra: int
) -> None:
    overdrawn = replace(
        tally,
        passed=tally.allocated - tally.pending_review + extra,
        submitted=tally.allocated + tally.rejected + extra,
        reviews=(),
    )
    with pytest.raises(InvalidQuantity, match="submitted and not rejected, more than the"):
        check_job_tally(overdrawn)


def test_an_allocations_outstanding_and_deliverable_pieces_follow_from_its_counts() -> None:
    progress = AllocationProgress(
        quantity=10,
        pending_review=2,
        passed=5,
        rejected=3,
        delivered=4,
        received=1,
        outstanding=3,
    )
    assert progress.in_transit == 3
    assert progress.deliverable == 1
    assert tuple(progress) == (10, 2, 5, 3, 4, 1, 3, 0)


def test_passed_pieces_written_off_as_paid_can_no_longer_be_delivered() -> None:
    progress = AllocationProgress(
        quantity=10,
        pending_review=0,
        passed=6,
        rejected=0,
        delivered=2,
        received=2,
        outstanding=4,
        written_off=3,
    )
    assert progress.deliverable == 1
