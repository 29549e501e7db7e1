"""Submissions and QC, through the real services on a real SQLite store."""

from __future__ import annotations

import pytest
from sqlmodel import select

from domain import events
from domain.errors import (
    CancelledWorkClosed,
    DomainError,
    Forbidden,
    IllegalTransition,
    InvalidQuantity,
    NotFound,
)
from domain.model import (
    Allocation,
    QcReason,
    Submission,
    SubmissionPhoto,
    SubmissionStatus,
)
from domain.quantities import allocation_progress
from domain.services import orders
from domain.services.jobs import lock_job
from domain.services.work import (
    PhotoRef,
    add_photos,
    qc_queue,
    request_better_photos,
    review_submission,
    submission_photos,
    submit_work,
)
from domain.store import Store
from tests.conftest import FakeClock
from tests.integration.factory_fixtures import (
    PENDANT_LEAD_DAYS,
    PHOTO,
    Factory,
    allocate,
    days_from,
    place_order,
)


@pytest.fixture
async def allocation(store: Store, clock: FakeClock, factory: Factory) -> Allocation:
    """Wanjiru has all 10 horn pendants of an order of 10 necklaces."""
    order = await place_order(store, clock)
    return await allocate(
        store, clock, job_id=order.jobs["HORN-PENDANT"], artisan_id=factory.wanjiru, quantity=10
    )


async def submit(
    store: Store,
    clock: FakeClock,
    allocation: Allocation,
    count: int,
    *,
    photos: list[PhotoRef] | None = None,
    artisan_id: int | None = None,
) -> Submission:
    assert allocation.id is not None
    async with store.transaction() as s:
        return await submit_work(
            s,
            allocation_id=allocation.id,
            artisan_id=allocation.artisan_id if artisan_id is None else artisan_id,
            count=count,
            photos=[PHOTO] if photos is None else photos,
            now=clock.now(),
        )


async def review(
    store: Store,
    clock: FakeClock,
    submission: Submission,
    reviewer: int,
    passed: int,
    rejected: int,
    reasons: tuple[QcReason, ...] = (),
) -> None:
    assert submission.id is not None
    async with store.transaction() as s:
        await review_submission(
            s,
            submission_id=submission.id,
            reviewer_id=reviewer,
            passed=passed,
            rejected=rejected,
            reasons=reasons,
            now=clock.now(),
        )


# --- submitting work -----------------------------------------------------------------------


async def test_an_artisan_submits_finished_pieces_with_photos_for_qc(
    store: Store, clock: FakeClock, allocation: Allocation
) -> None:
    assert allocation.id is not None
    photos = [PhotoRef("media/1.jpg", "image/jpeg"), PhotoRef("media/2.png", "IMAGE/PNG")]
    async with store.transaction() as s:
        submission = await submit_work(
            s,
            allocation_id=allocation.id,
            artisan_id=allocation.artisan_id,
            count=4,
            photos=photos,
            note="  first four, polished  ",
            now=clock.now(),
        )
        recorded = events.drain(s)
    assert submission.id is not None
    assert recorded == [events.SubmissionCreated(submission.id, allocation.artisan_id)]
    async with store.transaction() as s:
        stored = await s.get(Submission, submission.id)
        assert stored is not None
        assert stored.status == SubmissionStatus.PENDING_REVIEW
        assert stored.note == "first four, polished"
        assert [
            (p.media_ref, p.content_type) for p in await submission_photos(s, submission.id)
        ] == [
            ("media/1.jpg", "image/jpeg"),
            ("media/2.png", "image/png"),
        ]
        progress = await allocation_progress(s, allocation.id)
    assert (progress.pending_review, progress.passed, progress.outstanding) == (4, 0, 6)


async def test_only_the_allocations_own_artisan_may_submit_work_on_it(
    store: Store, clock: FakeClock, factory: Factory, allocation: Allocation
) -> None:
    with pytest.raises(Forbidden, match=r"allocation \d+ is another artisan's"):
        await submit(store, clock, allocation, 2, artisan_id=factory.otieno)


