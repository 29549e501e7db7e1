"""What SMS budgets remember: that admins were told, once a day, that a budget stopped messages."""

from __future__ import annotations

from datetime import date, datetime

from sqlmodel import Field, SQLModel

from domain.model.columns import UTCDateTime


class SmsBudgetAlert(SQLModel, table=True):
    """Admins were told on ``day`` that the SMS budget ``scope`` ("factory" or "person:<id>") was
    reached; the primary key makes the telling happen once a day per scope."""

    __tablename__ = "sms_budget_alert"

    day: date = Field(primary_key=True)
    scope: str = Field(primary_key=True, max_length=32)
    told_at: datetime = Field(sa_type=UTCDateTime())
