"""Hypothesis drives the ledger and the payout state machine through random histories.

Earnings, corrections, batches, approvals, cancellations, sends, timeouts and M-Pesa results that
arrive twice, late or contradicting each other. After every step, on a real SQLite database:

- the trial balance holds and every post, void and reversal mirrors what it refers to;
- per artisan, paid + in flight + available == earned, available >= 0, and all four equal a
  simple model kept by the test;
- each payout is resolved at most once, and its status agrees with its ledger resolution;
- nobody has two unresolved payouts;
- no transfer ever changed or disappeared.
"""

from __future__ import annotations

import asyncio
import atexit
import shutil
import tempfile
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from sqlmodel import SQLModel, select

from domain import ledger, payouts
from domain.errors import DomainError, IllegalTransition, LedgerError, NotFound, PayoutError
from domain.model import (
    Account,
    ArtisanStatus,
    Payout,
    PayoutBatch,
    PayoutBatchStatus,
    PayoutStatus,
    Role,
    Transfer,
    TransferPhase,
)
from domain.store import Store
from tests.integration.factory_fixtures import bare_person, payee

T = TypeVar("T")

UNRESOLVED = payouts.UNRESOLVED_PAYOUT_STATUSES


@dataclass
class PayoutModel:
    ocid: str
    artisan: int
    batch: int
    amount: int
    status: PayoutStatus = PayoutStatus.PENDING


@dataclass
class Model:
    """What the ledger should say, kept the simplest way possible."""

    earnings: dict[str, tuple[int, int]] = field(default_factory=dict)  # ref -> (artisan, cents)
    payouts: dict[str, PayoutModel] = field(default_factory=dict)
    batches: dict[int, PayoutBatchStatus] = field(default_factory=dict)

    def earned(self, artisan: int) -> int:
        return sum(c for a, c in self.earnings.values() if a == artisan)

    def paid(self, artisan: int) -> int:
        return sum(
            p.amount
            for p in self.payouts.values()
            if p.artisan == artisan and p.status is PayoutStatus.SUCCEEDED
        )

    def in_flight(self, artisan: int) -> int:
        return sum(
            p.amount
            for p in self.payouts.values()
            if p.artisan == artisan and p.status in UNRESOLVED
        )

    def available(self, artisan: int) -> int:
        return self.earned(artisan) - self.paid(artisan) - self.in_flight(artisan)


_TEMPLATE: Path | None = None