async def test_submitting_work_on_an_allocation_that_does_not_exist_names_it(
    store: Store, clock: FakeClock, factory: Factory
) -> None:
    async with store.transaction() as s:
        with pytest.raises(NotFound, match="allocation 999 does not exist"):
            await submit_work(
                s,
                allocation_id=999,
                artisan_id=factory.wanjiru,
                count=1,
                photos=[PHOTO],
                now=clock.now(),
            )


async def test_a_submission_needs_at_least_one_photo(
    store: Store, clock: FakeClock, allocation: Allocation
) -> None:
    with pytest.raises(DomainError, match="photos must include at least one photo"):
        await submit(store, clock, allocation, 2, photos=[])


async def test_a_submission_takes_images_only(
    store: Store, clock: FakeClock, allocation: Allocation
) -> None:
    with pytest.raises(DomainError, match=r"photos must be images; 'media/v.mp4' is video/mp4"):
        await submit(
            store, clock, allocation, 2, photos=[PHOTO, PhotoRef("media/v.mp4", "video/mp4")]
        )
    async with store.transaction() as s:
        assert (await s.exec(select(Submission))).all() == []
        assert (await s.exec(select(SubmissionPhoto))).all() == []


@pytest.mark.parametrize("count", [0, -3])
async def test_a_submission_counts_at_least_one_piece(
    store: Store, clock: FakeClock, allocation: Allocation, count: int
) -> None:
    with pytest.raises(InvalidQuantity, match=f"submit at least 1 piece \\(got {count}\\)"):
        await submit(store, clock, allocation, count)


async def test_no_more_pieces_can_be_submitted_than_are_left_to_make(
    store: Store, clock: FakeClock, factory: Factory, allocation: Allocation
) -> None:
    first = await submit(store, clock, allocation, 6)
    await review(store, clock, first, factory.agent, passed=6, rejected=0)
    await submit(store, clock, allocation, 3)
    with pytest.raises(
        InvalidQuantity,
        match=r"has 1 pieces left to submit \(10 allocated, 6 passed, 3 waiting for QC\), "
        r"so 2 is too many",
    ):
        await submit(store, clock, allocation, 2)
    assert (await submit(store, clock, allocation, 1)).count == 1


async def test_made_work_is_submitted_only_within_the_grace_once_the_order_is_cancelled(
    store: Store, clock: FakeClock, allocation: Allocation
) -> None:
    async with store.transaction() as s:
        _, order = await lock_job(s, allocation.job_id)
        assert order.id is not None
        await orders.cancel_order(
            s, order.id, reason="retailer closed", now=clock.now(), grace_days=1
        )
    clock.advance(days=1)
    assert (await submit(store, clock, allocation, 1)).count == 1
    clock.advance(days=1)
    with pytest.raises(
        CancelledWorkClosed, match=r"allocation \d+ was cancelled with its job; made pieces"
    ):
        await submit(store, clock, allocation, 1)


# --- QC review -----------------------------------------------------------------------------


async def test_a_field_agent_passes_and_rejects_every_piece_and_rejects_become_rework(
    store: Store, clock: FakeClock, factory: Factory, allocation: Allocation
) -> None:
    assert allocation.id is not None
    submission = await submit(store, clock, allocation, 8)
    assert submission.id is not None
    async with store.transaction() as s:
        verdict = await review_submission(
            s,
            submission_id=submission.id,
            reviewer_id=factory.agent,
            passed=5,
            rejected=3,
            reasons=[QcReason.POOR_FINISH, QcReason.BROKEN, QcReason.POOR_FINISH],
            note="three cracked at the loop",
            now=clock.now(),
        )
        recorded = events.drain(s)
    rework_due = days_from(clock, PENDANT_LEAD_DAYS)
    assert (verdict.passed, verdict.rejected, verdict.reasons) == (5, 3, "poor_finish,broken")
    assert verdict.rework_due_date == rework_due
    assert recorded == [
        events.QcReviewed(
            submission_id=submission.id,
            artisan_id=factory.wanjiru,
            passed=5,
            rejected=3,
            reasons=("poor_finish", "broken"),
            rework_due_date=rework_due,
        )
    ]
    async with store.transaction() as s:
        progress = await allocation_progress(s, allocation.id)
        stored = await s.get(Submission, submission.id)
        assert stored is not None
        assert stored.status == SubmissionStatus.REVIEWED
    # The 3 rejected go back to the artisan: 10 - 5 passed = 5 still to make.
    assert (progress.passed, progress.rejected, progress.pending_review) == (5, 3, 0)
    assert progress.outstanding == 5
    assert (await submit(store, clock, allocation, 5)).count == 5


