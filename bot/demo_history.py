"""The demo's past: several months of made-up but consistent production and payments.

So the impact report, its chart and the statements have something to show, the demo factory
(bot/demo.py) did not open today: its active artisans joined over the past ``HISTORY_MONTHS``
months, a few a month, and each past month a retailer's order (and every other month a web-shop
order) was confirmed, offered to artisans with the skill, made, passed QC, delivered, counted in
(each receipt earns the artisan their pay in the ledger), assembled and shipped; payout batches
on the 27th paid everyone owed to M-Pesa, each with its receipt. Longer-serving
artisans get more of the work, as they do in a real workshop, so incomes grow with time.

Orders, payout batches and their settlement go through the domain services; the work itself
(offers, allocations, submissions, QC, deliveries) is written as the services would have left it,
and each receipt's earning goes into the ledger under the key ``record_receipt`` uses, in bulk.
It is deterministic (a fixed seed; dates count from ``now``).
Some artisans also told their income before joining and whether their workshop is led by a woman
(the optional registration questions).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, tzinfo
from typing import Any

import sqlalchemy as sa
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.explosion import FACTORY_ZONE, factory_today
from domain.impact import add_months
from domain.ledger import (
    EARNING,
    WORKSHOP_PRODUCTION,
    NewTransfer,
    artisan_payable,
    earning_key,
    ensure_account,
    record_new_transfers,
)
from domain.model import (
    Account,
    Allocation,
    AllocationStatus,
    ArtisanSkill,
    Component,
    CustomerKind,
    Delivery,
    DeliveryMethod,
    DeliveryStatus,
    ImpactAnswers,
    Job,
    JobStatus,
    Offer,
    OfferStatus,
    OrderLine,
    OrderStatus,
    Person,
    QcReview,
    Submission,
    SubmissionPhoto,
    SubmissionStatus,
    WomenLed,
)
from domain.payouts.batches import approve_batch, batch_payouts
from domain.payouts.building import create_payout_batch
from domain.payouts.sending import claim_for_sending
from domain.payouts.settlement import PaymentOutcome, settle_outcomes
from domain.services.orders import confirm_order, create_order, get_or_create_customer

HISTORY_SEED = 1912
HISTORY_MONTHS = 8  # the first artisans joined this many months before the current one
VERIFIED_AFTER = timedelta(days=2)
PAYOUT_MINIMUM_CENTS = 10_000
PAYDAY = 27  # each past month's payout batch, once everything was counted in
_PHOTO = "demo-finished-work.jpg"

# (SKU, units) per month's retailer order, from the oldest month; volumes grow as the network does.
_RETAIL = (
    (("HRN-PND-01", 12), ("WIR-EAR-04", 20)),
    (("BRS-CUF-03", 10), ("HRN-PND-01", 16)),
    (("WIR-EAR-04", 30), ("BNE-NCK-07", 10)),
    (("HRN-PND-01", 24), ("BRS-KEY-08", 20)),
    (("BED-COL-05", 8), ("WIR-EAR-04", 36), ("BRS-CUF-03", 14)),
    (("HRN-PND-01", 30), ("BNE-NCK-07", 16), ("BRS-KEY-08", 24)),
    (("WIR-EAR-04", 48), ("HRN-PND-01", 32), ("BED-COL-05", 10)),
)
_SCALE = 3  # the units above, times this
_RETAILERS = ("Marula Home & Gifts", "Safari Curio Wholesalers")
_WEB = (("HRN-EAR-06", 3), ("BNE-BNG-02", 2))


def _at(day: datetime, hour: int, zone: tzinfo) -> datetime:
    return datetime.combine(day.date(), time(hour), tzinfo=zone)


def month_start(now: datetime, back: int, zone: tzinfo = FACTORY_ZONE) -> datetime:
    """09:00 on the first day of the month ``back`` months before ``now``'s, at the factory."""
    first = add_months(factory_today(now, zone).replace(day=1), -back)
    return datetime.combine(first, time(9), tzinfo=zone)


