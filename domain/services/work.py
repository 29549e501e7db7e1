"""Finished pieces and their QC: submissions with photos, better-photo requests, reviews, rework.

An artisan submits a count of finished pieces with photos; a field agent (never the artisan) passes
or rejects every piece. Rejected pieces stay on the same allocation as rework, due again by the
review's rework due date, and may be submitted again.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import NamedTuple

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain import events
from domain.errors import CancelledWorkClosed, DomainError, Forbidden, InvalidQuantity
from domain.explosion import factory_today
from domain.model import (
    SUBMISSION_TRANSITIONS,
    AgentArea,
    Allocation,
    AllocationStatus,
    Component,
    Job,
    Person,
    QcReason,
    QcReview,
    Role,
    Submission,
    SubmissionPhoto,
    SubmissionStatus,
)
from domain.quantities import allocation_progress, ensure_job_invariant
from domain.services.guards import InvalidField, clean_text, load, person_in_role

MAX_PHOTOS_PER_SUBMISSION = 10


class PhotoRef(NamedTuple):
    """A photo the channel adapter stored: its media reference and the MIME type it reported."""

    media_ref: str
    content_type: str


async def submit_work(
    session: AsyncSession,
    *,
    allocation_id: int,
    artisan_id: int,
    count: int,
    photos: Sequence[PhotoRef],
    note: str | None = None,
    now: datetime,
    qc_at_receipt: bool = False,
) -> Submission:
    """The artisan's finished pieces, with photos, into the QC queue.

    ``qc_at_receipt``: work said ready without photos (from a phone without a camera, over USSD);
    it takes no photos and stays out of the photo QC queue: a field agent checks the pieces when
    they are counted in at the central workshop (``domain.services.receipt_qc``).
    """
    allocation = await _own_active_allocation(
        session, allocation_id, artisan_id, to="submit work on it", now=now
    )
    if count <= 0:
        raise InvalidQuantity(f"submit at least 1 piece (got {count})")
    if qc_at_receipt and photos:
        raise InvalidField("photos", "are not taken with work checked at the receipt")
    cleaned = [] if qc_at_receipt else _clean_photos(photos)
    progress = await allocation_progress(session, allocation_id)
    if count > progress.outstanding:
        raise InvalidQuantity(
            f"allocation {allocation_id} has {progress.outstanding} pieces left to submit "
            f"({progress.quantity} allocated, {progress.passed} passed, "
            f"{progress.pending_review} waiting for QC), so {count} is too many"
        )
    submission = Submission(
        allocation_id=allocation_id,
        count=count,
        submitted_at=now,
        note=_optional_text(note, field="note", max_length=300),
    )
    session.add(submission)
    await session.flush()
    assert submission.id is not None
    _add_photo_rows(session, submission.id, cleaned, now)
    await ensure_job_invariant(session, allocation.job_id)
    events.record(session, events.SubmissionCreated(submission.id, artisan_id))
    return submission


async def add_photos(
    session: AsyncSession,
    *,
    submission_id: int,
    artisan_id: int,
    photos: Sequence[PhotoRef],
    now: datetime,
) -> Submission:
    """More photos for a submission still waiting for QC; answers a request for better photos."""
    submission = await load(session, Submission, submission_id, what="submission", for_update=True)
    allocation = await load(session, Allocation, submission.allocation_id, what="allocation")
    if allocation.artisan_id != artisan_id:
        raise Forbidden(
            f"submission {submission_id} is another artisan's; only they may add photos to it"
        )
    cleaned = _clean_photos(photos)
    if submission.status == SubmissionStatus.PHOTOS_REQUESTED:
        submission.status = SUBMISSION_TRANSITIONS.check(
            submission.status, SubmissionStatus.PENDING_REVIEW
        )
    elif submission.status != SubmissionStatus.PENDING_REVIEW:
        raise DomainError(
            f"submission {submission_id} is {submission.status}; photos can be added only while "
            "it waits for QC"
        )
    existing = await session.exec(
        select(sa.func.count()).where(SubmissionPhoto.submission_id == submission_id)
    )
    if existing.one() + len(cleaned) > MAX_PHOTOS_PER_SUBMISSION:
        raise InvalidField(
            "photos", f"are at most {MAX_PHOTOS_PER_SUBMISSION} per submission; send fewer"
        )
    _add_photo_rows(session, submission_id, cleaned, now)
    session.add(submission)
    await session.flush()
    return submission


async def request_better_photos(
    session: AsyncSession,
    *,
    submission_id: int,
    reviewer_id: int,
    note: str | None,
    now: datetime,
) -> Submission:
    """Hold a submission until the artisan sends photos the agent can judge the pieces by."""
    await person_in_role(session, reviewer_id, {Role.FIELD_AGENT}, to="ask for better photos")
    submission = await load(session, Submission, submission_id, what="submission", for_update=True)
    allocation = await load(session, Allocation, submission.allocation_id, what="allocation")
    _not_own(allocation, reviewer_id, submission_id)
    submission.status = SUBMISSION_TRANSITIONS.check(
        submission.status, SubmissionStatus.PHOTOS_REQUESTED
    )
    session.add(submission)
    await session.flush()
    events.record(
        session,
        events.BetterPhotosRequested(
            submission_id, allocation.artisan_id, _optional_text(note, field="note", max_length=300)
        ),
    )
    return submission


async def review_submission(
    session: AsyncSession,
    *,
    submission_id: int,
    reviewer_id: int,
    passed: int,
    rejected: int,
    reasons: Sequence[QcReason],
    note: str | None = None,
    rework_due_date: date | None = None,
    now: datetime,
) -> QcReview:
    """A field agent's QC verdict: every piece passed or rejected; rejected pieces become rework.

    The rework is due by ``rework_due_date``, by default the component's standard lead time from
    today (Nairobi). A review with nothing rejected has no rework and no rework due date.
    """
    await person_in_role(session, reviewer_id, {Role.FIELD_AGENT}, to="review QC")
    submission = await load(session, Submission, submission_id, what="submission", for_update=True)
    allocation = await load(
        session, Allocation, submission.allocation_id, what="allocation", for_update=True
    )
    _not_own(allocation, reviewer_id, submission_id)
    status = SUBMISSION_TRANSITIONS.check(submission.status, SubmissionStatus.REVIEWED)
    if passed < 0 or rejected < 0:
        raise InvalidQuantity(
            f"passed and rejected are counts of pieces and cannot be negative "
            f"(got passed {passed}, rejected {rejected})"
        )
    if passed + rejected != submission.count:
        raise InvalidQuantity(
            f"submission {submission_id} has {submission.count} pieces but passed {passed} + "
            f"rejected {rejected} = {passed + rejected}; pass or reject every piece"
        )
    reason_values = _clean_reasons(reasons)
    if rejected > 0 and not reason_values:
        raise InvalidField("reasons", f"must name at least one QC reason for {rejected} rejected")
    today = factory_today(now)
    if rejected == 0:
        due: date | None = None
    elif rework_due_date is None:
        job = await load(session, Job, allocation.job_id, what="job")
        component = await load(session, Component, job.component_id, what="component")
        due = today + timedelta(days=component.lead_time_days)
    elif rework_due_date < today:
        raise InvalidField(
            "rework due date", f"{rework_due_date} is in the past (today is {today} in Nairobi)"
        )
    else:
        due = rework_due_date

    review = QcReview(
        submission_id=submission_id,
        reviewer_id=reviewer_id,
        passed=passed,
        rejected=rejected,
        reasons=",".join(reason_values),
        note=_optional_text(note, field="note", max_length=300),
        rework_due_date=due,
        reviewed_at=now,
    )
    submission.status = status
    session.add(submission)
    session.add(review)
    await session.flush()
    await ensure_job_invariant(session, allocation.job_id)
    events.record(
        session,
        events.QcReviewed(
            submission_id=submission_id,
            artisan_id=allocation.artisan_id,
            passed=passed,
            rejected=rejected,
            reasons=tuple(reason_values),
            rework_due_date=due,
        ),
    )
    return review


async def qc_queue(session: AsyncSession, *, agent_id: int, limit: int = 10) -> list[Submission]:
    """Submissions waiting for QC, oldest first, those from the agent's own areas before others.

    Submissions on hold for better photos wait for the artisan, not the agent, so they are left out;
    so is anything the agent submitted themselves.
    """
    await person_in_role(session, agent_id, {Role.FIELD_AGENT}, to="see the QC queue")
    if limit <= 0:
        raise InvalidField("limit", f"must be at least 1 (got {limit})")
    areas = (await session.exec(select(AgentArea.area).where(AgentArea.agent_id == agent_id))).all()
    in_my_areas = sa.case((col(Person.area).in_(areas), 0), else_=1) if areas else sa.literal(1)
    rows = await session.exec(
        select(Submission)
        .join(Allocation, col(Allocation.id) == col(Submission.allocation_id))
        .join(Person, col(Person.id) == col(Allocation.artisan_id))
        .where(Submission.status == SubmissionStatus.PENDING_REVIEW)
        .where(Allocation.artisan_id != agent_id)
        # Work said ready without photos is checked at its receipt (services.receipt_qc).
        .where(sa.exists().where(col(SubmissionPhoto.submission_id) == col(Submission.id)))
        .order_by(in_my_areas, col(Submission.submitted_at), col(Submission.id))
        .limit(limit)
    )
    return list(rows.all())


async def submission_photos(session: AsyncSession, submission_id: int) -> list[SubmissionPhoto]:
    """A submission's photos in the order they were added."""
    rows = await session.exec(
        select(SubmissionPhoto)
        .where(SubmissionPhoto.submission_id == submission_id)
        .order_by(col(SubmissionPhoto.id))
    )
    return list(rows.all())


