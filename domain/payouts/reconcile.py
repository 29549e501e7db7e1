"""``karakana payouts reconcile``: the ledger against what M-Pesa said, every difference listed.

Checked for every payout: its status agrees with the ledger (paid <-> the reservation posted,
failed or cancelled <-> voided, in flight <-> still reserved), the amounts agree, a paid payout
has its M-Pesa receipt, and nothing has been in doubt for longer than ``stale_after``. Given the
M-Pesa organisation statement (receipt, amount, originator id per B2C payment, e.g. exported
from the M-Pesa portal and read by :mod:`domain.payouts.statement`), it also lists payments
M-Pesa made that the ledger does not show as paid, payouts the ledger shows as paid that M-Pesa
does not list, and payments whose amount or recipient number differs from the payout's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import col, select

from domain.model import Payout, PayoutStatus, Person, Transfer, TransferPhase
from domain.payouts.statement import StatementPayment, same_number
from domain.phone import mask
from domain.store import Store

COLUMNS = ("Payout", "Artisan", "Phone", "Amount (KSh)", "Status", "Difference")


@dataclass(frozen=True, slots=True)
class StatementLine:
    """One B2C payment on M-Pesa's statement."""

    receipt: str
    amount_cents: int
    originator_conversation_id: str | None = None
    recipient: str | None = None  # the number M-Pesa paid, as the statement shows it

    @classmethod
    def from_statement(cls, payment: StatementPayment) -> StatementLine:
        return cls(
            payment.receipt,
            payment.amount_cents,
            recipient=payment.recipient_number or None,
        )


@dataclass(frozen=True, slots=True)
class Difference:
    payout_id: int | None
    artisan: str
    phone: str
    amount_cents: int
    status: str
    problem: str

    def as_row(self) -> tuple[str, ...]:
        """Strings in ``COLUMNS`` order, for a rich table."""
        whole, part = divmod(self.amount_cents, 100)
        return (
            "-" if self.payout_id is None else str(self.payout_id),
            self.artisan,
            self.phone,
            f"{whole:,}.{part:02d}",
            self.status,
            self.problem,
        )


_EXPECTED_RESOLUTION = {
    PayoutStatus.SUCCEEDED: TransferPhase.POST_PENDING,
    PayoutStatus.FAILED: TransferPhase.VOID_PENDING,
    PayoutStatus.CANCELLED: TransferPhase.VOID_PENDING,
}


async def reconcile_payouts(
    store: Store,
    *,
    now: datetime,
    statement: Sequence[StatementLine] | None = None,
    stale_after: timedelta = timedelta(hours=1),
) -> list[Difference]:
    """Every difference between the ledger, the payouts and (if given) M-Pesa's statement."""
    async with store.read() as session:
        rows = (
            await session.exec(
                select(Payout, Person)
                .join(Person, col(Person.id) == col(Payout.artisan_id))
                .order_by(col(Payout.id))
            )
        ).all()
        pending_ids = [p.pending_transfer_id for p, _ in rows]
        transfers = {
            t.id: t
            for t in (
                await session.exec(select(Transfer).where(col(Transfer.id).in_(pending_ids)))
            ).all()
        }
        resolutions = {
            t.pending_id: t
            for t in (
                await session.exec(
                    select(Transfer).where(col(Transfer.pending_id).in_(pending_ids))
                )
            ).all()
        }
        found: list[Difference] = []
        for payout, person in rows:
            found += _check(payout, person, transfers, resolutions, now, stale_after)
        if statement is not None:
            found += _against_statement([p for p, _ in rows], dict(rows_by_id(rows)), statement)
    return found


def rows_by_id(rows: Sequence[tuple[Payout, Person]]) -> list[tuple[int | None, Person]]:
    return [(p.id, person) for p, person in rows]


