"""Random sequences of submit / review / deliver / receive on a real SQLite store.

A plain Python model follows the pieces alongside the database. After every step the services'
counts must equal the model's, every job must satisfy the quantity invariant
(``check_job_tally``), and each artisan's ledger earnings must equal the piece rate times the
pieces received: never more than passed QC *and* were counted in at the central workshop.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from sqlmodel import SQLModel

from domain import ledger
from domain.errors import DomainError, Forbidden, IllegalTransition, InvalidQuantity
from domain.model import DeliveryMethod, QcReason
from domain.quantities import allocation_progress, check_job_tally, job_tally
from domain.services.deliveries import arrange_delivery, record_receipt
from domain.services.work import (
    PhotoRef,
    add_photos,
    request_better_photos,
    review_submission,
    submit_work,
)
from domain.store import Store
from tests.conftest import FakeClock
from tests.integration.factory_fixtures import (
    PHOTO,
    Factory,
    allocate,
    build_factory,
    place_order,
)

T = TypeVar("T")


@dataclass
class AllocationModel:
    """What the database should say about one allocation."""

    id: int
    artisan_id: int
    job_id: int
    quantity: int
    rate: int
    pending: dict[int, int] = field(default_factory=dict)  # submission -> count, awaiting QC
    held: dict[int, int] = field(default_factory=dict)  # better photos requested
    in_transit: dict[int, int] = field(default_factory=dict)  # delivery -> declared
    passed: int = 0
    rejected: int = 0
    received: int = 0

    @property
    def active(self) -> bool:
        return self.received < self.quantity

    @property
    def waiting(self) -> int:
        return sum(self.pending.values()) + sum(self.held.values())

    @property
    def outstanding(self) -> int:
        return self.quantity - self.passed - self.waiting

    @property
    def deliverable(self) -> int:
        return self.passed - sum(self.in_transit.values()) - self.received


class ProductionMachine(RuleBasedStateMachine):
    """One necklace order: Wanjiru and Otieno share the pendants; Otieno has part of the hooks."""

    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.TemporaryDirectory()
        self.runner = asyncio.Runner()
        self.store = Store.from_url(f"sqlite+aiosqlite:///{Path(self.tmp.name) / 'k.db'}")
        self.clock = FakeClock()
        self.run(self._set_up())

    async def _set_up(self) -> None:
        async with self.store.engine.begin() as conn:
            await conn.run_sync(SQLModel.metadata.create_all)
        self.factory: Factory = await build_factory(self.store, self.clock)
        order = await place_order(self.store, self.clock, lines={"NECKLACE-HORN": 6})
        self.job_ids = sorted(order.jobs.values())
        self.allocations: list[AllocationModel] = []
        for code, artisan, quantity in [
            ("HORN-PENDANT", self.factory.wanjiru, 4),
            ("HORN-PENDANT", self.factory.otieno, 2),
            ("BRASS-HOOK", self.factory.otieno, 3),  # 9 of the 12 hooks stay unallocated
        ]:
            a = await allocate(
                self.store,
                self.clock,
                job_id=order.jobs[code],
                artisan_id=artisan,
                quantity=quantity,
            )
            assert a.id is not None
            self.allocations.append(
                AllocationModel(a.id, artisan, a.job_id, quantity, a.piece_rate_cents)
            )

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.runner.run(coroutine)

    def teardown(self) -> None:
        self.run(self.store.close())
        self.runner.close()
        self.tmp.cleanup()

    def tick(self) -> None:
        self.clock.advance(minutes=17)

    def pending(self) -> list[tuple[AllocationModel, int]]:
        return [(a, s) for a in self.allocations for s in a.pending]

    def held(self) -> list[tuple[AllocationModel, int]]:
        return [(a, s) for a in self.allocations for s in a.held]

    def in_transit(self) -> list[tuple[AllocationModel, int]]:
        return [(a, d) for a in self.allocations for d in a.in_transit]

    def can_make(self) -> list[AllocationModel]:
        return [a for a in self.allocations if a.active and a.outstanding > 0]

    def can_deliver(self) -> list[AllocationModel]:
        return [a for a in self.allocations if a.active and a.deliverable > 0]

    async def _submit(self, a: AllocationModel, count: int, artisan_id: int | None = None) -> int:
        async with self.store.transaction() as s:
            submission = await submit_work(
                s,
                allocation_id=a.id,
                artisan_id=a.artisan_id if artisan_id is None else artisan_id,
                count=count,
                photos=[PHOTO],
                now=self.clock.now(),
            )
            assert submission.id is not None
            return submission.id

    async def _review(self, submission_id: int, reviewer: int, passed: int, rejected: int) -> None:
        async with self.store.transaction() as s:
            await review_submission(
                s,
                submission_id=submission_id,
                reviewer_id=reviewer,
                passed=passed,
                rejected=rejected,
                reasons=[QcReason.BROKEN] if rejected else [],
                now=self.clock.now(),
            )

    async def _add_photos(self, a: AllocationModel, submission_id: int) -> None:
        async with self.store.transaction() as s:
            await add_photos(
                s,
                submission_id=submission_id,
                artisan_id=a.artisan_id,
                photos=[PhotoRef("media/sharp.jpg", "image/jpeg")],
                now=self.clock.now(),
            )

    async def _arrange(self, a: AllocationModel, quantity: int) -> int:
        async with self.store.transaction() as s:
            delivery = await arrange_delivery(
                s,
                allocation_id=a.id,
                artisan_id=a.artisan_id,
                method=DeliveryMethod.DROP_OFF,
                slot_start=self.clock.now(),
                quantity=quantity,
                now=self.clock.now(),
            )
            assert delivery.id is not None
            return delivery.id

    async def _receive(self, delivery_id: int, receiver: int, received: int) -> None:
        async with self.store.transaction() as s:
            await record_receipt(
                s,
                delivery_id=delivery_id,
                receiver_id=receiver,
                received_quantity=received,
                now=self.clock.now(),
            )

    # --- what people do ------------------------------------------------------------------

    @precondition(lambda self: self.can_make())
    @rule(data=st.data())
    def submit(self, data: st.DataObject) -> None:
        a = data.draw(st.sampled_from(self.can_make()))
        count = data.draw(st.integers(1, a.outstanding))
        self.tick()
        a.pending[self.run(self._submit(a, count))] = count

    @precondition(lambda self: self.pending())
    @rule(data=st.data())
    def review(self, data: st.DataObject) -> None:
        a, submission_id = data.draw(st.sampled_from(self.pending()))
        count = a.pending[submission_id]
        passed = count - data.draw(st.integers(0, count), label="rejected")
        self.tick()
        self.run(self._review(submission_id, self.factory.agent, passed, count - passed))
        del a.pending[submission_id]
        a.passed += passed
        a.rejected += count - passed

    @precondition(lambda self: self.pending())
    @rule(data=st.data(), off_by=st.sampled_from([-1, 1]))
    def review_without_accounting_for_every_piece(self, data: st.DataObject, off_by: int) -> None:
        a, submission_id = data.draw(st.sampled_from(self.pending()))
        count = a.pending[submission_id]
        with pytest.raises(InvalidQuantity, match="pass or reject every piece"):
            # One piece too many (rejected as well as passed) or one left out.
            self.run(
                self._review(
                    submission_id, self.factory.agent, count + min(off_by, 0), max(off_by, 0)
                )
            )

    @precondition(lambda self: self.pending())
    @rule(data=st.data())
    def ask_for_better_photos(self, data: st.DataObject) -> None:
        a, submission_id = data.draw(st.sampled_from(self.pending()))

        async def go() -> None:
            async with self.store.transaction() as s:
                await request_better_photos(
                    s,
                    submission_id=submission_id,
                    reviewer_id=self.factory.far_agent,
                    note="blurred",
                    now=self.clock.now(),
                )

        self.run(go())
        a.held[submission_id] = a.pending.pop(submission_id)

    @precondition(lambda self: self.held())
    @rule(data=st.data())
    def send_better_photos(self, data: st.DataObject) -> None:
        a, submission_id = data.draw(st.sampled_from(self.held()))
        self.tick()
        self.run(self._add_photos(a, submission_id))
        a.pending[submission_id] = a.held.pop(submission_id)

    @precondition(lambda self: self.held())
    @rule(data=st.data())
    def review_while_photos_are_awaited(self, data: st.DataObject) -> None:
        a, submission_id = data.draw(st.sampled_from(self.held()))
        with pytest.raises(IllegalTransition, match="photos_requested cannot become reviewed"):
            self.run(self._review(submission_id, self.factory.agent, a.held[submission_id], 0))

    @precondition(lambda self: self.can_deliver())
    @rule(data=st.data())
    def arrange(self, data: st.DataObject) -> None:
        a = data.draw(st.sampled_from(self.can_deliver()))
        quantity = data.draw(st.integers(1, a.deliverable))
        self.tick()
        a.in_transit[self.run(self._arrange(a, quantity))] = quantity

    @rule(
        which=st.integers(0, 2),
        extra=st.integers(1, 3),
        act=st.sampled_from(["submit", "arrange"]),
    )
    def ask_for_more_than_there_is(self, which: int, extra: int, act: str) -> None:
        a = self.allocations[which]
        if not a.active:
            refused = "only an active allocation" if act == "submit" else "nothing left to deliver"
            with pytest.raises(DomainError, match=refused):
                self.run(self._submit(a, extra) if act == "submit" else self._arrange(a, extra))
        elif act == "submit":
            with pytest.raises(InvalidQuantity, match=f"has {a.outstanding} pieces left"):
                self.run(self._submit(a, a.outstanding + extra))
        else:
            with pytest.raises(InvalidQuantity, match=f"has {a.deliverable} passed pieces"):
                self.run(self._arrange(a, a.deliverable + extra))

    @precondition(lambda self: self.in_transit())
    @rule(data=st.data(), shortfall=st.integers(-2, 3), by_admin=st.booleans())
    def receive(self, data: st.DataObject, shortfall: int, by_admin: bool) -> None:
        a, delivery_id = data.draw(st.sampled_from(self.in_transit()))
        declared = a.in_transit[delivery_id]
        received = max(0, declared - shortfall)  # short, exact, or a surplus
        receiver = self.factory.admin if by_admin else self.factory.agent
        self.tick()
        self.run(self._receive(delivery_id, receiver, received))
        del a.in_transit[delivery_id]
        a.received += min(received, declared)
        kind = "short" if received < declared else "surplus" if received > declared else "exact"
        event(f"receipt: {kind}")
        if not a.active:
            event("an allocation completed")

    @precondition(lambda self: any(a.active for a in self.allocations))
    @rule(data=st.data())
    def a_good_week_finishes_an_allocation(self, data: st.DataObject) -> None:
        """Everything left is made, passes QC, and is delivered and counted in exactly."""
        a = data.draw(st.sampled_from([a for a in self.allocations if a.active]))
        for submission_id in list(a.held):
            self.run(self._add_photos(a, submission_id))
            a.pending[submission_id] = a.held.pop(submission_id)
        for submission_id, count in list(a.pending.items()):
            self.run(self._review(submission_id, self.factory.agent, count, 0))
            del a.pending[submission_id]
            a.passed += count
        if a.outstanding:
            submission_id = self.run(self._submit(a, a.outstanding))
            self.run(self._review(submission_id, self.factory.agent, a.outstanding, 0))
            a.passed += a.outstanding
        for delivery_id, declared in list(a.in_transit.items()):
            self.run(self._receive(delivery_id, self.factory.agent, declared))
            del a.in_transit[delivery_id]
            a.received += declared
        if a.deliverable:
            delivery_id = self.run(self._arrange(a, a.deliverable))
            self.run(self._receive(delivery_id, self.factory.admin, a.deliverable))
            a.received += a.deliverable
        assert not a.active

    @rule(data=st.data(), act=st.sampled_from(["submit", "review", "receive"]))
    def someone_acts_outside_their_role(self, data: st.DataObject, act: str) -> None:
        a = data.draw(st.sampled_from(self.allocations))
        other = (
            self.factory.otieno if a.artisan_id == self.factory.wanjiru else self.factory.wanjiru
        )
        attempt: Coroutine[Any, Any, object]
        if act == "submit":  # on another artisan's allocation
            attempt = self._submit(a, 1, artisan_id=other)
        elif act == "review" and a.pending:  # the artisan passing their own work
            submission_id, count = next(iter(a.pending.items()))
            attempt = self._review(submission_id, a.artisan_id, count, 0)
        elif act == "receive" and a.in_transit:  # the artisan counting in their own delivery
            attempt = self._receive(next(iter(a.in_transit)), a.artisan_id, 1)
        else:
            return
        with pytest.raises(Forbidden):
            self.run(attempt)

    @invariant()
    def counts_match_the_model_the_invariant_holds_and_only_received_passed_pieces_are_paid(
        self,
    ) -> None:
        async def check() -> None:
            async with self.store.transaction() as s:
                for job_id in self.job_ids:
                    check_job_tally(await job_tally(s, job_id))
                for a in self.allocations:
                    p = await allocation_progress(s, a.id)
                    assert (p.pending_review, p.passed, p.rejected, p.received) == (
                        a.waiting,
                        a.passed,
                        a.rejected,
                        a.received,
                    )
                    assert p.outstanding == a.outstanding
                    assert p.deliverable == a.deliverable
                for artisan in (self.factory.wanjiru, self.factory.otieno):
                    mine = [a for a in self.allocations if a.artisan_id == artisan]
                    balance = await ledger.artisan_balance(s, artisan)
                    assert balance.earned_cents == sum(a.rate * a.received for a in mine)
                    assert balance.earned_cents <= sum(
                        a.rate * min(a.passed, a.received) for a in mine
                    )

        self.run(check())


ProductionMachine.TestCase.settings = settings(
    max_examples=15,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


TestRandomProductionKeepsTheJobInvariantAndPaysOnlyReceivedPassedPieces = ProductionMachine.TestCase
