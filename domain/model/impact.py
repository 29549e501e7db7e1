"""What artisans chose to tell us for the impact reports, and the income statements they take to a
lender.

``ImpactAnswers`` holds two optional answers, given with consent at registration or later from the
artisan's menu: the income they had before joining (per month) and whether their workshop is led
by a woman. No row, or a None answer, means they did not say. Only staff reports read them, and
only in groups of five people or more (domain/impact.py); no other artisan ever sees them.

``IncomeStatement`` is one month's statement as printed on the PDF: its totals are frozen when it
is issued, so ``/verify/<code>`` shows a lender exactly what the paper says. Only a hash of the
code is stored; a revoked statement verifies no more.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from domain.limits import MAX_MONEY_CENTS
from domain.model.columns import UTCDateTime, enum_type, within


class WomenLed(StrEnum):
    YES = "yes"
    NO = "no"
    PREFER_NOT_TO_SAY = "prefer_not_to_say"


class ImpactAnswers(SQLModel, table=True):
    __tablename__ = "impact_answers"
    __table_args__ = (within("prior_income_cents", 0, MAX_MONEY_CENTS),)

    person_id: int = Field(foreign_key="person.id", primary_key=True)
    consented_at: datetime = Field(sa_type=UTCDateTime())
    # Income per month before joining Karakana, as the artisan told it; None: not told.
    prior_income_cents: int | None = Field(default=None, ge=0)
    women_led: WomenLed | None = Field(default=None, sa_type=enum_type(WomenLed))
    updated_at: datetime = Field(sa_type=UTCDateTime())


class IncomeStatement(SQLModel, table=True):
    """One month's statement of an artisan's income, as printed; found by its code's hash."""

    __tablename__ = "income_statement"

    id: int | None = Field(default=None, primary_key=True)
    code_hash: str = Field(max_length=64, unique=True)  # sha256 hex of the printed code
    artisan_id: int = Field(foreign_key="person.id", index=True)
    artisan_name: str = Field(max_length=80)  # as printed
    month: date  # the first day of the month covered
    pieces: int = Field(ge=0)
    earned_cents: int = Field(ge=0)
    deductions_cents: int = Field(ge=0)
    paid_cents: int = Field(ge=0)
    issued_at: datetime = Field(sa_type=UTCDateTime())
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
