"""Where one USSD session stands: the screen shown, the answers so far, the last answer given.

Africa's Talking posts every step of a USSD session with the whole path typed so far (``text``,
the answers joined by ``*``) and the session's id. A row per ``session_id`` keeps the screen the
person is on and what it listed (so "2" means the offer that was second on *that* screen), and the
``text`` and ``response`` of the last step: a request repeating that ``text`` is a replay and gets
the same response, changing nothing. ``version`` refuses a stale write from a concurrent copy.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from domain.model.columns import UTCDateTime

MAX_USSD_SESSION_ID = 100
MAX_USSD_TEXT = 2000  # the whole path of answers; the gateway's own limit is far below


class UssdSession(SQLModel, table=True):
    __tablename__ = "ussd_session"

    session_id: str = Field(max_length=MAX_USSD_SESSION_ID, primary_key=True)
    phone: str = Field(max_length=16, description="E.164, as the SMS identity's address")
    text: str = Field(default="", sa_type=sa.Text(), description="the path of the last step")
    screen: str = Field(max_length=40)
    data: str = Field(default="{}", sa_type=sa.Text(), description="the screen's state as JSON")
    response: str = Field(default="", sa_type=sa.Text(), description="what the last step said")
    version: int = Field(default=0, ge=0)
    created_at: datetime = Field(sa_type=UTCDateTime())
    updated_at: datetime = Field(sa_type=UTCDateTime(), index=True)