def _empty_database(folder: Path, loop: asyncio.AbstractEventLoop) -> Path:
    """A fresh database with the schema: created once, then copied (much faster than DDL)."""
    global _TEMPLATE
    if _TEMPLATE is None:
        folder_of_template = tempfile.mkdtemp(prefix="karakana-ledger-template-")
        atexit.register(shutil.rmtree, folder_of_template, True)
        template = Path(folder_of_template) / "schema.db"
        store = Store.from_url(f"sqlite+aiosqlite:///{template}")

        async def create() -> None:
            async with store.engine.begin() as conn:
                await conn.run_sync(SQLModel.metadata.create_all)
            await store.close()  # the last connection to close folds the WAL into the file

        loop.run_until_complete(create())
        _TEMPLATE = template
    database = folder / "ledger.db"
    shutil.copyfile(_TEMPLATE, database)
    return database


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="karakana-ledger-"))
        self.loop = asyncio.new_event_loop()
        database = _empty_database(self.folder, self.loop)
        self.store = Store.from_url(f"sqlite+aiosqlite:///{database}")
        self.now = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
        self.model = Model()
        self.seen: dict[str, tuple[Any, ...]] = {}
        self.artisans: list[int] = []
        self.paused: int = 0
        self.admin: int = 0
        self.references = 0
        self.first_versions: dict[str, Transfer] = {}

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coroutine)

    def tick(self) -> datetime:
        self.now += timedelta(minutes=7)
        return self.now

    def teardown(self) -> None:
        try:
            self.run(self.store.close())
            self.run(self.loop.shutdown_asyncgens())
        finally:
            self.loop.close()
            shutil.rmtree(self.folder, ignore_errors=True)

    @initialize(earnings=st.lists(st.integers(1, 50_000), min_size=3, max_size=3))
    def set_up_the_factory(self, earnings: list[int]) -> None:
        async def go() -> None:
            async with self.store.transaction() as session:
                for name in ("Achieng", "Baraka", "Chebet"):
                    self.artisans.append(await payee(session, name, now=self.now))
                self.paused = await payee(
                    session, "Daudi", now=self.now, status=ArtisanStatus.PAUSED
                )
                self.admin = await bare_person(session, "Wambui", Role.ADMIN, now=self.now)

        self.run(go())
        for who, cents in enumerate(earnings):
            self.earn(who, cents, retry=1)

    # --- earnings -------------------------------------------------------------------------

    @rule(who=st.integers(0, 3), cents=st.integers(1, 50_000), retry=st.integers(0, 3))
    def earn(self, who: int, cents: int, retry: int) -> None:
        if retry == 0 and self.first_versions:
            self.replay_an_earning(who)
            return
        artisan = [*self.artisans, self.paused][who]
        self.references += 1
        reference = f"delivery:{self.references}"

        async def go() -> None:
            async with self.store.transaction() as session:
                self.first_versions[reference] = await ledger.record_earning(
                    session,
                    artisan_id=artisan,
                    amount_cents=cents,
                    reference=reference,
                    now=self.tick(),
                )

        self.run(go())
        self.model.earnings[reference] = (artisan, cents)

    def replay_an_earning(self, pick: int) -> None:
        """A retried receipt: returns the first transfer (even if corrected since), adds none."""
        references = sorted(self.first_versions)
        first = self.first_versions[references[pick % len(references)]]
        payable = self.run(self._payable_artisan(first.credit_account_id))

        async def go() -> Transfer:
            async with self.store.transaction() as session:
                return await ledger.record_earning(
                    session,
                    artisan_id=payable,
                    amount_cents=first.amount_cents,
                    reference=first.reference,
                    now=self.tick(),
                )

        assert self.run(go()).id == first.id

    async def _payable_artisan(self, account_id: int) -> int:
        async with self.store.transaction() as session:
            account = await session.get(Account, account_id)
            assert account is not None
            assert account.artisan_id is not None
            return account.artisan_id

    @precondition(lambda self: self.model.earnings)
    @rule(data=st.data(), cents=st.integers(0, 50_000))
    def correct_an_earning(self, data: st.DataObject, cents: int) -> None:
        reference = data.draw(st.sampled_from(sorted(self.model.earnings)))
        artisan, live = self.model.earnings[reference]

        async def go() -> None:
            async with self.store.transaction() as session:
                await ledger.record_earning_correction(
                    session,
                    artisan_id=artisan,
                    reference=reference,
                    amount_cents=cents,
                    reason="recount",
                    now=self.tick(),
                )

        # The reversal comes first, so it needs the whole live amount to be available.
        refused = live != cents and live > self.model.available(artisan)
        event("correction refused" if refused else "correction made")
        try:
            self.run(go())
        except LedgerError:
            assert refused, "a correction the ledger could cover was refused"
            return
        assert not refused, "a correction took an artisan's available balance below zero"
        self.model.earnings[reference] = (artisan, cents)

    # --- batches --------------------------------------------------------------------------

    @rule(minimum=st.integers(1, 30_000))
    def create_a_batch(self, minimum: int) -> None:
        expected = {
            a: self.model.available(a)
            for a in self.artisans
            if self.model.in_flight(a) == 0 and self.model.available(a) >= minimum
        }

        async def go() -> tuple[PayoutBatch | None, list[Payout]]:
            async with self.store.transaction() as session:
                batch = await payouts.create_payout_batch(
                    session, minimum_cents=minimum, now=self.tick()
                )
                made = await payouts.batch_payouts(session, batch.id or 0) if batch else []
                return batch, made

        batch, made = self.run(go())
        assert {p.artisan_id: p.amount_cents for p in made} == expected
        if batch is None:
            assert not expected
            return
        assert batch.id is not None
        self.model.batches[batch.id] = PayoutBatchStatus.AWAITING_APPROVAL
        for p in made:
            self.model.payouts[p.originator_conversation_id] = PayoutModel(
                p.originator_conversation_id, p.artisan_id, batch.id, p.amount_cents
            )

    def _batch_action(self, data: st.DataObject) -> int:
        # Mostly a batch that can still move, sometimes any: out-of-order actions matter too.
        waiting = [
            b for b, s in self.model.batches.items() if s is PayoutBatchStatus.AWAITING_APPROVAL
        ]
        pool = (
            waiting if waiting and data.draw(st.integers(0, 3)) != 0 else list(self.model.batches)
        )
        return data.draw(st.sampled_from(sorted(pool)))

    @precondition(lambda self: self.model.batches)
    @rule(
        data=st.data(),
        automatic=st.sampled_from([False, False, True]),
        limit=st.integers(0, 100_000),
    )
    def approve_a_batch(self, data: st.DataObject, automatic: bool, limit: int) -> None:
        batch_id = self._batch_action(data)
        status = self.model.batches[batch_id]
        total = sum(p.amount for p in self.model.payouts.values() if p.batch == batch_id)

        async def go() -> bool:
            async with self.store.transaction() as session:
                if automatic:
                    return await payouts.auto_approve_batch(
                        session, batch_id=batch_id, limit_cents=limit, now=self.tick()
                    )
                await payouts.approve_batch(
                    session, batch_id=batch_id, admin_id=self.admin, now=self.tick()
                )
                return True

        waiting = status is PayoutBatchStatus.AWAITING_APPROVAL
        try:
            approved = self.run(go())
        except IllegalTransition:
            assert not waiting
            return
        assert approved == (waiting and (not automatic or total <= limit))
        if approved:
            self.model.batches[batch_id] = PayoutBatchStatus.APPROVED

    @precondition(lambda self: self.model.batches)
    @rule(data=st.data())
    def cancel_a_batch(self, data: st.DataObject) -> None:
        batch_id = self._batch_action(data)

        async def go() -> None:
            async with self.store.transaction() as session:
                await payouts.cancel_batch(
                    session, batch_id=batch_id, admin_id=self.admin, now=self.tick()
                )

        try:
            self.run(go())
        except IllegalTransition:
            assert self.model.batches[batch_id] is not PayoutBatchStatus.AWAITING_APPROVAL
            return
        assert self.model.batches[batch_id] is PayoutBatchStatus.AWAITING_APPROVAL
        self.model.batches[batch_id] = PayoutBatchStatus.CANCELLED
        for p in self.model.payouts.values():
            if p.batch == batch_id:
                p.status = PayoutStatus.CANCELLED

    # --- one payout through M-Pesa --------------------------------------------------------

    def _payout(self, data: st.DataObject, *likely: PayoutStatus) -> PayoutModel:
        # Mostly a payout the action makes sense for, sometimes any: duplicates, late and
        # out-of-order callbacks must be handled too.
        sendable = (PayoutBatchStatus.APPROVED, PayoutBatchStatus.PROCESSING)
        apt = [
            o
            for o, p in self.model.payouts.items()
            if p.status in likely
            and (p.status is not PayoutStatus.PENDING or self.model.batches[p.batch] in sendable)
        ]
        pool = apt if apt and data.draw(st.integers(0, 4)) != 0 else list(self.model.payouts)
        return self.model.payouts[data.draw(st.sampled_from(sorted(pool)))]

    def _attempt(self, call: Coroutine[Any, Any, Any]) -> DomainError | None:
        try:
            self.run(call)
        except DomainError as error:
            return error
        return None

    @precondition(lambda self: self.model.payouts)
    @rule(data=st.data())
    def send_a_payout(self, data: st.DataObject) -> None:
        p = self._payout(data, PayoutStatus.PENDING, PayoutStatus.UNKNOWN)

        async def go() -> None:
            async with self.store.transaction() as session:
                await payouts.mark_sending(
                    session, originator_conversation_id=p.ocid, now=self.tick()
                )

        error = self._attempt(go())
        batch_ready = self.model.batches[p.batch] in (
            PayoutBatchStatus.APPROVED,
            PayoutBatchStatus.PROCESSING,
        )
        if p.status is PayoutStatus.SENDING:
            assert error is None
        elif p.status in (PayoutStatus.PENDING, PayoutStatus.UNKNOWN) and batch_ready:
            assert error is None
            p.status = PayoutStatus.SENDING
            if self.model.batches[p.batch] is PayoutBatchStatus.APPROVED:
                self.model.batches[p.batch] = PayoutBatchStatus.PROCESSING
        else:
            assert error is not None

    @precondition(lambda self: self.model.payouts)
    @rule(data=st.data())
    def a_payout_times_out(self, data: st.DataObject) -> None:
        p = self._payout(data, PayoutStatus.SENDING)

        async def go() -> None:
            async with self.store.transaction() as session:
                await payouts.mark_unknown(
                    session, originator_conversation_id=p.ocid, now=self.tick()
                )

        error = self._attempt(go())
        if p.status in (PayoutStatus.SENDING, PayoutStatus.UNKNOWN):
            assert error is None
            p.status = PayoutStatus.UNKNOWN
        else:
            assert isinstance(error, IllegalTransition)

    @rule(
        data=st.data(),
        code=st.sampled_from([0, 0, 0, 1, 17, 2001, 2040, 8006, 9999]),
        forged=st.integers(0, 9),
    )
    def mpesa_reports(self, data: st.DataObject, code: int, forged: int) -> None:
        """A result callback (or a status query's answer): success when code is 0."""
        if forged == 0 or not self.model.payouts:
            self.mpesa_reports_on_a_payout_we_never_made(code)
            return
        p = self._payout(data, PayoutStatus.SENDING, PayoutStatus.UNKNOWN)

        async def go() -> None:
            async with self.store.transaction() as session:
                if code == 0:
                    await payouts.settle_success(
                        session,
                        originator_conversation_id=p.ocid,
                        mpesa_receipt=f"R{p.ocid[:8].upper()}",
                        result_code=code,
                        now=self.tick(),
                    )
                else:
                    await payouts.settle_failure(
                        session,
                        originator_conversation_id=p.ocid,
                        result_code=code,
                        now=self.tick(),
                    )

        error = self._attempt(go())
        outcome = PayoutStatus.SUCCEEDED if code == 0 else PayoutStatus.FAILED
        event(f"{outcome} reported for a {p.status} payout")
        if p.status in (PayoutStatus.SENDING, PayoutStatus.UNKNOWN):
            assert error is None
            p.status = outcome
            self._complete_if_done(p.batch)
        elif p.status is outcome:
            assert error is None  # a duplicate callback changes nothing
        elif p.status is PayoutStatus.PENDING:
            assert isinstance(error, IllegalTransition)
        else:
            assert isinstance(error, PayoutError)  # contradicts a final outcome

    def mpesa_reports_on_a_payout_we_never_made(self, code: int) -> None:
        async def go() -> None:
            async with self.store.transaction() as session:
                if code == 0:
                    await payouts.settle_success(
                        session,
                        originator_conversation_id="AG_forged",
                        mpesa_receipt="R1",
                        now=self.tick(),
                    )
                else:
                    await payouts.settle_failure(
                        session,
                        originator_conversation_id="AG_forged",
                        result_code=code,
                        now=self.tick(),
                    )

        assert isinstance(self._attempt(go()), NotFound)

    def _complete_if_done(self, batch_id: int) -> None:
        mine = [p for p in self.model.payouts.values() if p.batch == batch_id]
        if all(p.status not in UNRESOLVED for p in mine):
            self.model.batches[batch_id] = PayoutBatchStatus.COMPLETED

    # --- invariants -----------------------------------------------------------------------

    @invariant()
    def the_books_agree_with_the_model_and_with_themselves(self) -> None:
        if not self.artisans:
            return
        self.run(self._check())

    async def _check(self) -> None:
        async with self.store.transaction() as session:
            trial = await ledger.trial_balance(session)
            assert trial.balanced, trial

            for artisan in [*self.artisans, self.paused]:
                b = await ledger.artisan_balance(session, artisan)
                assert b.paid_cents + b.in_flight_cents + b.available_cents == b.earned_cents
                assert b.available_cents >= 0
                assert (b.earned_cents, b.paid_cents, b.in_flight_cents, b.available_cents) == (
                    self.model.earned(artisan),
                    self.model.paid(artisan),
                    self.model.in_flight(artisan),
                    self.model.available(artisan),
                )

            transfers = {t.id: t for t in (await session.exec(select(Transfer))).all()}
            resolutions: dict[str, list[Transfer]] = {}
            for t in transfers.values():
                if t.pending_id is not None:
                    resolutions.setdefault(t.pending_id, []).append(t)
            rows = (await session.exec(select(Payout))).all()
            unresolved_per_artisan: dict[int, int] = {}
            for payout in rows:
                model = self.model.payouts[payout.originator_conversation_id]
                assert payout.status is model.status
                resolved = resolutions.get(payout.pending_transfer_id, [])
                assert len(resolved) <= 1, "a payout was settled twice"
                phases = [t.phase for t in resolved]
                if payout.status is PayoutStatus.SUCCEEDED:
                    assert phases == [TransferPhase.POST_PENDING]
                elif payout.status in (PayoutStatus.FAILED, PayoutStatus.CANCELLED):
                    assert phases == [TransferPhase.VOID_PENDING]
                else:
                    assert phases == []
                    unresolved_per_artisan[payout.artisan_id] = (
                        unresolved_per_artisan.get(payout.artisan_id, 0) + 1
                    )
            assert all(n == 1 for n in unresolved_per_artisan.values())

            batches = (await session.exec(select(PayoutBatch))).all()
            assert {b.id: b.status for b in batches} == self.model.batches

            assert len(transfers) >= len(self.seen)
            for transfer_id, before in self.seen.items():
                assert transfer_id in transfers, f"transfer {transfer_id} disappeared"
                assert _content(transfers[transfer_id]) == before, f"{transfer_id} changed"
            self.seen = {tid: _content(t) for tid, t in transfers.items()}


def _content(t: Transfer) -> tuple[Any, ...]:
    return (
        t.idempotency_key,
        t.debit_account_id,
        t.credit_account_id,
        t.amount_cents,
        t.phase,
        t.pending_id,
        t.reverses_id,
        t.code,
        t.reference,
        t.created_at,
    )


LedgerMachine.TestCase.settings = settings(
    max_examples=10,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestLedgerAndPayouts = LedgerMachine.TestCase