async def _own_active_allocation(
    session: AsyncSession, allocation_id: int, artisan_id: int, *, to: str, now: datetime
) -> Allocation:
    """The artisan's allocation that takes new work: active, or cancelled with its job and
    still within the grace for pieces already made."""
    # Locked so two messages from the same artisan cannot both spend the same outstanding pieces.
    allocation = await load(session, Allocation, allocation_id, what="allocation", for_update=True)
    if allocation.artisan_id != artisan_id:
        raise Forbidden(
            f"allocation {allocation_id} is another artisan's; only the artisan it was "
            f"allocated to may {to}"
        )
    if allocation.status == AllocationStatus.ACTIVE:
        return allocation
    if allocation.status == AllocationStatus.CANCELLED and allocation.submit_by is not None:
        # Its job was cancelled: made pieces are taken during the grace (jobs.cancel_job).
        if factory_today(now) <= allocation.submit_by:
            return allocation
        raise CancelledWorkClosed(allocation_id, allocation.submit_by)
    raise DomainError(
        f"allocation {allocation_id} is {allocation.status}; only an active allocation "
        "takes new work"
    )


def _not_own(allocation: Allocation, person_id: int, submission_id: int) -> None:
    if allocation.artisan_id == person_id:
        raise Forbidden(f"submission {submission_id} is your own; another field agent must QC it")


