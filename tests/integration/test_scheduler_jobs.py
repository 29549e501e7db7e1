"""The scheduler's jobs, run directly with their dependencies passed in: idempotent re-runs."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

from sqlmodel import select

from conversations.i18n import Catalogue
from domain.model import (
    Channel,
    OutboxKind,
    OutboxMessage,
    OutboxStatus,
    Payout,
    PayoutBatch,
    PayoutBatchStatus,
    PayoutStatus,
)
from domain.payouts.reconcile import StatementLine, reconcile_payouts
from domain.store import Store
from scheduler import jobs
from tests.conftest import FakeClock
from tests.integration.factory_fixtures import hire_staff, owed_earnings
from tests.integration.mpesa_harness import all_payouts, approved_batch, notifier


async def owe(store: Store, clock: FakeClock, amounts: list[int]) -> None:
    async with store.transaction() as session:
        staff = await hire_staff(session, now=clock.now())
        await owed_earnings(
            session,
            verified_by=staff.agent,
            now=clock.now(),
            owed={f"Artisan {n}": cents for n, cents in enumerate(amounts)},
        )


async def test_the_weekly_batch_under_the_limit_is_approved_and_sent(
    store: Store, clock: FakeClock
) -> None:
    await owe(store, clock, [60_000, 20_000])
    sent: list[int] = []

    async def send() -> None:
        sent.append(1)

    outcome = await jobs.weekly_payout_batch(
        store,
        clock=clock.now,
        minimum_cents=50_000,
        auto_approve_limit_cents=100_000,
        notify=notifier(),
        send=send,
    )
    again = await jobs.weekly_payout_batch(
        store,
        clock=clock.now,
        minimum_cents=50_000,
        auto_approve_limit_cents=100_000,
        notify=notifier(),
        send=send,
    )
    assert outcome.approved
    assert again.batch_id is None  # re-running reserves nothing twice
    assert sent == [1]
    async with store.read() as session:
        (payout,) = (await session.exec(select(Payout))).all()
        assert payout.amount_cents == 60_000  # the 200-shilling balance waits for next week


async def test_a_batch_over_the_limit_waits_for_an_admin(store: Store, clock: FakeClock) -> None:
    await owe(store, clock, [600_000])
    outcome = await jobs.weekly_payout_batch(
        store,
        clock=clock.now,
        minimum_cents=50_000,
        auto_approve_limit_cents=100_000,
        notify=notifier(),
    )
    assert not outcome.approved
    async with store.read() as session:
        batch = await session.get(PayoutBatch, outcome.batch_id)
        assert batch is not None
        assert batch.status is PayoutBatchStatus.AWAITING_APPROVAL


async def test_housekeeping_keeps_referenced_and_recent_media_and_undelivered_messages(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    old = (clock.now() - timedelta(days=40)).timestamp()
    for name in ("orphan.jpg", "recent.jpg"):
        (tmp_path / name).write_bytes(b"\xff\xd8")
    os.utime(tmp_path / "orphan.jpg", (old, old))
    async with store.transaction() as session:
        plan = (
            (OutboxStatus.DELIVERED, 40),
            (OutboxStatus.QUEUED, 40),
            (OutboxStatus.DELIVERED, 1),
        )
        for status, age in plan:
            created = clock.now() - timedelta(days=age)
            session.add(
                OutboxMessage(
                    channel=Channel.TELEGRAM,
                    address="1",
                    sequence=age * 10 + len(status),
                    kind=OutboxKind.BUSINESS,
                    body=json.dumps({"text": "hi"}),
                    status=status,
                    next_attempt_at=created,
                    created_at=created,
                )
            )
    purged = await jobs.housekeeping(
        store,
        clock=clock.now,
        media_root=tmp_path,
        media_max_age=timedelta(days=30),
        outbox_max_age=timedelta(days=30),
    )
    assert purged == (1, 1)
    assert not (tmp_path / "orphan.jpg").exists()
    assert (tmp_path / "recent.jpg").exists()
    assert await jobs.housekeeping(
        store,
        clock=clock.now,
        media_root=tmp_path,
        media_max_age=timedelta(days=30),
        outbox_max_age=timedelta(days=30),
    ) == (0, 0)


async def test_reconcile_lists_what_m_pesa_paid_that_the_ledger_does_not_show(
    store: Store, clock: FakeClock
) -> None:
    await approved_batch(store, clock.now(), [150_000, 90_000])
    assert await reconcile_payouts(store, now=clock.now()) == []
    first, second = await all_payouts(store)
    statement = [StatementLine("SBX1", 150_000, first.originator_conversation_id)]
    differences = await reconcile_payouts(store, now=clock.now(), statement=statement)
    assert [(d.payout_id, d.status) for d in differences] == [
        (first.id, PayoutStatus.PENDING.value)
    ]
    assert "M-Pesa paid it (SBX1)" in differences[0].problem
    assert differences[0].as_row()[2] == "+254*****000"
    assert second.status is PayoutStatus.PENDING


async def test_reminders_go_once_a_day_whatever_the_reruns(store: Store, clock: FakeClock) -> None:
    # No active work: no reminders, and a rerun is as quiet.
    sent = await jobs.send_reminders(store, clock=clock.now, catalogue=Catalogue.load())
    assert (sent.due_soon, sent.overdue, sent.digests) == (0, 0, 0)