def staff_since(now: datetime, zone: tzinfo = FACTORY_ZONE) -> datetime:
    return month_start(now, HISTORY_MONTHS + 1, zone)


def joined_at(index: int, now: datetime, zone: tzinfo = FACTORY_ZONE) -> datetime:
    """When the demo's ``index``-th artisan registered: a few each month, the first third at the
    start, none in the current month (those registering today are the pending ones)."""
    back = HISTORY_MONTHS if index < 18 else HISTORY_MONTHS - 1 - (index - 18) * 7 // 42
    return month_start(now, max(back, 1), zone) + timedelta(days=index % 17, hours=index % 5)


async def seed_history(
    session: AsyncSession,
    artisans: Sequence[Person],
    *,
    admin_id: int,
    agents_by_area: Mapping[str, int],
    now: datetime,
    zone: tzinfo = FACTORY_ZONE,
) -> None:
    """The past months' orders, work, receipts and payouts; some artisans' impact answers."""
    rng = random.Random(HISTORY_SEED)  # noqa: S311 - not a secret: the demo is the same everywhere
    skills: dict[int, set[str]] = {}
    for artisan_id, skill in (
        await session.exec(
            select(ArtisanSkill.artisan_id, ArtisanSkill.skill).where(
                col(ArtisanSkill.artisan_id).in_([a.id for a in artisans])
            )
        )
    ).all():
        skills.setdefault(artisan_id, set()).add(skill)
    components = {c.id: c for c in (await session.exec(select(Component))).all() if c.id}
    retailers = [
        await get_or_create_customer(session, name=name, kind=CustomerKind.RETAILER)
        for name in _RETAILERS
    ]
    web = await get_or_create_customer(
        session, name="Karakana web shop", kind=CustomerKind.WEB_SHOP
    )
    production = await ensure_account(session, WORKSHOP_PRODUCTION)
    assert production.id is not None
    receipts = 0
    payables: dict[int, Account] = {}
    for step, lines in enumerate(_RETAIL):
        back = len(_RETAIL) - step
        start = month_start(now, back, zone)
        orders = [(retailers[step % 2].id, f"HIST-{start:%Y%m}", lines)]
        if step % 2 == 1:
            orders.append((web.id, f"WEB-{start:%y%m}01", _WEB))
        pieces: list[_Piece] = []
        for customer_id, reference, wanted in orders:
            assert customer_id is not None
            order = await create_order(
                session,
                customer_id=customer_id,
                reference=reference,
                due_date=(start + timedelta(days=24)).date(),
                lines=[(sku, units * _SCALE) for sku, units in wanted],
                now=start,
                zone=zone,
            )
            assert order.id is not None
            serving = [a for a in artisans if a.created_at + VERIFIED_AFTER <= start]
            for job in await confirm_order(session, order.id, now=start):
                pieces += _share_out(
                    rng,
                    job,
                    serving,
                    skills,
                    components,
                    admin_id=admin_id,
                    agents_by_area=agents_by_area,
                    start=start,
                    zone=zone,
                )
                job.status = JobStatus.COMPLETED
                session.add(job)
            for line in (
                await session.exec(select(OrderLine).where(OrderLine.order_id == order.id))
            ).all():
                line.assembled_quantity = line.quantity
                session.add(line)
            order.status = OrderStatus.SHIPPED
            order.closed_at = _at(start + timedelta(days=16), 11, zone)
            session.add(order)
        await session.flush()
        await _record_work(session, pieces, start, zone, received_by=admin_id)
        for artisan_id in sorted({p.artisan.id for p in pieces if p.artisan.id is not None}):
            if artisan_id not in payables:
                payables[artisan_id] = await artisan_payable(session, artisan_id)
        for day in sorted({p.received for p in pieces}):
            await record_new_transfers(
                session,
                [
                    NewTransfer(
                        idempotency_key=earning_key(f"delivery:{p.ids['delivery']}"),
                        debit_account_id=production.id,
                        credit_account_id=payables[p.artisan.id or 0].id or 0,
                        amount_cents=p.quantity * p.rate_cents,
                        code=EARNING,
                        reference=f"delivery:{p.ids['delivery']}",
                    )
                    for p in pieces
                    if p.received == day
                ],
                now=day,
            )
        payday = _at(start + timedelta(days=PAYDAY - 1), 16, zone)
        receipts = await _pay(session, rng, admin_id, payday, receipts)
    await _answers(session, rng, artisans, now)


