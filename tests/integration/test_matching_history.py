"""Matching's reads of the store: batched histories, training rows, retraining from the store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import event
from sqlmodel import select

from domain import events
from domain.model import Allocation, DeclineReason, DeliveryMethod, Offer, OfferStatus, QcReason
from domain.reputation import artisan_histories, artisan_history
from domain.services.deliveries import arrange_delivery, record_receipt
from domain.services.offers import accept_offer, decline_offer
from domain.services.work import PhotoRef, review_submission, submit_work
from domain.store import Store
from matching.features import FEATURE_NAMES, N_FEATURES
from matching.history import read_workforce, training_rows
from matching.models import ModelRegistry
from matching.retraining import current_models, nightly_retrainer, retrain_from_store
from matching.round import RoundOptions, run_matching_round
from tests.conftest import FakeClock
from tests.integration.factory_fixtures import (
    BRASS,
    HORN,
    Staff,
    active_artisan,
    confirmed_order,
    hire_staff,
    ident,
    stock_catalogue,
)

PHOTO = PhotoRef("media/wa/0100.jpg", "image/jpeg")


@dataclass
class Worked:
    staff: Staff
    artisan_ids: list[int]
    accepted: int  # offers accepted
    declined: int
    pieces_passed: int
    pieces_rejected: int


async def work_one_round(
    store: Store, clock: FakeClock, staff: Staff, artisan_ids: list[int], *, rejected: int
) -> tuple[int, int, int, int]:
    """A round; the first artisan's offers are accepted, made, reviewed, delivered and received,
    everyone else declines. Returns (accepted, declined, passed, rejected)."""
    async with store.transaction() as s:
        await confirmed_order(
            s,
            now=clock.now(),
            due_date=(clock.now() + timedelta(days=20)).date(),
            lines={"NECKLACE-HORN": 30},
        )
        await run_matching_round(
            s,
            now=clock.now(),
            rng=np.random.default_rng(1),
            options=RoundOptions(min_lot=5, max_splits=3, over_offer=1.0),
        )
        events.drain(s)
    accepted = declined = passed = lost = 0
    async with store.transaction() as s:
        offers = (await s.exec(select(Offer).where(Offer.status == OfferStatus.OPEN))).all()
        now = clock.advance(hours=2)
        for offer in offers:
            if offer.artisan_id == artisan_ids[0]:
                await accept_offer(s, offer_id=ident(offer), artisan_id=offer.artisan_id, now=now)
                accepted += 1
            else:
                await decline_offer(
                    s,
                    offer_id=ident(offer),
                    artisan_id=offer.artisan_id,
                    reason=DeclineReason.BUSY,
                    now=now,
                )
                declined += 1
        events.drain(s)
    async with store.transaction() as s:
        allocations = (
            await s.exec(select(Allocation).where(Allocation.artisan_id == artisan_ids[0]))
        ).all()
        now = clock.advance(days=2)
        for allocation in allocations:
            if allocation.created_at < now - timedelta(days=3):
                continue  # an earlier round's lot
            submission = await submit_work(
                s,
                allocation_id=ident(allocation),
                artisan_id=allocation.artisan_id,
                count=allocation.quantity,
                photos=[PHOTO],
                now=now,
            )
            bad = min(rejected, allocation.quantity)
            await review_submission(
                s,
                submission_id=ident(submission),
                reviewer_id=staff.agent,
                passed=allocation.quantity - bad,
                rejected=bad,
                reasons=[QcReason.POOR_FINISH] if bad else [],
                now=now,
            )
            passed += allocation.quantity - bad
            lost += bad
            if allocation.quantity - bad > 0:
                delivery = await arrange_delivery(
                    s,
                    allocation_id=ident(allocation),
                    artisan_id=allocation.artisan_id,
                    method=DeliveryMethod.DROP_OFF,
                    slot_start=now + timedelta(hours=3),
                    quantity=allocation.quantity - bad,
                    now=now,
                )
                await record_receipt(
                    s,
                    delivery_id=ident(delivery),
                    receiver_id=staff.admin,
                    received_quantity=allocation.quantity - bad,
                    now=now + timedelta(hours=4),
                )
        events.drain(s)
    return accepted, declined, passed, lost


async def worked_floor(store: Store, clock: FakeClock) -> Worked:
    async with store.transaction() as s:
        await stock_catalogue(s)
        staff = await hire_staff(s, now=clock.now())
        people = [
            await active_artisan(
                s,
                verified_by=staff.agent,
                now=clock.now(),
                name=f"Artisan {i}",
                skills={HORN: 20, BRASS: 40},
            )
            for i in range(3)
        ]
    ids = [ident(p) for p in people]
    totals = [0, 0, 0, 0]
    for rejected in (2, 3):
        done = await work_one_round(store, clock, staff, ids, rejected=rejected)
        totals = [a + b for a, b in zip(totals, done, strict=True)]
        clock.advance(days=30)
    return Worked(staff, ids, *totals)


async def test_batched_histories_count_exactly_what_the_reputation_of_each_artisan_counts(
    store: Store, clock: FakeClock
) -> None:
    floor = await worked_floor(store, clock)

    async with store.read() as s:
        batched = await artisan_histories(s, floor.artisan_ids, now=clock.now())
        one_by_one = {i: await artisan_history(s, i, now=clock.now()) for i in floor.artisan_ids}

    assert batched == one_by_one
    assert batched[floor.artisan_ids[0]].offers_accepted == floor.accepted > 0
    assert sum(h.offers_declined for h in batched.values()) == floor.declined > 0


async def test_training_rows_hold_every_decided_offer_due_lot_and_reviewed_piece(
    store: Store, clock: FakeClock
) -> None:
    floor = await worked_floor(store, clock)

    async with store.read() as s:
        rows = await training_rows(s, now=clock.now())
        worker = await artisan_history(s, floor.artisan_ids[0], now=clock.now())

    assert rows.size("accept") == floor.accepted + floor.declined
    assert int(rows.y["accept"].sum()) == floor.accepted
    # On time by the reputation's own rule: every piece received by the due date.
    assert rows.size("on_time") == worker.allocations_due == floor.accepted
    assert int(rows.y["on_time"].sum()) == worker.allocations_on_time
    assert rows.size("qc_pass") == floor.pieces_passed + floor.pieces_rejected
    assert int(rows.y["qc_pass"].sum()) == floor.pieces_passed
    assert rows.x["accept"].shape == (rows.size("accept"), N_FEATURES)
    # Replayed as of the offer: nobody had worked yet when the first round was offered.
    first = rows.at["accept"] == rows.at["accept"].min()
    never = FEATURE_NAMES.index("never_worked")
    assert np.all(rows.x["accept"][first, never] == 1.0)


async def test_a_round_reads_the_workforce_in_a_handful_of_queries_whatever_its_size(
    store: Store, clock: FakeClock
) -> None:
    floor = await worked_floor(store, clock)
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    sync_engine = store.engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", count)
    try:
        async with store.read() as s:
            workforce = await read_workforce(s, now=clock.now())
    finally:
        event.remove(sync_engine, "before_cursor_execute", count)

    assert len(workforce.stats) == len(floor.artisan_ids)
    assert len(statements) <= 15, statements


async def test_retraining_from_the_store_trains_what_has_history_and_says_why_it_skipped_the_rest(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    await worked_floor(store, clock)
    registry = ModelRegistry(tmp_path / "models")

    async with store.read() as s:
        report = await retrain_from_store(
            s,
            registry,
            now=clock.now(),
            recent=timedelta(days=45),
            min_train_rows=5,
            min_recent_rows=5,
        )

    # Offers and QC pieces are plentiful in both periods; two lots a round are not.
    assert set(report.trained) == {"accept", "qc_pass"}
    assert all(result.promoted for result in report.trained.values())
    assert set(report.skipped) == {"on_time"}
    assert "need 5 and 5" in report.skipped["on_time"]
    assert set(current_models(registry)) == {"accept", "qc_pass"}
    assert "no qc_pass model yet; v0001 becomes current" in report.summary()


async def test_the_nightly_retrainer_is_the_zero_argument_job_the_scheduler_expects(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    registry = ModelRegistry(tmp_path / "models")
    retrain = nightly_retrainer(store, registry, clock.now)

    report = await retrain()

    assert report.trained == {}
    assert set(report.skipped) == {"accept", "on_time", "qc_pass"}
    assert current_models(registry) == {}
