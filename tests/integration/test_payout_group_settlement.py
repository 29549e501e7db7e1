"""Payout results settled in groups: many callbacks in one transaction, with the rules of one at
a time.

The domain (``payouts.settle_outcomes``): however M-Pesa's outcomes are split into groups —
repeats and contradictions inside one group, ids we never made, successes without a receipt —
each payout is settled once, by the first outcome that can settle it, and every verdict and the
ledger agree with a simple model. The runner (``PayoutRunner.apply_payment_result``): callbacks
that arrive together share one commit and each is answered after it; one that cannot be recorded
does not keep the others from being recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import tempfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.payments.daraja import PaymentResult
from bot.payments.runner import Applied, PayoutRunner
from domain import events, ledger, payouts
from domain.model import (
    OutboxMessage,
    Payout,
    PayoutBatch,
    PayoutBatchStatus,
    PayoutStatus,
    Transfer,
    TransferPhase,
)
from domain.payouts import PaymentOutcome, Verdict
from domain.store import Store
from tests.conftest import FakeClock
from tests.integration.mpesa_harness import (
    all_payouts,
    approved_batch,
    mpesa_harness,
    notifier,
)

NOW = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
AMOUNTS = [10_000, 20_000, 30_000, 40_000]
UNKNOWN = "an-id-we-never-made"


async def _sending_batch(store: Store, amounts: Sequence[int]) -> tuple[int, list[str]]:
    """An approved batch paying ``amounts``, every payout sent; its id and originator ids."""
    batch_id, _ = await approved_batch(store, NOW, amounts)
    async with store.transaction() as session:
        waiting = await payouts.batch_payouts(session, batch_id)
        ids = [p.originator_conversation_id for p in waiting]
        await payouts.claim_for_sending(session, ids, now=NOW)
    return batch_id, ids


# --- the domain, against a model ------------------------------------------------------------


@dataclass(frozen=True)
class Said:
    """One outcome, naming its payout by index (-1: an id we never made)."""

    payout: int
    code: int
    receipt: str | None

    def outcome(self, ids: Sequence[str]) -> PaymentOutcome:
        originator = UNKNOWN if self.payout < 0 else ids[self.payout]
        return PaymentOutcome(originator, self.code, mpesa_receipt=self.receipt)


SAID = st.builds(
    Said,
    payout=st.integers(-1, len(AMOUNTS) - 1),
    code=st.sampled_from([0, 0, 1, 2040]),
    receipt=st.sampled_from(["RCPT1", "RCPT2", None]),
)


def expected(said: Sequence[Said]) -> tuple[list[Verdict], dict[int, tuple[PayoutStatus, str]]]:
    """The verdicts and each settled payout's (status, receipt), one outcome at a time."""
    verdicts: list[Verdict] = []
    final: dict[int, tuple[PayoutStatus, str]] = {}
    for s in said:
        paid = s.code == 0
        if s.payout < 0:
            verdicts.append(Verdict.UNKNOWN_ID)
        elif paid and not s.receipt:
            verdicts.append(Verdict.CONFLICT)
        elif s.payout not in final:
            final[s.payout] = (
                (PayoutStatus.SUCCEEDED, s.receipt or "") if paid else (PayoutStatus.FAILED, "")
            )
            verdicts.append(Verdict.SETTLED)
        elif paid:  # a repeat only with the same receipt
            same = final[s.payout] == (PayoutStatus.SUCCEEDED, s.receipt)
            verdicts.append(Verdict.UNCHANGED if same else Verdict.CONFLICT)
        else:  # any failure repeats a failure
            same = final[s.payout][0] is PayoutStatus.FAILED
            verdicts.append(Verdict.UNCHANGED if same else Verdict.CONFLICT)
    return verdicts, final


def in_groups(items: Sequence[Said], sizes: Sequence[int]) -> list[list[Said]]:
    groups, start = [], 0
    for size in [*sizes, len(items)]:
        if start >= len(items):
            break
        groups.append(list(items[start : start + size]))
        start += size
    return groups


@contextlib.asynccontextmanager
async def _fresh_store() -> AsyncIterator[Store]:
    with tempfile.TemporaryDirectory() as folder:
        store = Store.from_url(f"sqlite+aiosqlite:///{Path(folder) / 'karakana.db'}")
        async with store.engine.begin() as connection:
            await connection.run_sync(SQLModel.metadata.create_all)
        try:
            yield store
        finally:
            await store.close()


