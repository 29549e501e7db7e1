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
from datetime import datetime

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain import events, ledger
from domain.errors import Forbidden, LedgerError, NotFound
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


async def create_payout_batch(
    session: AsyncSession,
    *,
    minimum_cents: int,
    now: datetime,
    created_by: int | None = None,
) -> PayoutBatch | None:
    """Reserve every payable balance of at least ``minimum_cents`` in one new batch.

    Returns None when nobody is owed enough. An artisan with a payout still in flight is left
    for the next batch, so nobody ever has two unresolved payouts. ``created_by`` is the admin
    who asked for the batch (None for the weekly scheduler).
    """
    if isinstance(minimum_cents, bool) or not isinstance(minimum_cents, int):
        raise LedgerError(f"the payout minimum must be whole cents, not {minimum_cents!r}")
    if minimum_cents <= 0:
        raise LedgerError(f"the payout minimum must be positive, not {minimum_cents} cents")
    if created_by is not None:
        await _require_admin(session, created_by, "start a payout batch")

    active = (
        select(ArtisanProfile, Account)
        .join(Account, col(Account.artisan_id) == col(ArtisanProfile.person_id))
        .where(ArtisanProfile.status == ArtisanStatus.ACTIVE)
        .order_by(col(ArtisanProfile.person_id))
    )
    # Every payable locked at once, in one order (PostgreSQL; SQLite's BEGIN IMMEDIATE already
    # serialises writers), and every artisan still waiting on a payout found in one query,
    # instead of two queries per artisan (50,000 for a batch of 25,000).
    await session.exec(
        select(Account.id)
        .join(ArtisanProfile, col(Account.artisan_id) == col(ArtisanProfile.person_id))
        .where(ArtisanProfile.status == ArtisanStatus.ACTIVE)
        .order_by(col(Account.id))
        .with_for_update(of=Account)
    )
    waiting_on_payout = set(
        (
            await session.exec(
                select(Payout.artisan_id).where(
                    col(Payout.status).in_(list(UNRESOLVED_PAYOUT_STATUSES))
                )
            )
        ).all()
    )
    due: list[tuple[ArtisanProfile, Account, int]] = []
    for profile, payable in (await session.exec(active)).all():
        if profile.person_id in waiting_on_payout:
            continue
        available = (await ledger.artisan_balance(session, profile.person_id)).available_cents
        if available >= minimum_cents:
            due.append((profile, payable, available))
    if not due:
        return None

    batch = PayoutBatch(created_at=now)
    session.add(batch)
    await session.flush()
    assert batch.id is not None
    mpesa_float = await ledger.ensure_account(session, ledger.MPESA_FLOAT)
    for profile, payable, amount in due:
        originator_id = str(uuid.uuid4())
        reserve = await ledger.transfer(
            session,
            idempotency_key=f"payout:{originator_id}",
            debit=payable,
            credit=mpesa_float,
            amount_cents=amount,
            phase=TransferPhase.PENDING,
            code=ledger.PAYOUT,
            reference=f"payout batch {batch.id}",
            now=now,
        )
        session.add(
            Payout(
                batch_id=batch.id,
                artisan_id=profile.person_id,
                amount_cents=amount,
                msisdn=profile.mpesa_number,
                pending_transfer_id=reserve.id,
                originator_conversation_id=originator_id,
                created_at=now,
                updated_at=now,
            )
        )
    await session.flush()
    events.record(
        session,
        events.PayoutBatchCreated(
            batch_id=batch.id,
            payout_count=len(due),
            total_cents=sum(amount for _, _, amount in due),
            created_by=created_by,
        ),
    )
    return batch


async def batch_payouts(session: AsyncSession, batch_id: int) -> list[Payout]:
    rows = await session.exec(
        select(Payout).where(Payout.batch_id == batch_id).order_by(col(Payout.id))
    )
    return list(rows.all())