async def test_a_review_that_rejects_nothing_sets_no_rework_due_date(
    store: Store, clock: FakeClock, factory: Factory, allocation: Allocation
) -> None:
    submission = await submit(store, clock, allocation, 2)
    assert submission.id is not None
    async with store.transaction() as s:
        verdict = await review_submission(
            s,
            submission_id=submission.id,
            reviewer_id=factory.agent,
            passed=2,
            rejected=0,
            reasons=[],
            rework_due_date=days_from(clock, 9),
            now=clock.now(),
        )
    assert verdict.rework_due_date is None


async def test_the_agent_may_set_the_rework_due_date_but_not_in_the_past(
    store: Store, clock: FakeClock, factory: Factory, allocation: Allocation
) -> None:
    submission = await submit(store, clock, allocation, 2)
    assert submission.id is not None
    yesterday = days_from(clock, -1)
    async with store.transaction() as s:
        with pytest.raises(DomainError, match=f"rework due date {yesterday} is in the past"):
            await review_submission(
                s,
                submission_id=submission.id,
                reviewer_id=factory.agent,
                passed=1,
                rejected=1,
                reasons=[QcReason.WRONG_SIZE],
                rework_due_date=yesterday,
                now=clock.now(),
            )
    async with store.transaction() as s:
        verdict = await review_submission(
            s,
            submission_id=submission.id,
            reviewer_id=factory.agent,
            passed=1,
            rejected=1,
            reasons=[QcReason.WRONG_SIZE],
            rework_due_date=days_from(clock, 2),
            now=clock.now(),
        )
    assert verdict.rework_due_date == days_from(clock, 2)


@pytest.mark.parametrize("who", ["admin", "wanjiru", "otieno"])
async def test_only_a_field_agent_reviews_qc(
    store: Store, clock: FakeClock, factory: Factory, allocation: Allocation, who: str
) -> None:
    submission = await submit(store, clock, allocation, 2)
    with pytest.raises(Forbidden, match="only a field agent may review QC"):
        await review(store, clock, submission, getattr(factory, who), passed=2, rejected=0)


async def test_nobody_reviews_their_own_submission(
    store: Store, clock: FakeClock, factory: Factory
) -> None:
    # The services never allocate work to a field agent; rows written by hand show the rule
    # still holds should one ever be given an allocation.
    order = await place_order(store, clock)
    async with store.transaction() as s:
        own = Allocation(
            job_id=order.jobs["HORN-PENDANT"],
            artisan_id=factory.agent,
            quantity=2,
            piece_rate_cents=100,
            due_date=days_from(clock, 10),
            created_at=clock.now(),
        )
        s.add(own)
        await s.flush()
        assert own.id is not None
        submission = Submission(allocation_id=own.id, count=2, submitted_at=clock.now())
        s.add(submission)
    with pytest.raises(Forbidden, match=r"submission \d+ is your own; another field agent must QC"):
        await review(store, clock, submission, factory.agent, passed=2, rejected=0)


@pytest.mark.parametrize(("passed", "rejected"), [(3, 0), (2, 1), (4, 1)])
async def test_every_piece_of_a_submission_is_either_passed_or_rejected(
    store: Store,
    clock: FakeClock,
    factory: Factory,
    allocation: Allocation,
    passed: int,
    rejected: int,
) -> None:
    submission = await submit(store, clock, allocation, 4)
    with pytest.raises(
        InvalidQuantity,
        match=rf"has 4 pieces but passed {passed} \+ rejected {rejected} = {passed + rejected}",
    ):
        await review(store, clock, submission, factory.agent, passed, rejected, (QcReason.OTHER,))


async def test_counts_in_a_review_cannot_be_negative(
    store: Store, clock: FakeClock, factory: Factory, allocation: Allocation
) -> None:
    submission = await submit(store, clock, allocation, 4)
    with pytest.raises(InvalidQuantity, match="cannot be negative"):
        await review(store, clock, submission, factory.agent, 5, -1, (QcReason.OTHER,))