async def _settle_in_groups(
    said: Sequence[Said], sizes: Sequence[int]
) -> tuple[list[Verdict], list[Payout], list[Transfer], list[events.Event], PayoutBatchStatus]:
    async with _fresh_store() as store:
        batch_id, ids = await _sending_batch(store, AMOUNTS)
        verdicts: list[Verdict] = []
        recorded: list[events.Event] = []
        for group in in_groups(said, sizes):
            async with store.transaction() as session:
                settled = await payouts.settle_outcomes(
                    session, [s.outcome(ids) for s in group], now=NOW
                )
                recorded += events.drain(session)
            verdicts += [s.verdict for s in settled]
        async with store.read() as session:
            assert (await ledger.trial_balance(session)).balanced
            resolutions = list(
                await session.exec(select(Transfer).where(col(Transfer.pending_id).is_not(None)))
            )
            batch = await session.get(PayoutBatch, batch_id)
            assert batch is not None
            status = batch.status
            session.expunge_all()
        return verdicts, await all_payouts(store), resolutions, recorded, status


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    said=st.lists(SAID, min_size=1, max_size=12),
    sizes=st.lists(st.integers(1, 6), max_size=12),
)
def test_outcomes_settled_in_any_grouping_agree_with_settling_them_one_at_a_time(
    said: list[Said], sizes: list[int]
) -> None:
    verdicts, settled, resolutions, recorded, batch_status = asyncio.run(
        _settle_in_groups(said, sizes)
    )
    want_verdicts, final = expected(said)
    assert verdicts == want_verdicts
    for index, payout in enumerate(settled):
        if index in final:
            assert (payout.status, payout.mpesa_receipt or "") == final[index]
        else:
            assert payout.status is PayoutStatus.SENDING
    # Each settled payout resolved its reservation exactly once, the right way.
    by_pending = {t.pending_id: t for t in resolutions}
    assert len(by_pending) == len(resolutions) == len(final)
    for index, (status, _) in final.items():
        resolution = by_pending[settled[index].pending_transfer_id]
        want = (
            TransferPhase.POST_PENDING
            if status is PayoutStatus.SUCCEEDED
            else TransferPhase.VOID_PENDING
        )
        assert resolution.phase is want
    # One event per settlement, and the batch completes exactly when every payout is final.
    per_payout = [
        e for e in recorded if isinstance(e, events.PayoutSucceeded | events.PayoutFailed)
    ]
    assert sorted(e.payout_id for e in per_payout) == sorted(settled[i].id or 0 for i in final)
    completed = [e for e in recorded if isinstance(e, events.PayoutBatchCompleted)]
    every_final = len(final) == len(AMOUNTS)
    assert len(completed) == int(every_final)
    assert batch_status is (
        PayoutBatchStatus.COMPLETED if every_final else PayoutBatchStatus.PROCESSING
    )


async def test_a_group_records_mpesa_s_conversation_id_even_for_a_repeat(
    any_store: Store,
) -> None:
    _, (first, second) = await _sending_batch(any_store, [10_000, 20_000])
    async with any_store.transaction() as session:
        await payouts.settle_outcomes(
            session, [PaymentOutcome(first, 0, mpesa_receipt="R1")], now=NOW
        )
    async with any_store.transaction() as session:
        settled = await payouts.settle_outcomes(
            session,
            [
                PaymentOutcome(first, 0, mpesa_receipt="R1", conversation_id="AG_1"),
                PaymentOutcome(second, 2040, conversation_id="AG_2"),
                PaymentOutcome(second, 2040, conversation_id="AG_other"),
            ],
            now=NOW,
        )
    assert [s.verdict for s in settled] == [Verdict.UNCHANGED, Verdict.SETTLED, Verdict.UNCHANGED]
    assert [(p.status, p.conversation_id) for p in await all_payouts(any_store)] == [
        (PayoutStatus.SUCCEEDED, "AG_1"),
        (PayoutStatus.FAILED, "AG_2"),  # the first one wins
    ]


# --- the runner: callbacks that arrive together --------------------------------------------


class CountingStore(Store):
    """The same database; counts the write transactions opened through it."""

    def __init__(self, store: Store) -> None:
        super().__init__(store.engine)
        self.transactions = 0

    @contextlib.asynccontextmanager
    async def transaction(self, *, urgent: bool = False) -> AsyncIterator[AsyncSession]:
        self.transactions += 1
        async with super().transaction(urgent=urgent) as session:
            yield session


def paid(originator: str, receipt: str) -> PaymentResult:
    return PaymentResult(originator, f"AG_{receipt}", 0, "ok", receipt, None)


def refused(originator: str, code: int = 2040) -> PaymentResult:
    return PaymentResult(originator, None, code, "not registered", None, None)


async def _receipts(store: Store) -> list[str]:
    async with store.read() as session:
        bodies = (await session.exec(select(OutboxMessage.body))).all()
    return [json.loads(body)["text"] for body in bodies if "M-Pesa transaction" in body]


