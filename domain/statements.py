"""An artisan's monthly statement of income, from the ledger, and the codes that let a lender
check a printed one.

The figures are the ledger's (domain/ledger.py): *earnings* are the transfers credited to the
artisan's payable in the month for work received (``earning``) or written off as paid
(``write_off``); *deductions* are the reversals of earnings debited from it that month (a receipt
counted wrong and corrected); *payments* are the payouts M-Pesa confirmed that month, each with
its receipt. Pieces are those counted in on the deliveries the month's earnings pay for. Months
are the factory's (Nairobi time).

A statement taken as a PDF is *issued*: its totals are frozen in ``IncomeStatement`` under a
random code (``CODE_LENGTH`` characters of Crockford's base32: 60 bits from ``secrets``), of
which only the SHA-256 is stored. ``GET /verify/<code>`` shows those totals, the period and the
name, and nothing else; the artisan may revoke a statement, after which it verifies no more.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, tzinfo

import sqlalchemy as sa
from sqlalchemy import ColumnElement
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.errors import Forbidden, NotFound
from domain.explosion import FACTORY_ZONE
from domain.impact import add_months
from domain.ledger import EARNING, REVERSAL, WRITE_OFF
from domain.model import (
    Account,
    Delivery,
    IncomeStatement,
    Payout,
    PayoutStatus,
    Person,
    Transfer,
)

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base32: no I, L, O or U
CODE_LENGTH = 12  # 12 x 5 = 60 bits
_READ_AS = str.maketrans({"I": "1", "L": "1", "O": "0", "U": "V"})


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of the statement: when, what, how much (cents, positive)."""

    at: datetime
    amount_cents: int
    reference: str  # delivery:12, write_off:3, or the M-Pesa receipt of a payment
    pieces: int | None = None


@dataclass(frozen=True, slots=True)
class MonthStatement:
    artisan_id: int
    name: str
    month: date  # first day
    earnings: tuple[Entry, ...]
    deductions: tuple[Entry, ...]
    payments: tuple[Entry, ...]

    @property
    def pieces(self) -> int:
        return sum(e.pieces or 0 for e in self.earnings)

    @property
    def earned_cents(self) -> int:
        return sum(e.amount_cents for e in self.earnings)

    @property
    def deductions_cents(self) -> int:
        return sum(e.amount_cents for e in self.deductions)

    @property
    def paid_cents(self) -> int:
        return sum(e.amount_cents for e in self.payments)

    @property
    def net_cents(self) -> int:
        return self.earned_cents - self.deductions_cents


def month_bounds(month: date, zone: tzinfo = FACTORY_ZONE) -> tuple[datetime, datetime]:
    """The month's first instant and the next month's, at the factory."""
    first = month.replace(day=1)
    return (
        datetime.combine(first, time(0), tzinfo=zone),
        datetime.combine(add_months(first, 1), time(0), tzinfo=zone),
    )


async def month_statement(
    session: AsyncSession, artisan_id: int, month: date, *, zone: tzinfo = FACTORY_ZONE
) -> MonthStatement:
    """What the ledger says an artisan earned, lost to corrections and was paid in ``month``."""
    person = await session.get(Person, artisan_id)
    if person is None:
        raise NotFound("artisan", artisan_id)
    start, end = month_bounds(month, zone)
    payable = aliased(Account)

    def in_month(column: datetime) -> ColumnElement[bool]:
        return sa.and_(col(column) >= start, col(column) < end)

    earned = (
        await session.exec(
            select(Transfer)
            .join(payable, col(payable.id) == col(Transfer.credit_account_id))
            .where(
                payable.artisan_id == artisan_id,
                col(Transfer.code).in_((EARNING, WRITE_OFF)),
                in_month(Transfer.created_at),
            )
            .order_by(col(Transfer.created_at), col(Transfer.id))
        )
    ).all()
    deducted = (
        await session.exec(
            select(Transfer)
            .join(payable, col(payable.id) == col(Transfer.debit_account_id))
            .where(
                payable.artisan_id == artisan_id,
                Transfer.code == REVERSAL,
                in_month(Transfer.created_at),
            )
            .order_by(col(Transfer.created_at), col(Transfer.id))
        )
    ).all()
    paid = (
        await session.exec(
            select(Payout)
            .where(
                Payout.artisan_id == artisan_id,
                Payout.status == PayoutStatus.SUCCEEDED,
                in_month(Payout.updated_at),
            )
            .order_by(col(Payout.updated_at), col(Payout.id))
        )
    ).all()
    delivery_ids = [
        int(t.reference.removeprefix("delivery:"))
        for t in earned
        if t.reference.startswith("delivery:") and t.reference[9:].isdigit()
    ]
    pieces = (
        {
            d.id: min(d.received_quantity or 0, d.declared_quantity)
            for d in (
                await session.exec(select(Delivery).where(col(Delivery.id).in_(delivery_ids)))
            ).all()
        }
        if delivery_ids
        else {}
    )

    def pieces_of(reference: str) -> int | None:
        head, _, number = reference.partition(":")
        return pieces.get(int(number)) if head == "delivery" and number.isdigit() else None

    return MonthStatement(
        artisan_id=artisan_id,
        name=person.name,
        month=month.replace(day=1),
        earnings=tuple(
            Entry(t.created_at, t.amount_cents, t.reference, pieces_of(t.reference)) for t in earned
        ),
        deductions=tuple(Entry(t.created_at, t.amount_cents, t.reference) for t in deducted),
        payments=tuple(Entry(p.updated_at, p.amount_cents, p.mpesa_receipt or "-") for p in paid),
    )