async def test_rejecting_pieces_needs_a_reason(
    store: Store, clock: FakeClock, factory: Factory, allocation: Allocation
) -> None:
    submission = await submit(store, clock, allocation, 4)
    with pytest.raises(
        DomainError, match="reasons must name at least one QC reason for 1 rejected"
    ):
        await review(store, clock, submission, factory.agent, passed=3, rejected=1)


async def test_an_unknown_qc_reason_is_refused_with_the_known_ones(
    store: Store, clock: FakeClock, factory: Factory, allocation: Allocation
) -> None:
    submission = await submit(store, clock, allocation, 4)
    with pytest.raises(DomainError, match="'ugly' is not a QC reason; use poor_finish, wrong_size"):
        await review(store, clock, submission, factory.agent, 3, 1, ("ugly",))  # type: ignore[arg-type]


async def test_a_submission_is_reviewed_only_once(
    store: Store, clock: FakeClock, factory: Factory, allocation: Allocation
) -> None:
    submission = await submit(store, clock, allocation, 4)
    await review(store, clock, submission, factory.agent, passed=4, rejected=0)
    with pytest.raises(
        IllegalTransition, match="a submission that is reviewed cannot become reviewed"
    ):
        await review(store, clock, submission, factory.far_agent, passed=4, rejected=0)


# --- better photos -------------------------------------------------------------------------


async def test_an_agent_asks_for_better_photos_and_the_artisan_sends_them(
    store: Store, clock: FakeClock, factory: Factory, allocation: Allocation
) -> None:
    submission = await submit(store, clock, allocation, 3)
    assert submission.id is not None
    async with store.transaction() as s:
        held = await request_better_photos(
            s,
            submission_id=submission.id,
            reviewer_id=factory.agent,
            note="too dark, take them outside",
            now=clock.now(),
        )
        recorded = events.drain(s)
    assert held.status == SubmissionStatus.PHOTOS_REQUESTED
    assert recorded == [
        events.BetterPhotosRequested(submission.id, factory.wanjiru, "too dark, take them outside")
    ]
    # While it waits for the artisan it is neither reviewable nor in the queue.
    with pytest.raises(
        IllegalTransition, match="a submission that is photos_requested cannot become reviewed"
    ):
        await review(store, clock, submission, factory.agent, passed=3, rejected=0)
    async with store.transaction() as s:
        assert await qc_queue(s, agent_id=factory.agent, limit=5) == []

    clock.advance(hours=2)
    async with store.transaction() as s:
        back = await add_photos(
            s,
            submission_id=submission.id,
            artisan_id=factory.wanjiru,
            photos=[PhotoRef("media/daylight.jpg", "image/jpeg")],
            now=clock.now(),
        )
    assert back.status == SubmissionStatus.PENDING_REVIEW
    async with store.transaction() as s:
        refs = [p.media_ref for p in await submission_photos(s, submission.id)]
        queue = await qc_queue(s, agent_id=factory.agent, limit=5)
    assert refs == [PHOTO.media_ref, "media/daylight.jpg"]
    assert [q.id for q in queue] == [submission.id]


async def test_photos_may_be_added_while_a_submission_waits_for_review(
    store: Store, clock: FakeClock, factory: Factory, allocation: Allocation
) -> None:
    submission = await submit(store, clock, allocation, 3)
    assert submission.id is not None
    async with store.transaction() as s:
        same = await add_photos(
            s,
            submission_id=submission.id,
            artisan_id=factory.wanjiru,
            photos=[PhotoRef("media/side.webp", "image/webp")],
            now=clock.now(),
        )
        assert same.status == SubmissionStatus.PENDING_REVIEW
        assert len(await submission_photos(s, submission.id)) == 2


async def test_photos_cannot_be_added_to_a_reviewed_submission(
    store: Store, clock: FakeClock, factory: Factory, allocation: Allocation
) -> None:
    submission = await submit(store, clock, allocation, 3)
    assert submission.id is not None
    await review(store, clock, submission, factory.agent, passed=3, rejected=0)
    async with store.transaction() as s:
        with pytest.raises(DomainError, match=r"is reviewed; photos can be added only while"):
            await add_photos(
                s,
                submission_id=submission.id,
                artisan_id=factory.wanjiru,
                photos=[PHOTO],
                now=clock.now(),
            )


