"""The staff console's login: one-time codes, the attempts that rate-limit them, and sessions.

Nothing secret is stored in clear: a code and a session token are kept only as a keyed digest
(HMAC-SHA256 with the console's secret key, computed by ``domain.services.console_login``), and
a phone number asked about only as a digest too, so these tables tell a reader of the database
neither a working code nor which numbers were tried.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from domain.model.columns import UTCDateTime, enum_type


class LoginAttemptKind(StrEnum):
    CODE_ASKED = "code_asked"  # someone asked for a code for a number (staff's or not)
    CODE_WRONG = "code_wrong"  # a code was typed that did not open a session


class ConsoleLoginAttempt(SQLModel, table=True):
    """One request or failed try, counted per number and per client address for the limits."""

    __tablename__ = "console_login_attempt"

    id: int | None = Field(default=None, primary_key=True)
    kind: LoginAttemptKind = Field(sa_type=enum_type(LoginAttemptKind))
    number_digest: str = Field(max_length=64, index=True)
    client: str = Field(max_length=64, index=True)
    at: datetime = Field(sa_type=UTCDateTime(), index=True)


class ConsoleLoginCode(SQLModel, table=True):
    """A one-time code sent to a staff member's own chat: short-lived, single use."""

    __tablename__ = "console_login_code"

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    code_digest: str = Field(max_length=64)
    created_at: datetime = Field(sa_type=UTCDateTime())
    expires_at: datetime = Field(sa_type=UTCDateTime())
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
    wrong_tries: int = Field(default=0, ge=0)


class ConsoleSession(SQLModel, table=True):
    """A signed-in browser: its token's digest, until it expires or is ended (``/logout_all``)."""

    __tablename__ = "console_session"

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    token_digest: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(sa_type=UTCDateTime())
    expires_at: datetime = Field(sa_type=UTCDateTime())
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