# --- codes a lender checks ------------------------------------------------------------------


def new_code() -> str:
    """A fresh code, grouped for reading aloud: ``7KQ2-M9XD-04TB``."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, CODE_LENGTH, 4))


def normalise_code(text: str) -> str | None:
    """The code as stored (upper case, no dashes or spaces, look-alikes read as Crockford
    does), or None when it cannot be one (wrong length or characters)."""
    cleaned = "".join(text.split()).replace("-", "").upper().translate(_READ_AS)
    if len(cleaned) != CODE_LENGTH or any(ch not in ALPHABET for ch in cleaned):
        return None
    return cleaned


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


async def issue_statement(
    session: AsyncSession, statement: MonthStatement, *, now: datetime
) -> tuple[IncomeStatement, str]:
    """Freeze the statement's totals under a new code; returns the row and the code (shown once:
    only its hash is kept)."""
    code = new_code()
    normalised = normalise_code(code)
    assert normalised is not None
    issued = IncomeStatement(
        code_hash=code_hash(normalised),
        artisan_id=statement.artisan_id,
        artisan_name=statement.name,
        month=statement.month,
        pieces=statement.pieces,
        earned_cents=statement.earned_cents,
        deductions_cents=statement.deductions_cents,
        paid_cents=statement.paid_cents,
        issued_at=now,
    )
    session.add(issued)
    await session.flush()
    return issued, code


async def verified_statement(session: AsyncSession, code: str) -> IncomeStatement | None:
    """The statement a code proves, or None when the code is malformed, unknown or revoked.

    Every code costs the same one indexed lookup by a hash, found or not (a malformed one by the
    hash of what was typed, which no issued code has), so the time taken tells nothing."""
    normalised = normalise_code(code)
    digest = code_hash(normalised) if normalised is not None else code_hash("x" + code[:40])
    found = (
        await session.exec(select(IncomeStatement).where(IncomeStatement.code_hash == digest))
    ).first()
    if normalised is None or found is None or found.revoked_at is not None:
        return None
    return found


async def revoke_statement(
    session: AsyncSession, *, statement_id: int, artisan_id: int, now: datetime
) -> IncomeStatement:
    """The artisan withdraws one of their statements: its code verifies no more. Revoking twice
    changes nothing; another artisan's statement is refused."""
    found = await session.get(IncomeStatement, statement_id, with_for_update=True)
    if found is None:
        raise NotFound("statement", statement_id)
    if found.artisan_id != artisan_id:
        raise Forbidden(f"statement {statement_id} is not artisan {artisan_id}'s")
    if found.revoked_at is None:
        found.revoked_at = now
        session.add(found)
        await session.flush()
    return found


async def live_statements(session: AsyncSession, artisan_id: int) -> list[IncomeStatement]:
    """The artisan's statements that still verify, newest first."""
    return list(
        (
            await session.exec(
                select(IncomeStatement)
                .where(
                    IncomeStatement.artisan_id == artisan_id,
                    col(IncomeStatement.revoked_at).is_(None),
                )
                .order_by(col(IncomeStatement.id).desc())
            )
        ).all()
    )
