"""Settling payouts from what M-Pesa said: paid posts the reserved money for good, failed voids it.

Exactly one of :func:`settle_success` or :func:`settle_failure` (or :func:`settle_outcomes`, for
many at once) settles a payout. A duplicate callback changes nothing; a contradictory one
(success after failure, or the reverse) is refused and leaves the ledger as it was, for a person
to look into.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from domain import events, ledger
from domain.errors import DomainError, NotFound, PayoutError
from domain.model import PAYOUT_TRANSITIONS, Payout, PayoutStatus, TransferPhase
from domain.payouts._common import PAYOUT_TABLE, complete_batch_if_done, locked_payout
from domain.payouts.result_codes import B2C_RESULT_REASONS, result_code_number, result_reason
from domain.store import in_lists


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
        raise PayoutError(
            f"result code {code} is a failure ({result_reason(code)}), not a success: record it "
            "with settle_failure"
        )
    if not mpesa_receipt.strip():
        raise PayoutError(_NO_RECEIPT)
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
        raise PayoutError("result code 0 means M-Pesa paid: record it with settle_success")
    outcome = PaymentOutcome(originator_conversation_id, code, result_desc=result_desc)
    return await _settle_one(session, outcome, now)


async def _settle_one(session: AsyncSession, outcome: PaymentOutcome, now: datetime) -> Payout:
    (settlement,) = await settle_outcomes(session, [outcome], now=now)
    if settlement.verdict is Verdict.UNKNOWN_ID:
        raise NotFound("payout with originator conversation id", outcome.originator_conversation_id)
    if settlement.refused is not None:
        raise settlement.refused
    return await locked_payout(session, outcome.originator_conversation_id)


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

    The callbacks of a busy batch are settled in groups with this (``bot.payments.runner``), so it
    spends a few statements on the lot rather than a few each: the payouts read and locked in
    one, their pending transfers posted or voided in three (``ledger.resolve_pending_transfers``),
    the payouts updated in one, and each batch touched checked once for completion. The rules are
    those of one payout at a time, applied in order, so a repeat later in the same group is
    UNCHANGED. An outcome that cannot apply (an id we never made, a contradiction, a success
    without a receipt) gets its verdict and changes nothing, not even for the others; anything
    else the database or ledger refuses raises, and nothing of the group is then recorded.

    It reads and writes rows, not the session's objects: a :class:`Payout` already loaded in the
    session is stale afterwards until read again (``locked_payout`` re-reads it).
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
        await complete_batch_if_done(session, batch_id, now)
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
            raise PayoutError(_NO_RECEIPT)
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
            raise PayoutError(
                f"payout {row.id} was already paid with M-Pesa receipt {row.mpesa_receipt}, "
                f"and M-Pesa now reports receipt {receipt} for it too: check with Safaricom "
                "whether the artisan was paid twice"
            )
        return False
    if row.status in (PayoutStatus.FAILED, PayoutStatus.CANCELLED):
        raise PayoutError(
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
        raise PayoutError(
            f"payout {row.id} was already paid (M-Pesa receipt {row.mpesa_receipt}), but "
            f"a failure ({code}: {result_reason(code)}) arrived for it: the payment stands; "
            "check with Safaricom"
        )
    if row.status is PayoutStatus.CANCELLED:
        raise PayoutError(
            f"payout {row.id} was cancelled before it was sent, yet M-Pesa reports on it: "
            "check for a request sent outside Karakana"
        )
    return True


async def _rows_locked(session: AsyncSession, originator_ids: list[str]) -> dict[str, _Row]:
    # Locked in originator id order (sorted, and so in each chunk), so two groups settling at
    # once in two processes cannot deadlock (PostgreSQL; SQLite's BEGIN IMMEDIATE serialises).
    connection = await session.connection()
    columns = [PAYOUT_TABLE.c[name] for name in _SETTLED_COLUMNS]
    rows: dict[str, _Row] = {}
    for some in in_lists(originator_ids):
        result = await connection.execute(
            sa.select(*columns)
            .where(PAYOUT_TABLE.c.originator_conversation_id.in_(some))
            .order_by(PAYOUT_TABLE.c.originator_conversation_id)
            .with_for_update()
        )
        for values in result:
            row = _Row(*values)
            rows[row.originator_conversation_id] = row
    return rows


_SETTLE_ROW = (
    PAYOUT_TABLE.update()
    .where(
        PAYOUT_TABLE.c.id == sa.bindparam("row_id"),
        PAYOUT_TABLE.c.status == sa.bindparam("read_as"),
    )
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
        raise PayoutError(
            f"{len(changed) - result.rowcount} payout(s) changed while being settled; nothing "
            "of this group was recorded"
        )