@dataclass(slots=True)
class _Piece:
    """One artisan's share of one job, made and counted in during a past month."""

    job: Job
    artisan: Person
    quantity: int
    rate_cents: int
    reviewer_id: int
    made: datetime
    ids: dict[str, int] = field(default_factory=dict)

    @property
    def received(self) -> datetime:
        return self.made + timedelta(days=2, hours=1)


def _share_out(
    rng: random.Random,
    job: Job,
    artisans: Sequence[Person],
    skills: Mapping[int, set[str]],
    components: Mapping[int, Component],
    *,
    admin_id: int,
    agents_by_area: Mapping[str, int],
    start: datetime,
    zone: tzinfo,
) -> list[_Piece]:
    """Two or three artisans with the skill for one job, longer-serving ones favoured."""
    component = components[job.component_id]
    able = [a for a in artisans if component.skill in skills.get(a.id or 0, ())]
    if not able:
        return []
    weights = [max(1.0, (start - a.created_at).days / 30) ** 1.5 for a in able]
    chosen: list[Person] = []
    while len(chosen) < min(len(able), 2 + (job.quantity >= 60) + (job.quantity >= 150)):
        pick = rng.choices(able, weights=weights)[0]
        if pick not in chosen:
            chosen.append(pick)
    return [
        _Piece(
            job=job,
            artisan=artisan,
            quantity=quantity,
            rate_cents=component.piece_rate_cents,
            reviewer_id=agents_by_area.get(artisan.area or "", admin_id),
            made=_at(start + timedelta(days=6 + rng.randrange(3)), 14, zone),
        )
        for artisan, quantity in zip(chosen, _split(job.quantity, len(chosen)), strict=True)
    ]


async def _insert(
    session: AsyncSession, model: type[SQLModel], rows: list[dict[str, Any]]
) -> list[int]:
    table: sa.Table = model.__table__  # type: ignore[attr-defined]
    connection = await session.connection()
    result = await connection.execute(
        sa.insert(table).returning(table.c.id, sort_by_parameter_order=True), rows
    )
    return [row[0] for row in result.all()]


