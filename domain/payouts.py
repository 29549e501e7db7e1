"""Payout batches: the domain half of exactly-once M-Pesa payouts.

A batch takes every active artisan's available balance above a minimum and makes one payout per
artisan. Each payout reserves its money at once with a *pending* transfer (artisan payable ->
M-Pesa float) and gets its M-Pesa ``OriginatorConversationID`` at once, before anything is sent,
so every retry of the same payout reuses the same id and M-Pesa can refuse a duplicate.

The M-Pesa adapter (in bot/) drives a payout through :data:`PAYOUT_TRANSITIONS` with these
functions: :func:`mark_sending` before each request, :func:`mark_unknown` when no answer comes,
then exactly one of :func:`settle_success` (posts the pending transfer: the money is paid) or
:func:`settle_failure` (voids it: the money is available again for the next batch). A duplicate
callback changes nothing; a contradictory one (success after failure, or the reverse) is refused
and leaves the ledger as it was, for a person to look into.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain import events, ledger
from domain.errors import DomainError, Forbidden, LedgerError, NotFound
from domain.model import (
    PAYOUT_BATCH_TRANSITIONS,
    PAYOUT_TRANSITIONS,
    Account,
    ArtisanProfile,
    ArtisanStatus,
    Payout,
    PayoutBatch,
    PayoutBatchStatus,
    PayoutStatus,
    Person,
    Role,
    TransferPhase,
)
from domain.store import in_lists


class Transactions(Protocol):
    """Where :func:`build_payout_batch` opens its transactions (``domain.store.Store``)."""

    def transaction(self) -> AbstractAsyncContextManager[AsyncSession]: ...


UNRESOLVED_PAYOUT_STATUSES = frozenset(
    {PayoutStatus.PENDING, PayoutStatus.SENDING, PayoutStatus.UNKNOWN}
)
"""A payout in one of these still holds its money in flight."""

# --- M-Pesa B2C result codes ------------------------------------------------------------------

B2C_RESULT_REASONS: dict[int, str] = {
    0: "paid",
    1: "the M-Pesa float does not have enough money (insufficient funds): top up the B2C "
    "account, the payout will be retried",
    2: "the amount is below M-Pesa's minimum for one payment",
    3: "the amount is above M-Pesa's maximum for one payment",
    4: "the payment would go over the daily transfer limit",
    5: "the payment would take the float below its minimum balance: top up the B2C account",
    6: "M-Pesa could not identify our paying organisation (unresolved primary party)",
    7: "M-Pesa could not identify the recipient (unresolved receiver party): check the number",
    8: "the recipient's M-Pesa wallet would go over its maximum balance",
    11: "our B2C account is in a state that cannot pay (debit party invalid): call Safaricom",
    12: "the recipient's M-Pesa account cannot receive money (credit party invalid)",
    13: "M-Pesa could not find our paying account (unresolved debit account)",
    14: "M-Pesa could not find the recipient's account (unresolved credit account)",
    15: "M-Pesa saw this request before (duplicate detected): check the first one's result",
    17: "M-Pesa failed internally; the payout will be retried",
    20: "M-Pesa could not identify the initiator (unresolved initiator)",
    26: "M-Pesa was too busy (system busy); the payout will be retried",
    2001: "the initiator name or password is wrong (invalid initiator information): fix the "
    "M-Pesa settings",
    2028: "our shortcode may not make this kind of payment (not permitted by product "
    "assignment): ask Safaricom to enable B2C",
    2040: "the number is not a registered M-Pesa customer (unregistered recipient): ask the "
    "artisan for a registered M-Pesa number",
    8006: "the initiator's security credential is locked: reset it on the M-Pesa portal",
}
"""Daraja B2C ``ResultCode`` -> a reason an admin can act on."""

TEMPORARY_RESULT_CODES = frozenset({1, 5, 17, 26})
"""Failures that go away by themselves or with a top-up; the next batch simply retries."""


def result_code_number(code: int | str) -> int:
    """Daraja sends ``ResultCode`` as a number or a string of digits, depending on the API."""
    if isinstance(code, bool):
        raise LedgerError(f"{code!r} is not an M-Pesa result code")
    if isinstance(code, int):
        return code
    text = str(code).strip()
    if not text.lstrip("-").isdigit():
        raise LedgerError(f"{code!r} is not an M-Pesa result code")
    return int(text)


def result_reason(code: int | str) -> str:
    """A clear reason for a Daraja B2C result code, also for codes we do not know."""
    number = result_code_number(code)
    known = B2C_RESULT_REASONS.get(number)
    if known is not None:
        return known
    return f"M-Pesa refused the payment with result code {number}, which we do not know"


# --- batches --------------------------------------------------------------------------------


BATCH_CHUNK = 500
"""Artisans considered per step of making a batch: each step is one short transaction when the
batch is built with :func:`build_payout_batch`, so chat never waits long for the write lock."""

FinishBatch = Callable[[AsyncSession, PayoutBatch], Awaitable[object]]
"""Runs in the transaction that completes a batch (auto-approval, the admins' notices)."""


async def create_payout_batch(
    session: AsyncSession,
    *,
    minimum_cents: int,
    now: datetime,
    created_by: int | None = None,
) -> PayoutBatch | None:
    """Reserve every payable balance of at least ``minimum_cents`` in one new batch, in this
    one transaction (:func:`build_payout_batch` makes it in many short ones).

    Returns None when nobody is owed enough. An artisan with a payout still in flight is left
    for the next batch, so nobody ever has two unresolved payouts. ``created_by`` is the admin
    who asked for the batch (None for the weekly scheduler). A batch a crash left half-made is
    completed rather than a second one begun.

    Also None when another builder began a batch after this one looked (only one may be
    building): that builder is alive and carries on with everyone owed, and the caller finds
    its batch being built, as it would have before starting (/make_payouts names it).
    """
    _check_minimum(minimum_cents)
    if created_by is not None:
        await _require_admin(session, created_by, "start a payout batch")
    building = await _batch_being_built(session)
    batch_id = None if building is None else building.id
    batch: PayoutBatch | None = None
    after: int | None = 0
    while after is not None:
        try:
            batch, after = await _add_to_batch(
                session,
                batch_id,
                minimum_cents=minimum_cents,
                after=after,
                limit=BATCH_CHUNK,
                now=now,
                created_by=created_by,
            )
        except _BatchBegunElsewhere:
            # Not joined: this transaction already holds payables that batch's builder may be
            # waiting for, and taking its batch lock now could deadlock the two.
            return None
        batch_id = None if batch is None else batch.id
    if batch is not None and batch.status is PayoutBatchStatus.BUILDING:
        await _finish_batch(session, batch, created_by=created_by)
    return batch


async def build_payout_batch(
    store: Transactions,
    *,
    minimum_cents: int,
    now: datetime,
    created_by: int | None = None,
    chunk: int = BATCH_CHUNK,
    finish: FinishBatch | None = None,
) -> PayoutBatch | None:
    """:func:`create_payout_batch` in one short transaction per ``chunk`` artisans.

    The batch is *building* until its last step makes it *awaiting approval* (and runs
    ``finish`` in that same transaction), so a half-made batch is never approved or sent. If the
    process dies part way, every step already committed is whole (each payout with its pending
    transfer, every balance still adding up); the next build, here or by
    :func:`create_payout_batch`, finds the building batch and completes it, skipping the artisans
    already in it (they have a payout in flight). An admin may also cancel it.

    Another builder (a second process, an admin's /make_payouts) may complete and finish the
    batch between two of these steps, or an admin cancel it: this build then stops at its next
    step, adds nothing more, finishes nothing and returns the batch as they left it (its status
    says so). Those who finished or cancelled it told the admins.

    Two builds starting at once both find no batch; the database lets only one of them begin
    one. The other redoes its step with that batch and carries on building it, as if it had
    found it at the start.
    """
    _check_minimum(minimum_cents)
    if chunk < 1:
        raise ValueError(f"a batch is built at least one artisan at a time, not {chunk}")
    async with store.transaction() as session:
        if created_by is not None:
            await _require_admin(session, created_by, "start a payout batch")
        batch = await _batch_being_built(session)
    batch_id = None if batch is None else batch.id
    after: int | None = 0
    while after is not None:
        try:
            async with store.transaction() as session:
                batch, after = await _add_to_batch(
                    session,
                    batch_id,
                    minimum_cents=minimum_cents,
                    after=after,
                    limit=chunk,
                    now=now,
                    created_by=created_by,
                )
        except _BatchBegunElsewhere as begun:
            # The step wrote nothing; redone in a new transaction, which locks that batch before
            # the payables, as every step does.
            batch_id = begun.batch_id
            continue
        batch_id = None if batch is None else batch.id
    if batch_id is None:
        return None
    async with store.transaction() as session:
        batch = await _batch(session, batch_id)
        if batch.status is not PayoutBatchStatus.BUILDING:
            return batch
        await _finish_batch(session, batch, created_by=created_by)
        if finish is not None:
            await finish(session, batch)
    return batch


def _check_minimum(minimum_cents: int) -> None:
    if isinstance(minimum_cents, bool) or not isinstance(minimum_cents, int):
        raise LedgerError(f"the payout minimum must be whole cents, not {minimum_cents!r}")
    if minimum_cents <= 0:
        raise LedgerError(f"the payout minimum must be positive, not {minimum_cents} cents")


async def _batch_being_built(session: AsyncSession) -> PayoutBatch | None:
    return (
        await session.exec(
            select(PayoutBatch)
            .where(PayoutBatch.status == PayoutBatchStatus.BUILDING)
            .order_by(col(PayoutBatch.id))
            .limit(1)
            .with_for_update()
        )
    ).first()


class _BatchBegunElsewhere(Exception):
    """Another builder began the building batch after this one looked for it."""

    def __init__(self, batch_id: int) -> None:
        super().__init__(f"payout batch {batch_id} is being built by another builder")
        self.batch_id = batch_id


async def _begin_batch(
    session: AsyncSession, *, now: datetime, created_by: int | None
) -> PayoutBatch:
    """A new building batch, or :class:`_BatchBegunElsewhere` when the database refuses a second
    one (the ``ONE_BATCH_BUILDING`` index; on PostgreSQL the insert waits for the other's
    transaction first). In a savepoint, so the caller's transaction survives the refusal."""
    batch = PayoutBatch(status=PayoutBatchStatus.BUILDING, created_at=now, created_by=created_by)
    await session.flush()  # so the savepoint below catches only this batch's conflict
    try:
        async with session.begin_nested():
            session.add(batch)
    except IntegrityError:
        building = (
            await session.exec(
                select(PayoutBatch.id).where(PayoutBatch.status == PayoutBatchStatus.BUILDING)
            )
        ).first()
        if building is None:  # refused for some other reason
            raise
        raise _BatchBegunElsewhere(building) from None
    return batch


_PAYOUT: sa.Table = Payout.__table__  # type: ignore[attr-defined]


async def _add_to_batch(
    session: AsyncSession,
    batch_id: int | None,
    *,
    minimum_cents: int,
    after: int,
    limit: int,
    now: datetime,
    created_by: int | None,
) -> tuple[PayoutBatch | None, int | None]:
    """Add the next ``limit`` active artisans after person id ``after`` who are owed enough to
    batch ``batch_id`` (None: none made yet).

    Returns the batch (made on the first artisan owed, if there was none) and the last person
    id looked at, or None when there was nobody left to look at, or when the batch is no longer
    building: another builder finished it, or an admin cancelled it, since the last step, and
    it must not change under the admins who were told of it. Statements per step, not per
    artisan: the batch locked in one, the payables locked in one, who has a payout in flight in
    one, the balances in two, the pending transfers and the payouts inserted in one each.
    """
    # Locked before the payables, as every builder does, and held to the end of the step, so
    # nobody finishes or cancels the batch while this step adds to it (PostgreSQL; SQLite's
    # BEGIN IMMEDIATE serialises writers already).
    batch = None if batch_id is None else await _batch(session, batch_id)
    if batch is not None and batch.status is not PayoutBatchStatus.BUILDING:
        return batch, None
    rows = (
        await session.exec(
            select(ArtisanProfile.person_id, ArtisanProfile.mpesa_number, Account.id)
            .join(Account, col(Account.artisan_id) == col(ArtisanProfile.person_id))
            .where(
                ArtisanProfile.status == ArtisanStatus.ACTIVE,
                col(ArtisanProfile.person_id) > after,
            )
            .order_by(col(ArtisanProfile.person_id))
            .limit(limit)
        )
    ).all()
    if not rows:
        return batch, None
    payable_ids = sorted(account_id for _, _, account_id in rows if account_id is not None)
    # Locked in one order, so two builders cannot deadlock (PostgreSQL; SQLite's BEGIN IMMEDIATE
    # already serialises writers); read only after, so a payout another builder just committed
    # is seen.
    await session.exec(
        select(Account.id)
        .where(col(Account.id).in_(payable_ids))
        .order_by(col(Account.id))
        .with_for_update()
    )
    artisan_ids = [person_id for person_id, _, _ in rows]
    waiting_on_payout = set(
        (
            await session.exec(
                select(Payout.artisan_id).where(
                    col(Payout.status).in_(list(UNRESOLVED_PAYOUT_STATUSES)),
                    col(Payout.artisan_id).in_(artisan_ids),
                )
            )
        ).all()
    )
    balances = await ledger.account_balances(session, payable_ids)
    due: list[tuple[int, str, int, int]] = []
    for person_id, msisdn, account_id in rows:
        if person_id in waiting_on_payout or account_id is None:
            continue
        b = balances[account_id]
        available = b.credits_posted - b.debits_posted - b.debits_pending
        if available >= minimum_cents:
            due.append((person_id, msisdn, account_id, available))
    last = rows[-1][0]
    if not due:
        return batch, last
    if batch is None:
        batch = await _begin_batch(session, now=now, created_by=created_by)
    assert batch.id is not None
    mpesa_float = (await ledger.ensure_account(session, ledger.MPESA_FLOAT)).id
    assert mpesa_float is not None
    originator_ids = [str(uuid.uuid4()) for _ in due]
    reserves = [
        ledger.NewTransfer(
            idempotency_key=f"payout:{originator_id}",
            debit_account_id=account_id,
            credit_account_id=mpesa_float,
            amount_cents=amount,
            phase=TransferPhase.PENDING,
            code=ledger.PAYOUT,
            reference=f"payout batch {batch.id}",
        )
        for originator_id, (_, _, account_id, amount) in zip(originator_ids, due, strict=True)
    ]
    await ledger.record_new_transfers(session, reserves, now=now)
    connection = await session.connection()
    await connection.execute(
        _PAYOUT.insert(),
        [
            {
                "batch_id": batch.id,
                "artisan_id": person_id,
                "amount_cents": amount,
                "msisdn": msisdn,
                "status": PayoutStatus.PENDING,
                "pending_transfer_id": reserve.id,
                "originator_conversation_id": originator_id,
                "created_at": now,
                "updated_at": now,
            }
            for (person_id, msisdn, _, amount), reserve, originator_id in zip(
                due, reserves, originator_ids, strict=True
            )
        ],
    )
    return batch, last


async def _finish_batch(
    session: AsyncSession, batch: PayoutBatch, *, created_by: int | None
) -> None:
    assert batch.id is not None
    batch.status = PAYOUT_BATCH_TRANSITIONS.check(batch.status, PayoutBatchStatus.AWAITING_APPROVAL)
    session.add(batch)
    count, total = await batch_count_and_total(session, batch.id)
    await session.flush()
    events.record(
        session,
        events.PayoutBatchCreated(
            batch_id=batch.id, payout_count=count, total_cents=total, created_by=created_by
        ),
    )


async def batch_count_and_total(session: AsyncSession, batch_id: int) -> tuple[int, int]:
    count, total = (
        await session.exec(
            select(func.count(), func.coalesce(func.sum(Payout.amount_cents), 0)).where(
                Payout.batch_id == batch_id
            )
        )
    ).one()
    return int(count), int(total)


async def batch_payouts(session: AsyncSession, batch_id: int) -> list[Payout]:
    rows = await session.exec(
        select(Payout).where(Payout.batch_id == batch_id).order_by(col(Payout.id))
    )
    return list(rows.all())


async def batch_total_cents(session: AsyncSession, batch_id: int) -> int:
    return (await batch_count_and_total(session, batch_id))[1]


async def approve_batch(
    session: AsyncSession, *, batch_id: int, admin_id: int, now: datetime
) -> PayoutBatch:
    """An admin lets a batch be sent to M-Pesa."""
    await _require_admin(session, admin_id, "approve payouts")
    return await _approve(session, batch_id, approved_by=admin_id, now=now)


async def auto_approve_batch(
    session: AsyncSession, *, batch_id: int, limit_cents: int, now: datetime
) -> bool:
    """Approve a waiting batch without an admin if its total is at most ``limit_cents``.

    Returns whether it was approved; a bigger batch keeps waiting for an admin.
    """
    batch = await _batch(session, batch_id)
    if batch.status is not PayoutBatchStatus.AWAITING_APPROVAL:
        return False
    if await batch_total_cents(session, batch_id) > limit_cents:
        return False
    await _approve(session, batch_id, approved_by=None, now=now)
    return True


async def _approve(
    session: AsyncSession, batch_id: int, *, approved_by: int | None, now: datetime
) -> PayoutBatch:
    batch = await _batch(session, batch_id)
    batch.status = PAYOUT_BATCH_TRANSITIONS.check(batch.status, PayoutBatchStatus.APPROVED)
    batch.approved_by = approved_by
    batch.approved_at = now
    session.add(batch)
    events.record(
        session,
        events.PayoutBatchApproved(
            batch_id=batch_id,
            approved_by=approved_by,
            total_cents=await batch_total_cents(session, batch_id),
        ),
    )
    return batch


async def cancel_batch(
    session: AsyncSession, *, batch_id: int, admin_id: int, now: datetime
) -> PayoutBatch:
    """An admin drops a batch before approval; every reserved amount is available again.

    A batch being built may be cancelled too (one left half-made by a crash): its builder locks
    the batch at each step and stops once it is no longer building. The payouts are cancelled
    and their reservations voided a few statements for the lot, whatever the batch's size.
    """
    await _require_admin(session, admin_id, "cancel payouts")
    batch = await _batch(session, batch_id)
    batch.status = PAYOUT_BATCH_TRANSITIONS.check(batch.status, PayoutBatchStatus.CANCELLED)
    batch.closed_at = now
    session.add(batch)
    connection = await session.connection()
    held = (
        await connection.execute(
            sa.select(
                _PAYOUT.c.status,
                _PAYOUT.c.amount_cents,
                _PAYOUT.c.pending_transfer_id,
                _PAYOUT.c.originator_conversation_id,
            ).where(_PAYOUT.c.batch_id == batch_id)
        )
    ).all()
    for status, *_ in held:
        PAYOUT_TRANSITIONS.check(PayoutStatus(status), PayoutStatus.CANCELLED)
    # Core, as settling does: no Payout of this batch is loaded in a session that cancels it.
    await connection.execute(
        _PAYOUT.update()
        .where(_PAYOUT.c.batch_id == batch_id)
        .values(status=PayoutStatus.CANCELLED, updated_at=now)
    )
    await ledger.resolve_pending_transfers(
        session,
        [
            ledger.Resolution(
                pending_id=pending_id,
                phase=TransferPhase.VOID_PENDING,
                idempotency_key=f"payout-void:{originator_id}",
            )
            for _, _, pending_id, originator_id in held
        ],
        now=now,
    )
    events.record(
        session,
        events.PayoutBatchCancelled(
            batch_id=batch_id,
            cancelled_by=admin_id,
            payout_count=len(held),
            total_cents=sum(amount for _, amount, _, _ in held),
        ),
    )
    return batch


# --- one payout through M-Pesa --------------------------------------------------------------


async def payouts_to_send(session: AsyncSession) -> list[Payout]:
    """Payouts of approved batches that have not been sent yet, oldest first."""
    rows = await session.exec(
        select(Payout)
        .join(PayoutBatch, col(PayoutBatch.id) == col(Payout.batch_id))
        .where(
            Payout.status == PayoutStatus.PENDING,
            col(PayoutBatch.status).in_([PayoutBatchStatus.APPROVED, PayoutBatchStatus.PROCESSING]),
        )
        .order_by(col(Payout.id))
    )
    return list(rows.all())


async def payouts_in_doubt(session: AsyncSession) -> list[Payout]:
    """Payouts sent without a final answer yet: candidates for a transaction status query."""
    rows = await session.exec(
        select(Payout)
        .where(col(Payout.status).in_([PayoutStatus.SENDING, PayoutStatus.UNKNOWN]))
        .order_by(col(Payout.id))
    )
    return list(rows.all())


async def mark_sending(
    session: AsyncSession, *, originator_conversation_id: str, now: datetime
) -> Payout:
    """Record that the request is about to go to M-Pesa; commit this before calling.

    Marking a payout that is already sending again is a retry of the same request with the same
    originator id, which M-Pesa recognises, so it changes nothing.
    """
    payout = await _payout(session, originator_conversation_id)
    if payout.status is PayoutStatus.SENDING:
        return payout
    batch = await _batch(session, payout.batch_id)
    _check_sendable(payout, batch)
    payout.status = PAYOUT_TRANSITIONS.check(payout.status, PayoutStatus.SENDING)
    payout.updated_at = now
    session.add(payout)
    if batch.status is PayoutBatchStatus.APPROVED:
        batch.status = PAYOUT_BATCH_TRANSITIONS.check(batch.status, PayoutBatchStatus.PROCESSING)
        session.add(batch)
    return payout


async def claim_for_sending(
    session: AsyncSession, originator_conversation_ids: Sequence[str], *, now: datetime
) -> list[Payout]:
    """:func:`mark_sending` for those of these payouts still pending, in their order; the others
    (sent meanwhile by another run: in doubt) are left alone. Commit this before calling.

    Two reads and one write for the lot, where one payout at a time took four statements each.
    """
    if not originator_conversation_ids:
        return []
    found = (
        await session.exec(
            select(Payout)
            .where(col(Payout.originator_conversation_id).in_(originator_conversation_ids))
            .order_by(col(Payout.id))
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).all()
    by_id = {p.originator_conversation_id: p for p in found}
    waiting = [
        by_id[o]
        for o in originator_conversation_ids
        if o in by_id and by_id[o].status is PayoutStatus.PENDING
    ]
    batch_ids = sorted({p.batch_id for p in waiting})
    batches = {
        b.id: b
        for b in (
            await session.exec(
                select(PayoutBatch)
                .where(col(PayoutBatch.id).in_(batch_ids))
                .order_by(col(PayoutBatch.id))
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        ).all()
    }
    for payout in waiting:
        batch = batches[payout.batch_id]
        _check_sendable(payout, batch)
        payout.status = PAYOUT_TRANSITIONS.check(payout.status, PayoutStatus.SENDING)
        payout.updated_at = now
        session.add(payout)
        if batch.status is PayoutBatchStatus.APPROVED:
            batch.status = PAYOUT_BATCH_TRANSITIONS.check(
                batch.status, PayoutBatchStatus.PROCESSING
            )
            session.add(batch)
    await session.flush()
    return waiting


def _check_sendable(payout: Payout, batch: PayoutBatch) -> None:
    if batch.status not in (PayoutBatchStatus.APPROVED, PayoutBatchStatus.PROCESSING):
        raise LedgerError(
            f"payout {payout.id} belongs to batch {batch.id}, which is {batch.status}: "
            "only an approved batch is sent to M-Pesa"
        )


async def record_conversation_id(
    session: AsyncSession, *, originator_conversation_id: str, conversation_id: str, now: datetime
) -> None:
    """Keep M-Pesa's own ConversationID from its answer to the request (the first one wins)."""
    await record_conversation_ids(session, [(originator_conversation_id, conversation_id)], now=now)


_KEEP_CONVERSATION_ID = (
    _PAYOUT.update()
    .where(
        _PAYOUT.c.originator_conversation_id == sa.bindparam("originator"),
        _PAYOUT.c.conversation_id.is_(None),
    )
    .values(conversation_id=sa.bindparam("conversation"), updated_at=sa.bindparam("now"))
)


async def record_conversation_ids(
    session: AsyncSession, answers: Sequence[tuple[str, str]], *, now: datetime
) -> None:
    """:func:`record_conversation_id` for many (originator id, ConversationID) pairs.

    One conditional UPDATE for the lot: M-Pesa accepts every payout with one, usually with
    nothing else to record, so the payout runner keeps a busy batch's in groups.
    """
    if not answers:
        return
    await session.flush()
    connection = await session.connection()
    await connection.execute(
        _KEEP_CONVERSATION_ID,
        [
            {"originator": originator, "conversation": conversation, "now": now}
            for originator, conversation in answers
        ],
    )


async def mark_unknown(
    session: AsyncSession, *, originator_conversation_id: str, now: datetime
) -> Payout:
    """No answer came (timeout, queue timeout): a status query will decide. Idempotent."""
    payout = await _payout(session, originator_conversation_id)
    if payout.status is PayoutStatus.UNKNOWN:
        return payout
    payout.status = PAYOUT_TRANSITIONS.check(payout.status, PayoutStatus.UNKNOWN)
    payout.updated_at = now
    session.add(payout)
    return payout


@dataclass(frozen=True, slots=True)
class PaymentOutcome:
    """What M-Pesa says became of one payment request: its result callback, or a status
    query's answer. ``result_code`` 0 means paid (with ``mpesa_receipt``); any other, not paid."""

    originator_conversation_id: str
    result_code: int | str
    mpesa_receipt: str | None = None
    result_desc: str | None = None
    conversation_id: str | None = None  # M-Pesa's own id for the request, kept if none is yet


class Verdict(StrEnum):
    """What an outcome did to its payout."""

    SETTLED = "settled"  # the payout is now paid or failed
    UNCHANGED = "unchanged"  # it says again what was recorded (a repeat)
    UNKNOWN_ID = "unknown_id"  # no payout has this originator id
    CONFLICT = "conflict"  # refused: it contradicts what was recorded, or is no valid outcome


@dataclass(frozen=True, slots=True)
class Settlement:
    """What :func:`settle_outcomes` made of one outcome."""

    verdict: Verdict
    payout_id: int | None = None
    status: PayoutStatus | None = None
    msisdn: str = ""
    refused: DomainError | None = None  # why a conflict was refused, for a person to check


async def settle_success(
    session: AsyncSession,
    *,
    originator_conversation_id: str,
    mpesa_receipt: str,
    result_code: int | str = 0,
    now: datetime,
    result_desc: str | None = None,
) -> Payout:
    """M-Pesa paid the artisan: post the reserved money for good. A repeat changes nothing."""
    code = result_code_number(result_code)
    if code != 0:
        raise LedgerError(
            f"result code {code} is a failure ({result_reason(code)}), not a success: record it "
            "with settle_failure"
        )
    if not mpesa_receipt.strip():
        raise LedgerError(_NO_RECEIPT)
    outcome = PaymentOutcome(
        originator_conversation_id, 0, mpesa_receipt=mpesa_receipt, result_desc=result_desc
    )
    return await _settle_one(session, outcome, now)


async def settle_failure(
    session: AsyncSession,
    *,
    originator_conversation_id: str,
    result_code: int | str,
    result_desc: str | None = None,
    now: datetime,
) -> Payout:
    """M-Pesa did not pay: void the reservation so the money is available for the next batch.

    A repeat changes nothing. ``result_desc`` is M-Pesa's text; without one, the reason is taken
    from the result code.
    """
    code = result_code_number(result_code)
    if code == 0:
        raise LedgerError("result code 0 means M-Pesa paid: record it with settle_success")
    outcome = PaymentOutcome(originator_conversation_id, code, result_desc=result_desc)
    return await _settle_one(session, outcome, now)


async def _settle_one(session: AsyncSession, outcome: PaymentOutcome, now: datetime) -> Payout:
    (settlement,) = await settle_outcomes(session, [outcome], now=now)
    if settlement.verdict is Verdict.UNKNOWN_ID:
        raise NotFound("payout with originator conversation id", outcome.originator_conversation_id)
    if settlement.refused is not None:
        raise settlement.refused
    return await _payout(session, outcome.originator_conversation_id)


_NO_RECEIPT = "a successful M-Pesa payment always has a receipt number"

_SETTLED_COLUMNS = (
    "id",
    "batch_id",
    "artisan_id",
    "amount_cents",
    "msisdn",
    "status",
    "pending_transfer_id",
    "originator_conversation_id",
    "conversation_id",
    "mpesa_receipt",
    "result_code",
    "result_desc",
)


@dataclass(slots=True)
class _Row:
    """A payout as :func:`settle_outcomes` reads and changes it (plain columns, no ORM)."""

    id: int
    batch_id: int
    artisan_id: int
    amount_cents: int
    msisdn: str
    status: PayoutStatus
    pending_transfer_id: str
    originator_conversation_id: str
    conversation_id: str | None
    mpesa_receipt: str | None
    result_code: str | None
    result_desc: str | None
    read_as: PayoutStatus | None = None  # the status read from the database
    new_conversation_id: bool = False

    def __post_init__(self) -> None:
        self.read_as = self.status


async def settle_outcomes(
    session: AsyncSession, outcomes: Sequence[PaymentOutcome], *, now: datetime
) -> list[Settlement]:
    """Settle many payouts from what M-Pesa said, in this one transaction; one settlement per
    outcome, in order.

    The callbacks of a busy batch are settled in groups with this (``bot.payout_runner``), so it
    spends a few statements on the lot rather than a few each: the payouts read and locked in
    one, their pending transfers posted or voided in three (``ledger.resolve_pending_transfers``),
    the payouts updated in one, and each batch touched checked once for completion. The rules are
    those of one payout at a time, applied in order, so a repeat later in the same group is
    UNCHANGED. An outcome that cannot apply (an id we never made, a contradiction, a success
    without a receipt) gets its verdict and changes nothing, not even for the others; anything
    else the database or ledger refuses raises, and nothing of the group is then recorded.

    It reads and writes rows, not the session's objects: a :class:`Payout` already loaded in the
    session is stale afterwards until read again (``_payout`` re-reads it).
    """
    if not outcomes:
        return []
    await session.flush()
    rows = await _rows_locked(session, sorted({o.originator_conversation_id for o in outcomes}))
    settlements: list[Settlement] = []
    resolutions: list[ledger.Resolution] = []
    for outcome in outcomes:
        row = rows.get(outcome.originator_conversation_id)
        if row is None:
            settlements.append(Settlement(Verdict.UNKNOWN_ID))
            continue
        if outcome.conversation_id and row.conversation_id is None:
            row.conversation_id = outcome.conversation_id
            row.new_conversation_id = True
        try:
            resolution = _apply(session, row, outcome)
        except DomainError as exc:
            settlements.append(_settlement(row, Verdict.CONFLICT, refused=exc))
            continue
        if resolution is None:
            settlements.append(_settlement(row, Verdict.UNCHANGED))
            continue
        resolutions.append(resolution)
        settlements.append(_settlement(row, Verdict.SETTLED))
    await ledger.resolve_pending_transfers(session, resolutions, now=now)
    await _write_rows(session, list(rows.values()), now)
    for batch_id in sorted({row.batch_id for row in rows.values() if row.status != row.read_as}):
        await _complete_batch_if_done(session, batch_id, now)
    return settlements


def _settlement(row: _Row, verdict: Verdict, *, refused: DomainError | None = None) -> Settlement:
    return Settlement(verdict, row.id, row.status, row.msisdn, refused)


def _apply(session: AsyncSession, row: _Row, outcome: PaymentOutcome) -> ledger.Resolution | None:
    """Change ``row`` as ``outcome`` says and record its event; the ledger resolution that goes
    with it, or None for a repeat. Raises ``DomainError`` for an outcome that cannot apply."""
    code = result_code_number(outcome.result_code)
    if code == 0:
        receipt = (outcome.mpesa_receipt or "").strip()
        if not receipt:
            raise LedgerError(_NO_RECEIPT)
        if not _is_news_of_success(row, receipt):
            return None
        row.status = PAYOUT_TRANSITIONS.check(row.status, PayoutStatus.SUCCEEDED)
        row.mpesa_receipt = receipt
        row.result_code = str(code)
        row.result_desc = (outcome.result_desc or B2C_RESULT_REASONS[0])[:300]
        events.record(
            session,
            events.PayoutSucceeded(
                payout_id=row.id,
                artisan_id=row.artisan_id,
                amount_cents=row.amount_cents,
                mpesa_receipt=receipt,
            ),
        )
        return ledger.Resolution(
            row.pending_transfer_id,
            TransferPhase.POST_PENDING,
            f"payout-post:{row.originator_conversation_id}",
        )
    if not _is_news_of_failure(row, code):
        return None
    row.status = PAYOUT_TRANSITIONS.check(row.status, PayoutStatus.FAILED)
    reason = result_reason(code)
    row.result_code = str(code)
    row.result_desc = (outcome.result_desc or reason)[:300]
    events.record(
        session,
        events.PayoutFailed(
            payout_id=row.id,
            artisan_id=row.artisan_id,
            amount_cents=row.amount_cents,
            reason=reason,
        ),
    )
    return ledger.Resolution(
        row.pending_transfer_id,
        TransferPhase.VOID_PENDING,
        f"payout-void:{row.originator_conversation_id}",
    )


def _is_news_of_success(row: _Row, receipt: str) -> bool:
    """False for a repeat of the recorded success; raises if it contradicts the record."""
    if row.status is PayoutStatus.SUCCEEDED:
        if row.mpesa_receipt != receipt:
            raise LedgerError(
                f"payout {row.id} was already paid with M-Pesa receipt {row.mpesa_receipt}, "
                f"and M-Pesa now reports receipt {receipt} for it too: check with Safaricom "
                "whether the artisan was paid twice"
            )
        return False
    if row.status in (PayoutStatus.FAILED, PayoutStatus.CANCELLED):
        raise LedgerError(
            f"payout {row.id} was recorded as {row.status} "
            f"({row.result_desc or 'no reason given'}), but M-Pesa now reports it paid with "
            f"receipt {receipt}: its money may already be in a later payout — check with "
            "Safaricom before paying again"
        )
    return True


def _is_news_of_failure(row: _Row, code: int) -> bool:
    """False for a repeat of the recorded failure; raises if it contradicts the record."""
    if row.status is PayoutStatus.FAILED:
        return False
    if row.status is PayoutStatus.SUCCEEDED:
        raise LedgerError(
            f"payout {row.id} was already paid (M-Pesa receipt {row.mpesa_receipt}), but "
            f"a failure ({code}: {result_reason(code)}) arrived for it: the payment stands; "
            "check with Safaricom"
        )
    if row.status is PayoutStatus.CANCELLED:
        raise LedgerError(
            f"payout {row.id} was cancelled before it was sent, yet M-Pesa reports on it: "
            "check for a request sent outside Karakana"
        )
    return True


async def _rows_locked(session: AsyncSession, originator_ids: list[str]) -> dict[str, _Row]:
    # Locked in originator id order (sorted, and so in each chunk), so two groups settling at
    # once in two processes cannot deadlock (PostgreSQL; SQLite's BEGIN IMMEDIATE serialises).
    connection = await session.connection()
    columns = [_PAYOUT.c[name] for name in _SETTLED_COLUMNS]
    rows: dict[str, _Row] = {}
    for some in in_lists(originator_ids):
        result = await connection.execute(
            sa.select(*columns)
            .where(_PAYOUT.c.originator_conversation_id.in_(some))
            .order_by(_PAYOUT.c.originator_conversation_id)
            .with_for_update()
        )
        for values in result:
            row = _Row(*values)
            rows[row.originator_conversation_id] = row
    return rows


_SETTLE_ROW = (
    _PAYOUT.update()
    .where(_PAYOUT.c.id == sa.bindparam("row_id"), _PAYOUT.c.status == sa.bindparam("read_as"))
    .values(
        status=sa.bindparam("new_status"),
        mpesa_receipt=sa.bindparam("new_receipt"),
        result_code=sa.bindparam("new_code"),
        result_desc=sa.bindparam("new_desc"),
        conversation_id=sa.bindparam("new_conversation_id"),
        updated_at=sa.bindparam("now"),
    )
)


async def _write_rows(session: AsyncSession, rows: list[_Row], now: datetime) -> None:
    """One UPDATE for every row changed, each guarded by the status it was read with."""
    changed = [row for row in rows if row.status != row.read_as or row.new_conversation_id]
    if not changed:
        return
    connection = await session.connection()
    result = await connection.execute(
        _SETTLE_ROW,
        [
            {
                "row_id": row.id,
                "read_as": row.read_as,
                "new_status": row.status,
                "new_receipt": row.mpesa_receipt,
                "new_code": row.result_code,
                "new_desc": row.result_desc,
                "new_conversation_id": row.conversation_id,
                "now": now,
            }
            for row in changed
        ],
    )
    if connection.dialect.supports_sane_multi_rowcount and result.rowcount != len(changed):
        # The rows were locked when read, so this means a bug, never a race: refuse it all.
        raise LedgerError(
            f"{len(changed) - result.rowcount} payout(s) changed while being settled; nothing "
            "of this group was recorded"
        )


# --- helpers --------------------------------------------------------------------------------


async def _complete_batch_if_done(session: AsyncSession, batch_id: int, now: datetime) -> None:
    batch = await _batch(session, batch_id)
    if batch.status is not PayoutBatchStatus.PROCESSING:
        return
    # This runs once per settled payout: loading the whole batch each time made a 2,500-payout
    # batch take minutes, and even counting it is quadratic at 25,000 (bench/bench_payouts.py).
    # Whether one payout is unresolved stops at the first; the batch is counted once, at the end.
    # ``batch_id + 0`` keeps SQLite on the status index: on the batch_id index it would walk the
    # whole batch's settled payouts to find none, every time.
    unresolved = await session.exec(
        select(Payout.id)
        .where(
            col(Payout.status).in_(list(UNRESOLVED_PAYOUT_STATUSES)),
            col(Payout.batch_id) + 0 == batch_id,
        )
        .limit(1)
    )
    if unresolved.first() is not None:
        return
    counts = await session.exec(
        select(Payout.status, func.count())
        .where(Payout.batch_id == batch_id)
        .group_by(col(Payout.status))
    )
    by_status = {PayoutStatus(status): count for status, count in counts}
    if any(not PAYOUT_TRANSITIONS.is_final(status) for status in by_status):
        return
    batch.status = PAYOUT_BATCH_TRANSITIONS.check(batch.status, PayoutBatchStatus.COMPLETED)
    batch.closed_at = now
    session.add(batch)
    events.record(
        session,
        events.PayoutBatchCompleted(
            batch_id=batch_id,
            succeeded=by_status.get(PayoutStatus.SUCCEEDED, 0),
            failed=by_status.get(PayoutStatus.FAILED, 0),
        ),
    )


async def _payout(session: AsyncSession, originator_conversation_id: str) -> Payout:
    # Locked and re-read, so two callbacks for one payout are handled one after the other.
    payout = (
        await session.exec(
            select(Payout)
            .where(Payout.originator_conversation_id == originator_conversation_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).first()
    if payout is None:
        raise NotFound("payout with originator conversation id", originator_conversation_id)
    return payout


async def _batch(session: AsyncSession, batch_id: int) -> PayoutBatch:
    batch = (
        await session.exec(
            select(PayoutBatch)
            .where(PayoutBatch.id == batch_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).first()
    if batch is None:
        raise NotFound("payout batch", batch_id)
    return batch


async def _require_admin(session: AsyncSession, person_id: int, action: str) -> Person:
    person = await session.get(Person, person_id)
    if person is None:
        raise NotFound("person", person_id)
    if person.role is not Role.ADMIN:
        raise Forbidden(f"only an admin can {action}; {person.name} is a {person.role}")
    return person
