"""From offer to receipt: allocations, submissions, QC, deliveries, assembly, visits."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from domain.limits import MAX_MONEY_CENTS, MAX_PIECE_RATE_CENTS, MAX_PIECES
from domain.model.columns import UTCDateTime, enum_type, pay_within, within
from domain.statemachine import Transitions


class OfferStatus(StrEnum):
    OPEN = "open"
    ACCEPTED = "accepted"
    PARTLY_ACCEPTED = "partly_accepted"
    DECLINED = "declined"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"


OFFER_TRANSITIONS = Transitions[OfferStatus](
    "offer",
    {
        OfferStatus.OPEN: frozenset(
            {
                OfferStatus.ACCEPTED,
                OfferStatus.PARTLY_ACCEPTED,
                OfferStatus.DECLINED,
                OfferStatus.EXPIRED,
                OfferStatus.WITHDRAWN,
            }
        ),
        OfferStatus.ACCEPTED: frozenset(),
        OfferStatus.PARTLY_ACCEPTED: frozenset(),
        OfferStatus.DECLINED: frozenset(),
        OfferStatus.EXPIRED: frozenset(),
        OfferStatus.WITHDRAWN: frozenset(),
    },
)


class DeclineReason(StrEnum):
    BUSY = "busy"
    NO_MATERIALS = "no_materials"
    RATE_TOO_LOW = "rate_too_low"
    OTHER = "other"


class AllocationStatus(StrEnum):
    ACTIVE = "active"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


ALLOCATION_TRANSITIONS = Transitions[AllocationStatus](
    "allocation",
    {
        AllocationStatus.ACTIVE: frozenset(
            {AllocationStatus.COMPLETED, AllocationStatus.CANCELLED}
        ),
        AllocationStatus.COMPLETED: frozenset(),
        AllocationStatus.CANCELLED: frozenset(),
    },
)


class SubmissionStatus(StrEnum):
    PENDING_REVIEW = "pending_review"
    PHOTOS_REQUESTED = "photos_requested"
    REVIEWED = "reviewed"
    CANCELLED = "cancelled"


SUBMISSION_TRANSITIONS = Transitions[SubmissionStatus](
    "submission",
    {
        SubmissionStatus.PENDING_REVIEW: frozenset(
            {
                SubmissionStatus.REVIEWED,
                SubmissionStatus.PHOTOS_REQUESTED,
                SubmissionStatus.CANCELLED,
            }
        ),
        SubmissionStatus.PHOTOS_REQUESTED: frozenset(
            {SubmissionStatus.PENDING_REVIEW, SubmissionStatus.CANCELLED}
        ),
        SubmissionStatus.REVIEWED: frozenset(),
        SubmissionStatus.CANCELLED: frozenset(),
    },
)


class QcReason(StrEnum):
    POOR_FINISH = "poor_finish"
    WRONG_SIZE = "wrong_size"
    BROKEN = "broken"
    WRONG_MATERIAL = "wrong_material"
    INCONSISTENT = "inconsistent"
    OTHER = "other"


class DeliveryMethod(StrEnum):
    DROP_OFF = "drop_off"
    PICKUP = "pickup"


class DeliveryStatus(StrEnum):
    ARRANGED = "arranged"
    RECEIVED = "received"
    CANCELLED = "cancelled"


DELIVERY_TRANSITIONS = Transitions[DeliveryStatus](
    "delivery",
    {
        DeliveryStatus.ARRANGED: frozenset({DeliveryStatus.RECEIVED, DeliveryStatus.CANCELLED}),
        DeliveryStatus.RECEIVED: frozenset(),
        DeliveryStatus.CANCELLED: frozenset(),
    },
)


class Offer(SQLModel, table=True):
    """An allocation proposed to one artisan, open until ``expires_at``."""

    __table_args__ = (
        within("quantity", 1, MAX_PIECES),
        within("piece_rate_cents", 1, MAX_PIECE_RATE_CENTS),
        pay_within(MAX_MONEY_CENTS),
        within("accepted_quantity", 0, "quantity"),
    )

    id: int | None = Field(default=None, primary_key=True)
    job_id: int = Field(foreign_key="job.id", index=True)
    artisan_id: int = Field(foreign_key="person.id", index=True)
    quantity: int = Field(gt=0)
    piece_rate_cents: int = Field(gt=0)
    due_date: date
    offered_at: datetime = Field(sa_type=UTCDateTime())
    expires_at: datetime = Field(sa_type=UTCDateTime(), index=True)
    status: OfferStatus = Field(
        default=OfferStatus.OPEN, sa_type=enum_type(OfferStatus), index=True
    )
    accepted_quantity: int = Field(default=0, ge=0)
    decline_reason: DeclineReason | None = Field(
        default=None, sa_type=enum_type(DeclineReason), nullable=True
    )
    decline_note: str | None = Field(default=None, max_length=200)
    responded_at: datetime | None = Field(default=None, sa_type=UTCDateTime())


class Allocation(SQLModel, table=True):
    """One artisan's accepted share of a job."""

    __table_args__ = (
        within("quantity", 1, MAX_PIECES),
        within("piece_rate_cents", 1, MAX_PIECE_RATE_CENTS),
        pay_within(MAX_MONEY_CENTS),
    )

    id: int | None = Field(default=None, primary_key=True)
    job_id: int = Field(foreign_key="job.id", index=True)
    artisan_id: int = Field(foreign_key="person.id", index=True)
    offer_id: int | None = Field(default=None, foreign_key="offer.id", unique=True)
    quantity: int = Field(gt=0)
    piece_rate_cents: int = Field(gt=0)
    due_date: date
    status: AllocationStatus = Field(
        default=AllocationStatus.ACTIVE, sa_type=enum_type(AllocationStatus), index=True
    )
    created_at: datetime = Field(sa_type=UTCDateTime())
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
    # Set when the allocation's job was cancelled (domain/services/jobs.py ``cancel_job``): its
    # pieces that passed QC are still delivered and paid (or written off as paid), and pieces
    # already made are accepted for QC up to and including ``submit_by`` (a factory-local day).
    cancelled_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
    submit_by: date | None = None


