"""Whom money goes to: the audit trail of M-Pesa number changes, and payee name checks.

An artisan's new M-Pesa number is not used until someone other than the artisan (their field
agent or an admin) confirms it; every request and confirmation stays here as a row. A payout
whose receiver, by M-Pesa's account, is not the artisan we registered holds the artisan's next
payouts until someone clears it (``domain/payouts/payees.py``).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from domain.model.columns import UTCDateTime, enum_type


class NumberChangeStatus(StrEnum):
    PENDING = "pending"  # asked for; payouts are held until it is confirmed
    CONFIRMED = "confirmed"  # the number is the artisan's payout number now
    SUPERSEDED = "superseded"  # the artisan asked for another number before this one was confirmed


class MpesaNumberChange(SQLModel, table=True):
    """One request to change an artisan's M-Pesa number, and who confirmed it.

    The old and new numbers are kept masked for the trail; ``new_number`` is the full number
    to apply on confirmation.
    """

    __tablename__ = "mpesa_number_change"

    id: int | None = Field(default=None, primary_key=True)
    artisan_id: int = Field(foreign_key="person.id", index=True)
    old_masked: str = Field(max_length=16)
    new_masked: str = Field(max_length=16)
    new_number: str = Field(max_length=16)
    status: NumberChangeStatus = Field(
        default=NumberChangeStatus.PENDING, sa_type=enum_type(NumberChangeStatus), index=True
    )
    requested_by: int = Field(foreign_key="person.id")
    requested_at: datetime = Field(sa_type=UTCDateTime())
    confirmed_by: int | None = Field(default=None, foreign_key="person.id")
    confirmed_at: datetime | None = Field(default=None, sa_type=UTCDateTime())


class PayeeCheckStatus(StrEnum):
    HELD = "held"  # the receiver's name did not match: the artisan's payouts wait
    CLEARED = "cleared"  # someone confirmed the receiver is the artisan


class PayeeCheck(SQLModel, table=True):
    """A paid payout whose receiver name (M-Pesa's ``ReceiverPartyPublicName``) did not match
    the artisan's registered name."""

    __tablename__ = "payee_check"

    id: int | None = Field(default=None, primary_key=True)
    artisan_id: int = Field(foreign_key="person.id", index=True)
    payout_id: int = Field(foreign_key="payout.id", unique=True)
    registered_name: str = Field(max_length=80)
    receiver_name: str = Field(max_length=120)
    status: PayeeCheckStatus = Field(
        default=PayeeCheckStatus.HELD, sa_type=enum_type(PayeeCheckStatus), index=True
    )
    created_at: datetime = Field(sa_type=UTCDateTime())
    cleared_by: int | None = Field(default=None, foreign_key="person.id")
    cleared_at: datetime | None = Field(default=None, sa_type=UTCDateTime())


class FloatQueryStatus(StrEnum):
    ASKED = "asked"  # sent to M-Pesa; its answer comes by callback
    ANSWERED = "answered"  # M-Pesa said what the float holds
    FAILED = "failed"  # M-Pesa could not say (an error result, or a queue timeout)


class FloatBalanceQuery(SQLModel, table=True):
    """One Account Balance query about the B2C shortcode, and M-Pesa's answer.

    ``available_cents`` is what B2C payouts can draw on (``domain/payouts/float.py``).
    """

    __tablename__ = "float_balance_query"

    id: int | None = Field(default=None, primary_key=True)
    status: FloatQueryStatus = Field(
        default=FloatQueryStatus.ASKED, sa_type=enum_type(FloatQueryStatus), index=True
    )
    asked_at: datetime = Field(sa_type=UTCDateTime())
    answered_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
    available_cents: int | None = Field(default=None, sa_type=sa.BigInteger())
    result_desc: str | None = Field(default=None, max_length=300)