async def test_callbacks_arriving_together_are_settled_in_one_commit(
    store: Store, clock: FakeClock
) -> None:
    _, ids = await _sending_batch(store, [10_000 * (n + 1) for n in range(20)])
    counting = CountingStore(store)
    async with mpesa_harness(store, clock.now) as h:
        runner = PayoutRunner(counting, h.client, clock=clock.now, notify=notifier())
        applied = await asyncio.gather(
            *(runner.apply_payment_result(paid(o, f"R{n}")) for n, o in enumerate(ids))
        )
    assert applied == [Applied.SETTLED] * 20
    assert counting.transactions <= 2  # the first may go alone; the rest queued behind it
    settled = await all_payouts(store)
    assert [p.mpesa_receipt for p in settled] == [f"R{n}" for n in range(20)]
    assert len(await _receipts(store)) == 20
    async with store.read() as session:
        assert (await ledger.trial_balance(session)).balanced


async def test_a_duplicate_and_a_contradiction_inside_one_group_change_nothing(
    store: Store, clock: FakeClock
) -> None:
    _, (twice, contradicted, other) = await _sending_batch(store, [10_000, 20_000, 30_000])
    async with mpesa_harness(store, clock.now) as h:
        runner = PayoutRunner(store, h.client, clock=clock.now, notify=notifier())
        applied = await asyncio.gather(
            runner.apply_payment_result(paid(twice, "R1")),
            runner.apply_payment_result(paid(twice, "R1")),
            runner.apply_payment_result(paid(contradicted, "R2")),
            runner.apply_payment_result(refused(contradicted)),
            runner.apply_payment_result(paid("an-id-we-never-made", "R9")),
            runner.apply_payment_result(refused(other)),
        )
    assert list(applied) == [
        Applied.SETTLED,
        Applied.UNCHANGED,
        Applied.SETTLED,
        Applied.CONFLICT,
        Applied.UNKNOWN_ID,
        Applied.SETTLED,
    ]
    assert [p.status for p in await all_payouts(store)] == [
        PayoutStatus.SUCCEEDED,
        PayoutStatus.SUCCEEDED,
        PayoutStatus.FAILED,
    ]
    receipts = await _receipts(store)
    assert len(receipts) == 2
    assert sum("R1" in t for t in receipts) == sum("R2" in t for t in receipts) == 1
    async with store.read() as session:
        posts = (
            await session.exec(select(Transfer).where(Transfer.phase == TransferPhase.POST_PENDING))
        ).all()
        assert len(posts) == 2
        assert (await ledger.trial_balance(session)).balanced


async def test_one_result_that_cannot_be_recorded_does_not_roll_back_the_others(
    store: Store, clock: FakeClock
) -> None:
    batch_id, ids = await _sending_batch(store, [10_000, 20_000, 30_000, 40_000])
    async with store.read() as session:
        doomed = (await payouts.batch_payouts(session, batch_id))[2].artisan_id
    queue_receipts = notifier()

    async def outbox_refusing_one_artisan(
        session: AsyncSession, recorded: Sequence[events.Event], now: datetime
    ) -> None:
        # Stands in for a message that cannot be queued (a sequence clash with another process).
        if any(getattr(e, "artisan_id", None) == doomed for e in recorded):
            raise RuntimeError("the outbox refused a message")
        await queue_receipts(session, recorded, now)

    counting = CountingStore(store)
    async with mpesa_harness(store, clock.now) as h:
        runner = PayoutRunner(
            counting, h.client, clock=clock.now, notify=outbox_refusing_one_artisan
        )
        applied = await asyncio.gather(
            *(runner.apply_payment_result(paid(o, f"R{n}")) for n, o in enumerate(ids)),
            return_exceptions=True,
        )
        assert [type(a) for a in applied] == [Applied, Applied, RuntimeError, Applied]
        assert counting.transactions > 2  # the group failed, then each went alone
        statuses = [p.status for p in await all_payouts(store)]
        assert statuses == [
            PayoutStatus.SUCCEEDED,
            PayoutStatus.SUCCEEDED,
            PayoutStatus.SENDING,  # nothing of it recorded: its callback was not acknowledged
            PayoutStatus.SUCCEEDED,
        ]
        # Daraja sends the unacknowledged callback again; now it goes through.
        working = PayoutRunner(store, h.client, clock=clock.now, notify=notifier())
        assert await working.apply_payment_result(paid(ids[2], "R2")) is Applied.SETTLED
    assert [p.status for p in await all_payouts(store)] == [PayoutStatus.SUCCEEDED] * 4
    assert len(await _receipts(store)) == 4
    async with store.read() as session:
        assert (await ledger.trial_balance(session)).balanced
        batch = await session.get(PayoutBatch, batch_id)
        assert batch is not None
        assert batch.status is PayoutBatchStatus.COMPLETED