class Submission(SQLModel, table=True):
    """Photos and a count of finished pieces, waiting for a field agent's QC."""

    __table_args__ = (within("count", 1, MAX_PIECES),)

    id: int | None = Field(default=None, primary_key=True)
    allocation_id: int = Field(foreign_key="allocation.id", index=True)
    count: int = Field(gt=0)
    status: SubmissionStatus = Field(
        default=SubmissionStatus.PENDING_REVIEW, sa_type=enum_type(SubmissionStatus), index=True
    )
    submitted_at: datetime = Field(sa_type=UTCDateTime())
    note: str | None = Field(default=None, max_length=300)


class SubmissionPhoto(SQLModel, table=True):
    __tablename__ = "submission_photo"

    id: int | None = Field(default=None, primary_key=True)
    submission_id: int = Field(foreign_key="submission.id", index=True)
    media_ref: str = Field(max_length=120)
    content_type: str = Field(max_length=60)
    added_at: datetime = Field(sa_type=UTCDateTime())


class QcReview(SQLModel, table=True):
    """A field agent's verdict on one submission; rejected pieces go back as rework."""

    __tablename__ = "qc_review"
    __table_args__ = (within("passed", 0, MAX_PIECES), within("rejected", 0, MAX_PIECES))

    id: int | None = Field(default=None, primary_key=True)
    submission_id: int = Field(foreign_key="submission.id", unique=True)
    reviewer_id: int = Field(foreign_key="person.id")
    passed: int = Field(ge=0)
    rejected: int = Field(ge=0)
    reasons: str = Field(default="", max_length=200)  # comma-separated QcReason values
    note: str | None = Field(default=None, max_length=300)
    rework_due_date: date | None = None
    reviewed_at: datetime = Field(sa_type=UTCDateTime())


class Delivery(SQLModel, table=True):
    """Passed pieces on their way to the central workshop, and the count received there."""

    __table_args__ = (
        within("declared_quantity", 1, MAX_PIECES),
        within("received_quantity", 0, MAX_PIECES),
    )

    id: int | None = Field(default=None, primary_key=True)
    allocation_id: int = Field(foreign_key="allocation.id", index=True)
    method: DeliveryMethod = Field(sa_type=enum_type(DeliveryMethod))
    slot_start: datetime = Field(sa_type=UTCDateTime())
    declared_quantity: int = Field(gt=0)
    status: DeliveryStatus = Field(
        default=DeliveryStatus.ARRANGED, sa_type=enum_type(DeliveryStatus), index=True
    )
    received_quantity: int | None = Field(default=None, ge=0)
    received_by: int | None = Field(default=None, foreign_key="person.id")
    received_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
    discrepancy_note: str | None = Field(default=None, max_length=300)
    created_at: datetime = Field(sa_type=UTCDateTime())

    @property
    def discrepancy(self) -> int:
        """Received minus declared: negative when pieces went missing on the way."""
        if self.received_quantity is None:
            return 0
        return self.received_quantity - self.declared_quantity


class WorkshopVisit(SQLModel, table=True):
    """A field agent's progress check on an allocation between offer and submission."""

    __tablename__ = "workshop_visit"
    __table_args__ = (within("pieces_done", 0, MAX_PIECES),)

    id: int | None = Field(default=None, primary_key=True)
    allocation_id: int = Field(foreign_key="allocation.id", index=True)
    agent_id: int = Field(foreign_key="person.id")
    pieces_done: int = Field(ge=0)
    note: str | None = Field(default=None, max_length=300)
    photo_refs: str = Field(default="", max_length=600)  # comma-separated media refs
    visited_at: datetime = Field(sa_type=UTCDateTime())


class Assembly(SQLModel, table=True):
    """``units`` of an order line assembled at the central workshop, as one person recorded
    them: a line is assembled in one go or a few units at a time as its components come in
    (``OrderLine.assembled_quantity`` is their sum)."""

    __table_args__ = (within("units", 1, MAX_PIECES),)

    id: int | None = Field(default=None, primary_key=True)
    order_line_id: int = Field(foreign_key="order_line.id", index=True)
    units: int = Field(gt=0)
    recorded_by: int | None = Field(default=None, foreign_key="person.id")
    assembled_at: datetime = Field(sa_type=UTCDateTime())


class WriteOff(SQLModel, table=True):
    """Passed pieces of a cancelled job paid without a delivery, by an admin, with the reason.

    The earning is in the ledger as a ``write_off`` transfer referenced ``write_off:<id>``; the
    pieces are no longer deliverable, so they are never paid twice.
    """

    __tablename__ = "write_off"
    __table_args__ = (
        within("pieces", 1, MAX_PIECES),
        within("amount_cents", 1, MAX_MONEY_CENTS),
    )

    id: int | None = Field(default=None, primary_key=True)
    allocation_id: int = Field(foreign_key="allocation.id", index=True)
    pieces: int = Field(gt=0)
    amount_cents: int = Field(gt=0)
    reason: str = Field(max_length=200)
    written_off_by: int = Field(foreign_key="person.id")
    created_at: datetime = Field(sa_type=UTCDateTime())
