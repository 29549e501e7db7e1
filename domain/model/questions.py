"""Questions artisans put to a person: their area's field agent, or the admins when the area
has none. Each is numbered (its id), answered once, and reminded about once if it waits."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from domain.limits import MAX_QUESTION_LENGTH
from domain.model.columns import UTCDateTime


class Question(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    artisan_id: int = Field(foreign_key="person.id", index=True)
    # The artisan's area when they asked: whose field agents answer it (none: the admins).
    area: str | None = Field(default=None, max_length=60)
    text: str = Field(max_length=MAX_QUESTION_LENGTH)
    asked_at: datetime = Field(sa_type=UTCDateTime(), index=True)
    answer: str | None = Field(default=None, max_length=MAX_QUESTION_LENGTH)
    answered_by: int | None = Field(default=None, foreign_key="person.id")
    answered_at: datetime | None = Field(default=None, sa_type=UTCDateTime(), index=True)
    # When whoever answers it was reminded that it still waits (once per question).
    reminded_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
