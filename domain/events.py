"""Things that happened in the factory that someone should be told about.

Domain services record events on the session they work in; whoever owns the transaction (the
conversation engine, a scheduler job) drains them before commit and turns them into outbox
messages in each person's language, so the change and its messages commit together. The domain
itself knows nothing of channels or wording.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel.ext.asyncio.session import AsyncSession

_KEY = "karakana.domain_events"


@dataclass(frozen=True, slots=True)
class Event:
    """Base of every domain event."""


@dataclass(frozen=True, slots=True)
class ArtisanRegistered(Event):
    artisan_id: int


@dataclass(frozen=True, slots=True)
class ArtisanVerified(Event):
    artisan_id: int
    agent_id: int


@dataclass(frozen=True, slots=True)
class OfferMade(Event):
    offer_id: int
    artisan_id: int


@dataclass(frozen=True, slots=True)
class OfferWithdrawn(Event):
    offer_id: int
    artisan_id: int
    filled: bool = False  # the job was fully taken by artisans who answered first
    cancelled: bool = False  # the job was cancelled (with its order)


@dataclass(frozen=True, slots=True)
class OfferExpired(Event):
    offer_id: int
    artisan_id: int


@dataclass(frozen=True, slots=True)
class SubmissionCreated(Event):
    submission_id: int
    artisan_id: int


@dataclass(frozen=True, slots=True)
class BetterPhotosRequested(Event):
    submission_id: int
    artisan_id: int
    note: str | None


@dataclass(frozen=True, slots=True)
class QcReviewed(Event):
    submission_id: int
    artisan_id: int
    passed: int
    rejected: int
    reasons: tuple[str, ...]
    rework_due_date: date | None


@dataclass(frozen=True, slots=True)
class DeliveryReceived(Event):
    delivery_id: int
    artisan_id: int
    declared: int
    received: int
    earned_cents: int


@dataclass(frozen=True, slots=True)
class DeliveryDiscrepancy(Event):
    delivery_id: int
    artisan_id: int
    declared: int
    received: int
    recorded_by: int


@dataclass(frozen=True, slots=True)
class OrderLineReadyForAssembly(Event):
    order_line_id: int


@dataclass(frozen=True, slots=True)
class OrderReady(Event):
    """Every line of the order is assembled: it can be shipped."""

    order_id: int


@dataclass(frozen=True, slots=True)
class DraftProblem:
    """One reason a draft order cannot simply be confirmed, as facts (the admins read it in
    their language: message ``intake.problem.<code>``). ``code`` is one of ``no_sku``,
    ``bad_quantity``, ``unknown_sku``, ``no_bom``, ``too_many_pieces``, ``too_much_pay``,
    ``nothing_matched``, ``date_not_a_date``, ``date_in_past``; each uses the fields it needs:
    ``pieces`` is the pieces of one component the line makes, ``cents`` what they pay, ``asked``
    a line's title or the buyer's date as given, ``assumed`` the due date taken instead."""

    code: str
    sku: str = ""
    quantity: int = 0
    pieces: int = 0
    cents: int = 0
    asked: str = ""
    assumed: date | None = None


@dataclass(frozen=True, slots=True)
class OrderPlaced(Event):
    """A customer's order came in (web shop, retailer API, CSV, chat) and waits as a draft;
    ``problems`` says why it cannot simply be confirmed (unknown SKU, impossible date...)."""

    order_id: int
    source: str
    problems: tuple[DraftProblem, ...] = ()


@dataclass(frozen=True, slots=True)
class OrderConfirmed(Event):
    """An admin confirmed the order: its jobs exist and production may start."""

    order_id: int


@dataclass(frozen=True, slots=True)
class OrderShipped(Event):
    """The assembled order left the central workshop for its customer."""

    order_id: int
    carrier: str | None = None
    tracking: str | None = None


@dataclass(frozen=True, slots=True)
class JobCancelled(Event):
    job_id: int


@dataclass(frozen=True, slots=True)
class PiecesWrittenOff(Event):
    """Passed pieces of a cancelled job paid without a delivery (an admin's ``/writeoff``)."""

    write_off_id: int
    artisan_id: int


@dataclass(frozen=True, slots=True)
class PayoutBatchCreated(Event):
    batch_id: int
    payout_count: int
    total_cents: int
    created_by: int | None


@dataclass(frozen=True, slots=True)
class PayoutBatchApproved(Event):
    batch_id: int
    approved_by: int | None  # None: approved automatically, under the configured limit
    total_cents: int


@dataclass(frozen=True, slots=True)
class PayoutBatchCancelled(Event):
    batch_id: int
    cancelled_by: int
    payout_count: int
    total_cents: int


@dataclass(frozen=True, slots=True)
class PayoutSucceeded(Event):
    payout_id: int
    artisan_id: int
    amount_cents: int
    mpesa_receipt: str


@dataclass(frozen=True, slots=True)
class PayoutFailed(Event):
    payout_id: int
    artisan_id: int
    amount_cents: int
    reason: str


@dataclass(frozen=True, slots=True)
class PayoutBatchCompleted(Event):
    batch_id: int
    succeeded: int
    failed: int


@dataclass(frozen=True, slots=True)
class MaterialRequested(Event):
    """An artisan asked for material; the field agents of their area (or the admins) act on it."""

    request_id: int
    artisan_id: int


@dataclass(frozen=True, slots=True)
class MaterialHandedOver(Event):
    request_id: int
    artisan_id: int
    by_id: int


@dataclass(frozen=True, slots=True)
class MaterialRequestDeclined(Event):
    request_id: int
    artisan_id: int
    by_id: int
    reason: str


@dataclass(frozen=True, slots=True)
class MaterialRequestWithdrawn(Event):
    """The artisan called their own request off; whoever was asked to answer it hears so."""

    request_id: int
    artisan_id: int


@dataclass(frozen=True, slots=True)
class MpesaNumberChangeRequested(Event):
    change_id: int
    artisan_id: int


@dataclass(frozen=True, slots=True)
class MpesaNumberChangeConfirmed(Event):
    change_id: int
    artisan_id: int
    confirmed_by: int


@dataclass(frozen=True, slots=True)
class PayeeNameMismatch(Event):
    check_id: int
    artisan_id: int
    payout_id: int


@dataclass(frozen=True, slots=True)
class QuestionAsked(Event):
    """An artisan asked a person; their area's field agents (or the admins) are told."""

    question_id: int
    artisan_id: int


@dataclass(frozen=True, slots=True)
class QuestionAnswered(Event):
    """A field agent or admin answered; the artisan reads it in their own chat."""

    question_id: int
    artisan_id: int
    by_id: int


@dataclass(frozen=True, slots=True)
class FloatArrived(Event):
    """M-Pesa reported the float while approval could rely on none (an admin was told to try
    again in a minute): the admins hear it has come, against the batches waiting for approval."""

    available_cents: int
    as_of: datetime


def record(session: AsyncSession, event: Event) -> None:
    session.info.setdefault(_KEY, []).append(event)


def drain(session: AsyncSession) -> list[Event]:
    """Take every event recorded on this session so far, oldest first."""
    events: list[Event] = session.info.pop(_KEY, [])
    return events