def _difference(payout: Payout, person: Person | None, problem: str) -> Difference:
    return Difference(
        payout_id=payout.id,
        artisan=person.name if person else str(payout.artisan_id),
        phone=mask(payout.msisdn),
        amount_cents=payout.amount_cents,
        status=payout.status.value,
        problem=problem,
    )


def _check(
    payout: Payout,
    person: Person,
    transfers: dict[str, Transfer],
    resolutions: dict[str | None, Transfer],
    now: datetime,
    stale_after: timedelta,
) -> list[Difference]:
    problems: list[str] = []
    reserve = transfers.get(payout.pending_transfer_id)
    resolution = resolutions.get(payout.pending_transfer_id)
    if reserve is None:
        problems.append("no ledger reservation for this payout")
    elif reserve.amount_cents != payout.amount_cents:
        problems.append(
            f"the ledger reserved {reserve.amount_cents} cents, the payout is {payout.amount_cents}"
        )
    expected = _EXPECTED_RESOLUTION.get(payout.status)
    if expected is None:  # still in flight
        if resolution is not None:
            problems.append(f"still {payout.status.value}, but the ledger {resolution.phase.value}")
        if payout.status is not PayoutStatus.PENDING and now - payout.updated_at > stale_after:
            problems.append(
                f"in doubt since {payout.updated_at:%Y-%m-%d %H:%M} UTC: no result from M-Pesa"
            )
    elif resolution is None:
        problems.append(f"{payout.status.value}, but the ledger still holds the money in flight")
    elif resolution.phase is not expected:
        problems.append(f"{payout.status.value}, but the ledger {resolution.phase.value}")
    if payout.status is PayoutStatus.SUCCEEDED and not payout.mpesa_receipt:
        problems.append("paid, but no M-Pesa receipt is recorded")
    return [_difference(payout, person, p) for p in problems]


def _shown(number: str) -> str:
    """A statement's number as logs show numbers: masked, unless the portal masked it."""
    return number if "*" in number else mask("+" + number.lstrip("+"))


def _against_statement(
    payouts: Sequence[Payout],
    people: dict[int | None, Person],
    statement: Sequence[StatementLine],
) -> list[Difference]:
    found: list[Difference] = []
    by_receipt = {p.mpesa_receipt: p for p in payouts if p.mpesa_receipt}
    by_originator = {p.originator_conversation_id: p for p in payouts}
    listed: set[int | None] = set()
    for line in statement:
        payout = by_receipt.get(line.receipt) or (
            by_originator.get(line.originator_conversation_id or "")
        )
        if payout is None:
            found.append(
                Difference(
                    None,
                    "?",
                    "?",
                    line.amount_cents,
                    "not in the ledger",
                    f"M-Pesa paid {line.receipt}, which no payout records",
                )
            )
            continue
        listed.add(payout.id)
        person = people.get(payout.id)
        if payout.status is not PayoutStatus.SUCCEEDED:
            found.append(
                _difference(payout, person, f"M-Pesa paid it ({line.receipt}); the ledger does not")
            )
        elif payout.mpesa_receipt != line.receipt:
            found.append(
                _difference(
                    payout,
                    person,
                    f"receipt {payout.mpesa_receipt} recorded, M-Pesa lists {line.receipt}",
                )
            )
        if line.amount_cents != payout.amount_cents:
            found.append(_difference(payout, person, f"M-Pesa paid {line.amount_cents} cents"))
        if line.recipient and not same_number(line.recipient, payout.msisdn):
            found.append(
                _difference(
                    payout,
                    person,
                    f"M-Pesa paid {line.receipt} to {_shown(line.recipient)}, not to the "
                    "payout's number",
                )
            )
    for payout in payouts:
        if payout.status is PayoutStatus.SUCCEEDED and payout.id not in listed:
            found.append(
                _difference(
                    payout,
                    people.get(payout.id),
                    f"paid in the ledger ({payout.mpesa_receipt}), not on M-Pesa's statement",
                )
            )
    return found