async def _record_work(
    session: AsyncSession,
    pieces: Sequence[_Piece],
    start: datetime,
    zone: tzinfo,
    *,
    received_by: int,
) -> None:
    """The pieces offered, accepted, submitted, passed by QC, delivered and counted in, written
    as the services would have left them, a few statements for the whole month."""
    offered = _at(start, 10, zone)
    accepted = offered + timedelta(hours=2)
    offers = await _insert(
        session,
        Offer,
        [
            {
                "job_id": p.job.id,
                "artisan_id": p.artisan.id,
                "quantity": p.quantity,
                "piece_rate_cents": p.rate_cents,
                "due_date": p.job.due_date,
                "offered_at": offered,
                "expires_at": offered + timedelta(hours=24),
                "status": OfferStatus.ACCEPTED,
                "accepted_quantity": p.quantity,
                "responded_at": accepted,
            }
            for p in pieces
        ],
    )
    allocations = await _insert(
        session,
        Allocation,
        [
            {
                "job_id": p.job.id,
                "artisan_id": p.artisan.id,
                "offer_id": offer_id,
                "quantity": p.quantity,
                "piece_rate_cents": p.rate_cents,
                "due_date": p.job.due_date,
                "status": AllocationStatus.COMPLETED,
                "created_at": accepted,
                "closed_at": p.received,
            }
            for p, offer_id in zip(pieces, offers, strict=True)
        ],
    )
    submissions = await _insert(
        session,
        Submission,
        [
            {
                "allocation_id": allocation_id,
                "count": p.quantity,
                "status": SubmissionStatus.REVIEWED,
                "submitted_at": p.made,
            }
            for p, allocation_id in zip(pieces, allocations, strict=True)
        ],
    )
    deliveries = await _insert(
        session,
        Delivery,
        [
            {
                "allocation_id": allocation_id,
                "method": DeliveryMethod.DROP_OFF,
                "slot_start": p.made + timedelta(days=2),
                "declared_quantity": p.quantity,
                "status": DeliveryStatus.RECEIVED,
                "received_quantity": p.quantity,
                "received_by": received_by,
                "received_at": p.received,
                "created_at": p.made + timedelta(days=1),
            }
            for p, allocation_id in zip(pieces, allocations, strict=True)
        ],
    )
    await _insert(
        session,
        SubmissionPhoto,
        [
            {
                "submission_id": submission_id,
                "media_ref": _PHOTO,
                "content_type": "image/jpeg",
                "added_at": p.made,
            }
            for p, submission_id in zip(pieces, submissions, strict=True)
        ],
    )
    await _insert(
        session,
        QcReview,
        [
            {
                "submission_id": submission_id,
                "reviewer_id": p.reviewer_id,
                "passed": p.quantity,
                "rejected": 0,
                "reasons": "",
                "reviewed_at": p.made + timedelta(hours=20),
            }
            for p, submission_id in zip(pieces, submissions, strict=True)
        ],
    )
    for p, delivery_id in zip(pieces, deliveries, strict=True):
        p.ids["delivery"] = delivery_id


def _split(quantity: int, parts: int) -> list[int]:
    base, extra = divmod(quantity, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


async def _pay(
    session: AsyncSession, rng: random.Random, admin_id: int, when: datetime, receipts: int
) -> int:
    """A payout batch of everyone owed at least the minimum, approved, sent and paid."""
    batch = await create_payout_batch(session, minimum_cents=PAYOUT_MINIMUM_CENTS, now=when)
    if batch is None or batch.id is None:
        return receipts
    await approve_batch(session, batch_id=batch.id, admin_id=admin_id, now=when)
    payouts = await batch_payouts(session, batch.id)
    sent = when + timedelta(minutes=5)
    ids = [p.originator_conversation_id for p in payouts]
    await claim_for_sending(session, ids, now=sent)
    letters = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
    outcomes = []
    for originator in ids:
        receipts += 1
        code = "".join(rng.choice(letters) for _ in range(7))
        outcomes.append(PaymentOutcome(originator, 0, mpesa_receipt=f"T{when:%m}{code}"))
    await settle_outcomes(session, outcomes, now=sent + timedelta(minutes=1))
    return receipts


async def _answers(
    session: AsyncSession, rng: random.Random, artisans: Sequence[Person], now: datetime
) -> None:
    """About two artisans in three answered the optional questions, some only one of them."""
    for artisan in artisans:
        if artisan.id is None or rng.random() < 0.35:
            continue
        told_income = rng.random() < 0.8
        women_led = rng.choices(
            (WomenLed.YES, WomenLed.NO, WomenLed.PREFER_NOT_TO_SAY, None), (50, 32, 10, 8)
        )[0]
        session.add(
            ImpactAnswers(
                person_id=artisan.id,
                consented_at=artisan.created_at,
                prior_income_cents=rng.randrange(4, 16) * 100_00 if told_income else None,
                women_led=women_led,
                updated_at=artisan.created_at,
            )
        )
    await session.flush()