async def batch_total_cents(session: AsyncSession, batch_id: int) -> int:
    return sum(p.amount_cents for p in await batch_payouts(session, batch_id))


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
    """An admin drops a batch before approval; every reserved amount is available again."""
    await _require_admin(session, admin_id, "cancel payouts")
    batch = await _batch(session, batch_id)
    batch.status = PAYOUT_BATCH_TRANSITIONS.check(batch.status, PayoutBatchStatus.CANCELLED)
    batch.closed_at = now
    session.add(batch)
    for payout in await batch_payouts(session, batch_id):
        payout.status = PAYOUT_TRANSITIONS.check(payout.status, PayoutStatus.CANCELLED)
        payout.updated_at = now
        session.add(payout)
        await ledger.void_pending(
            session,
            pending_id=payout.pending_transfer_id,
            idempotency_key=f"payout-void:{payout.originator_conversation_id}",
            now=now,
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
    if batch.status not in (PayoutBatchStatus.APPROVED, PayoutBatchStatus.PROCESSING):
        raise LedgerError(
            f"payout {payout.id} belongs to batch {batch.id}, which is {batch.status}: "
            "only an approved batch is sent to M-Pesa"
        )
    payout.status = PAYOUT_TRANSITIONS.check(payout.status, PayoutStatus.SENDING)
    payout.updated_at = now
    session.add(payout)
    if batch.status is PayoutBatchStatus.APPROVED:
        batch.status = PAYOUT_BATCH_TRANSITIONS.check(batch.status, PayoutBatchStatus.PROCESSING)
        session.add(batch)
    return payout


async def record_conversation_id(
    session: AsyncSession, *, originator_conversation_id: str, conversation_id: str, now: datetime
) -> Payout:
    """Keep M-Pesa's own ConversationID from its answer to the request (the first one wins)."""
    payout = await _payout(session, originator_conversation_id)
    if payout.conversation_id is None:
        payout.conversation_id = conversation_id
        payout.updated_at = now
        session.add(payout)
    return payout


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
    receipt = mpesa_receipt.strip()
    if not receipt:
        raise LedgerError("a successful M-Pesa payment always has a receipt number")
    payout = await _payout(session, originator_conversation_id)
    if payout.status is PayoutStatus.SUCCEEDED:
        if payout.mpesa_receipt != receipt:
            raise LedgerError(
                f"payout {payout.id} was already paid with M-Pesa receipt {payout.mpesa_receipt}, "
                f"and M-Pesa now reports receipt {receipt} for it too: check with Safaricom "
                "whether the artisan was paid twice"
            )
        return payout
    if payout.status in (PayoutStatus.FAILED, PayoutStatus.CANCELLED):
        raise LedgerError(
            f"payout {payout.id} was recorded as {payout.status} "
            f"({payout.result_desc or 'no reason given'}), but M-Pesa now reports it paid with "
            f"receipt {receipt}: its money may already be in a later payout — check with "
            "Safaricom before paying again"
        )
    payout.status = PAYOUT_TRANSITIONS.check(payout.status, PayoutStatus.SUCCEEDED)
    await ledger.post_pending(
        session,
        pending_id=payout.pending_transfer_id,
        idempotency_key=f"payout-post:{originator_conversation_id}",
        now=now,
    )
    payout.mpesa_receipt = receipt
    payout.result_code = str(code)
    payout.result_desc = (result_desc or B2C_RESULT_REASONS[0])[:300]
    payout.updated_at = now
    session.add(payout)
    assert payout.id is not None
    events.record(
        session,
        events.PayoutSucceeded(
            payout_id=payout.id,
            artisan_id=payout.artisan_id,
            amount_cents=payout.amount_cents,
            mpesa_receipt=receipt,
        ),
    )
    await _complete_batch_if_done(session, payout.batch_id, now)
    return payout


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
    payout = await _payout(session, originator_conversation_id)
    if payout.status is PayoutStatus.FAILED:
        return payout
    if payout.status is PayoutStatus.SUCCEEDED:
        raise LedgerError(
            f"payout {payout.id} was already paid (M-Pesa receipt {payout.mpesa_receipt}), but "
            f"a failure ({code}: {result_reason(code)}) arrived for it: the payment stands; "
            "check with Safaricom"
        )
    if payout.status is PayoutStatus.CANCELLED:
        raise LedgerError(
            f"payout {payout.id} was cancelled before it was sent, yet M-Pesa reports on it: "
            "check for a request sent outside Karakana"
        )
    payout.status = PAYOUT_TRANSITIONS.check(payout.status, PayoutStatus.FAILED)
    await ledger.void_pending(
        session,
        pending_id=payout.pending_transfer_id,
        idempotency_key=f"payout-void:{originator_conversation_id}",
        now=now,
    )
    reason = result_reason(code)
    payout.result_code = str(code)
    payout.result_desc = (result_desc or reason)[:300]
    payout.updated_at = now
    session.add(payout)
    assert payout.id is not None
    events.record(
        session,
        events.PayoutFailed(
            payout_id=payout.id,
            artisan_id=payout.artisan_id,
            amount_cents=payout.amount_cents,
            reason=reason,
        ),
    )
    await _complete_batch_if_done(session, payout.batch_id, now)
    return payout


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