async def test_only_the_artisan_adds_photos_to_their_submission(
    store: Store, clock: FakeClock, factory: Factory, allocation: Allocation
) -> None:
    submission = await submit(store, clock, allocation, 3)
    assert submission.id is not None
    async with store.transaction() as s:
        with pytest.raises(Forbidden, match="is another artisan's; only they may add photos"):
            await add_photos(
                s,
                submission_id=submission.id,
                artisan_id=factory.otieno,
                photos=[PHOTO],
                now=clock.now(),
            )


async def test_only_a_field_agent_asks_for_better_photos(
    store: Store, clock: FakeClock, factory: Factory, allocation: Allocation
) -> None:
    submission = await submit(store, clock, allocation, 3)
    assert submission.id is not None
    async with store.transaction() as s:
        with pytest.raises(Forbidden, match="only a field agent may ask for better photos"):
            await request_better_photos(
                s,
                submission_id=submission.id,
                reviewer_id=factory.admin,
                note=None,
                now=clock.now(),
            )


# --- the QC queue --------------------------------------------------------------------------


async def test_the_qc_queue_shows_the_agents_own_areas_first_then_the_oldest(
    store: Store, clock: FakeClock, factory: Factory
) -> None:
    order = await place_order(store, clock, lines={"NECKLACE-HORN": 10, "BANGLE-BRASS": 6})
    kibera = await allocate(
        store, clock, job_id=order.jobs["HORN-PENDANT"], artisan_id=factory.wanjiru, quantity=10
    )
    githurai = await allocate(
        store, clock, job_id=order.jobs["BRASS-BANGLE"], artisan_id=factory.otieno, quantity=6
    )
    old_githurai = await submit(store, clock, githurai, 1)
    clock.advance(minutes=10)
    kibera_first = await submit(store, clock, kibera, 1)
    clock.advance(minutes=10)
    kibera_second = await submit(store, clock, kibera, 1)
    clock.advance(minutes=10)
    held = await submit(store, clock, githurai, 1)
    assert held.id is not None
    async with store.transaction() as s:
        await request_better_photos(
            s, submission_id=held.id, reviewer_id=factory.far_agent, note=None, now=clock.now()
        )

    async with store.transaction() as s:
        for_kamau = await qc_queue(s, agent_id=factory.agent, limit=10)
        for_njeri = await qc_queue(s, agent_id=factory.far_agent, limit=10)
        top_two = await qc_queue(s, agent_id=factory.agent, limit=2)
    assert [q.id for q in for_kamau] == [kibera_first.id, kibera_second.id, old_githurai.id]
    assert [q.id for q in for_njeri] == [old_githurai.id, kibera_first.id, kibera_second.id]
    assert [q.id for q in top_two] == [kibera_first.id, kibera_second.id]


async def test_the_qc_queue_is_for_field_agents(store: Store, factory: Factory) -> None:
    async with store.transaction() as s:
        with pytest.raises(Forbidden, match="only a field agent may see the QC queue"):
            await qc_queue(s, agent_id=factory.wanjiru, limit=5)
        with pytest.raises(DomainError, match="limit must be at least 1"):
            await qc_queue(s, agent_id=factory.agent, limit=0)


async def test_a_submission_survives_only_a_committed_transaction(
    store: Store, clock: FakeClock, allocation: Allocation
) -> None:
    assert allocation.id is not None
    allocation_id = allocation.id

    async def submit_then_crash() -> None:
        async with store.transaction() as s:
            await submit_work(
                s,
                allocation_id=allocation_id,
                artisan_id=allocation.artisan_id,
                count=2,
                photos=[PHOTO],
                now=clock.now(),
            )
            raise RuntimeError("the phone died")

    with pytest.raises(RuntimeError, match="the phone died"):
        await submit_then_crash()
    async with store.transaction() as s:
        progress = await allocation_progress(s, allocation.id)
    assert progress.outstanding == 10