def _clean_photos(photos: Sequence[PhotoRef]) -> list[PhotoRef]:
    if not photos:
        raise InvalidField("photos", "must include at least one photo of the finished pieces")
    if len(photos) > MAX_PHOTOS_PER_SUBMISSION:
        raise InvalidField(
            "photos", f"are at most {MAX_PHOTOS_PER_SUBMISSION} per submission (got {len(photos)})"
        )
    cleaned: list[PhotoRef] = []
    for photo in photos:
        content_type = photo.content_type.strip().lower()
        if not content_type.startswith("image/"):
            raise InvalidField(
                "photos",
                f"must be images; {photo.media_ref!r} is {photo.content_type or 'of unknown type'}",
            )
        ref = clean_text(photo.media_ref, field="photo reference", max_length=120)
        cleaned.append(PhotoRef(ref, clean_text(content_type, field="content type", max_length=60)))
    return cleaned


def _add_photo_rows(
    session: AsyncSession, submission_id: int, photos: Sequence[PhotoRef], now: datetime
) -> None:
    for photo in photos:
        session.add(
            SubmissionPhoto(
                submission_id=submission_id,
                media_ref=photo.media_ref,
                content_type=photo.content_type,
                added_at=now,
            )
        )


def _clean_reasons(reasons: Sequence[QcReason | str]) -> list[str]:
    values: list[str] = []
    for reason in reasons:
        try:
            value = QcReason(reason).value
        except ValueError:
            known = ", ".join(r.value for r in QcReason)
            raise InvalidField("reasons", f"{reason!r} is not a QC reason; use {known}") from None
        if value not in values:
            values.append(value)
    return values


def _optional_text(value: str | None, *, field: str, max_length: int) -> str | None:
    if value is None or not value.strip():
        return None
    return clean_text(value, field=field, max_length=max_length)
