"""Work said ready without photos: QC and the count at the central workshop, in one go.

An artisan without a camera phone says "work ready: N pieces" over USSD (``work.submit_work``
with ``qc_at_receipt``): a submission with no photos, left out of the photo QC queue. When the
pieces arrive, a field agent checks and counts them together (the agent's receipt flow):
``count_in_at_receipt`` is the review (passed / rejected, rejected pieces become rework as
usual), the delivery of the passed pieces, and their receipt, which earns the artisan their pay.
It composes the three services that do each of those for photographed work, so the rules (QC by
someone else, no pay before QC and receipt, never twice) are the same ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.model import (
    Allocation,
    DeliveryMethod,
    QcReason,
    QcReview,
    Submission,
    SubmissionPhoto,
    SubmissionStatus,
)
from domain.services.deliveries import arrange_delivery, record_receipt
from domain.services.work import review_submission

MAX_LISTED = 10


def _without_photos() -> sa.ColumnElement[bool]:
    return ~sa.exists().where(col(SubmissionPhoto.submission_id) == col(Submission.id))


async def awaiting_receipt_qc(
    session: AsyncSession, *, limit: int = MAX_LISTED
) -> list[Submission]:
    """Work said ready without photos, waiting to be checked and counted in, oldest first."""
    rows = await session.exec(
        select(Submission)
        .where(Submission.status == SubmissionStatus.PENDING_REVIEW, _without_photos())
        .order_by(col(Submission.submitted_at), col(Submission.id))
        .limit(limit)
    )
    return list(rows.all())


async def is_qc_at_receipt(session: AsyncSession, submission_id: int) -> bool:
    """Whether this submission waits for QC at its receipt (pending, and without photos)."""
    found = await session.exec(
        select(Submission.id).where(
            Submission.id == submission_id,
            Submission.status == SubmissionStatus.PENDING_REVIEW,
            _without_photos(),
        )
    )
    return found.first() is not None


async def count_in_at_receipt(
    session: AsyncSession,
    *,
    submission_id: int,
    receiver_id: int,
    passed: int,
    reasons: Sequence[QcReason] = (),
    now: datetime,
) -> QcReview:
    """QC of a photoless submission at the workshop: ``passed`` of its pieces pass (the rest are
    rejected for ``reasons`` and become rework); the passed pieces are counted in and paid."""
    submission = await session.get(Submission, submission_id)
    count = 0 if submission is None else submission.count
    review = await review_submission(
        session,
        submission_id=submission_id,
        reviewer_id=receiver_id,
        passed=passed,
        rejected=count - passed,
        reasons=reasons,
        now=now,
    )
    if passed > 0:
        assert submission is not None  # review_submission found it
        delivery = await arrange_delivery(
            session,
            allocation_id=submission.allocation_id,
            artisan_id=await _artisan(session, submission.allocation_id),
            method=DeliveryMethod.DROP_OFF,
            slot_start=now,
            quantity=passed,
            now=now,
        )
        assert delivery.id is not None
        await record_receipt(
            session,
            delivery_id=delivery.id,
            receiver_id=receiver_id,
            received_quantity=passed,
            now=now,
        )
    return review


async def _artisan(session: AsyncSession, allocation_id: int) -> int:
    allocation = await session.get(Allocation, allocation_id)
    assert allocation is not None
    return allocation.artisan_id
