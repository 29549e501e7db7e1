"""Staff log in to the web console with a one-time code sent over their own chat.

The rules, each shown by ``tests/integration/test_staff_console.py``:

- a code goes only to a field agent or an admin whose WhatsApp or SMS number was typed; for
  anyone else (an artisan, a stranger, a mistyped number) nothing is sent and the caller gives the
  same answer, so the page tells nobody whether a number is known;
- codes are six digits, live ``code_ttl``, are used once, and die after ``wrong_per_code`` wrong
  tries; asking again replaces the code not used yet;
- asking for codes and typing wrong ones are rate-limited per number and per client address;
- codes and session tokens are stored only as keyed digests (HMAC-SHA256 with the console's
  secret key), and compared in constant time;
- a session lasts ``session_ttl`` and ends early by logging out, or by ``/logout_all`` in chat,
  which ends every session of that person.

Randomness (codes, tokens) and the key are handed in by the caller (``bot/console/auth.py``).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.model import (
    Channel,
    ChannelIdentity,
    ConsoleLoginAttempt,
    ConsoleLoginCode,
    ConsoleSession,
    LoginAttemptKind,
    Person,
    Role,
)
from domain.phone import InvalidPhoneNumber, normalise_kenyan_mobile

STAFF = (Role.ADMIN, Role.FIELD_AGENT)
CODE_DIGITS = 6
# Channels whose address is the person's phone number.
_PHONE_CHANNELS = (Channel.WHATSAPP, Channel.SMS)


@dataclass(frozen=True, slots=True)
class LoginPolicy:
    """How long codes and sessions live, and how many tries the limits allow per ``window``."""

    code_ttl: timedelta = timedelta(minutes=10)
    session_ttl: timedelta = timedelta(hours=12)
    window: timedelta = timedelta(minutes=15)
    codes_per_number: int = 3
    codes_per_client: int = 10
    wrong_per_number: int = 5
    wrong_per_client: int = 10
    wrong_per_code: int = 5


class Asked(StrEnum):
    SENT = "sent"  # a staff member's number: the caller sends the code
    NOBODY = "nobody"  # not a staff number (or not a number): nothing is sent, same answer
    LIMITED = "limited"  # too many codes asked for this number or from this client


@dataclass(frozen=True, slots=True)
class CodeRequest:
    outcome: Asked
    person: Person | None = None  # who to send ``code`` to, when SENT


class Checked(StrEnum):
    OPENED = "opened"
    WRONG = "wrong"  # wrong, used, expired, or not a staff number: one answer for all
    LIMITED = "limited"


def digest(key: bytes, purpose: str, value: str) -> str:
    """The keyed digest stored instead of a secret value (hex HMAC-SHA256)."""
    return hmac.new(key, f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()


def phone_number(text: str) -> str | None:
    """The E.164 form of a typed Kenyan mobile number, or None."""
    try:
        return normalise_kenyan_mobile(text[:40])
    except InvalidPhoneNumber:
        return None


def number_digest(key: bytes, text: str) -> str:
    """What the limits count a number as: its E.164 form's digest (typed forms of one number
    count together), or the digest of the text typed when it is no number at all."""
    return digest(key, "number", phone_number(text) or text.strip()[:40])


async def staff_with_number(session: AsyncSession, number: str) -> Person | None:
    """The field agent or admin who chats from this E.164 number (WhatsApp or SMS), if any."""
    addresses = [number, number.removeprefix("+"), f"whatsapp:{number}"]
    found = await session.exec(
        select(Person)
        .join(ChannelIdentity, col(ChannelIdentity.person_id) == col(Person.id))
        .where(
            col(ChannelIdentity.channel).in_(_PHONE_CHANNELS),
            col(ChannelIdentity.address).in_(addresses),
            col(Person.role).in_(STAFF),
        )
        .order_by(col(Person.id))
    )
    return found.first()


async def _attempts(
    session: AsyncSession, kind: LoginAttemptKind, since: datetime, **where: str
) -> int:
    statement = select(func.count()).where(
        ConsoleLoginAttempt.kind == kind, col(ConsoleLoginAttempt.at) > since
    )
    for column, value in where.items():
        statement = statement.where(getattr(ConsoleLoginAttempt, column) == value)
    return int((await session.exec(statement)).one())


async def request_code(
    session: AsyncSession,
    *,
    key: bytes,
    number_text: str,
    client: str,
    code: str,
    now: datetime,
    policy: LoginPolicy = LoginPolicy(),
) -> CodeRequest:
    """Record a request for a code and, for a staff number within the limits, store ``code``'s
    digest (replacing any code of theirs not used yet). The caller sends the code."""
    number_key = number_digest(key, number_text)
    client = client[:64]
    since = now - policy.window
    if (
        await _attempts(session, LoginAttemptKind.CODE_ASKED, since, number_digest=number_key)
        >= policy.codes_per_number
        or await _attempts(session, LoginAttemptKind.CODE_ASKED, since, client=client)
        >= policy.codes_per_client
    ):
        return CodeRequest(Asked.LIMITED)
    session.add(
        ConsoleLoginAttempt(
            kind=LoginAttemptKind.CODE_ASKED, number_digest=number_key, client=client, at=now
        )
    )
    number = phone_number(number_text)
    person = None if number is None else await staff_with_number(session, number)
    if person is None or person.id is None:
        await session.flush()
        return CodeRequest(Asked.NOBODY)
    await (await session.connection()).execute(
        sa.update(ConsoleLoginCode)
        .where(
            col(ConsoleLoginCode.person_id) == person.id,
            col(ConsoleLoginCode.used_at).is_(None),
        )
        .values(used_at=now)
    )
    session.add(
        ConsoleLoginCode(
            person_id=person.id,
            code_digest=digest(key, f"code:{person.id}", code),
            created_at=now,
            expires_at=now + policy.code_ttl,
        )
    )
    await session.flush()
    return CodeRequest(Asked.SENT, person)


async def check_code(
    session: AsyncSession,
    *,
    key: bytes,
    number_text: str,
    code: str,
    client: str,
    token: str,
    now: datetime,
    policy: LoginPolicy = LoginPolicy(),
) -> tuple[Checked, Person | None]:
    """Open a session under ``token`` when ``code`` is the live code sent to this number.

    A wrong, used or expired code, or a number that is not staff, is one answer (WRONG) and
    counts against the limits; over them, even the right code is refused (LIMITED)."""
    number_key = number_digest(key, number_text)
    client = client[:64]
    since = now - policy.window
    if (
        await _attempts(session, LoginAttemptKind.CODE_WRONG, since, number_digest=number_key)
        >= policy.wrong_per_number
        or await _attempts(session, LoginAttemptKind.CODE_WRONG, since, client=client)
        >= policy.wrong_per_client
    ):
        return Checked.LIMITED, None
    number = phone_number(number_text)
    person = None if number is None else await staff_with_number(session, number)
    live = None
    if person is not None:
        live = (
            await session.exec(
                select(ConsoleLoginCode)
                .where(
                    ConsoleLoginCode.person_id == person.id,
                    col(ConsoleLoginCode.used_at).is_(None),
                    col(ConsoleLoginCode.expires_at) > now,
                    col(ConsoleLoginCode.wrong_tries) < policy.wrong_per_code,
                )
                .order_by(col(ConsoleLoginCode.id).desc())
                .with_for_update()
            )
        ).first()
    typed = "".join(code.split())[: CODE_DIGITS * 2]
    expected = digest(key, "code:none", "") if live is None else live.code_digest
    given = digest(key, f"code:{0 if person is None else person.id}", typed)
    if live is not None and person is not None and hmac.compare_digest(expected, given):
        live.used_at = now
        session.add(live)
        assert person.id is not None
        session.add(
            ConsoleSession(
                person_id=person.id,
                token_digest=digest(key, "session", token),
                created_at=now,
                expires_at=now + policy.session_ttl,
            )
        )
        await session.flush()
        return Checked.OPENED, person
    if live is not None:
        live.wrong_tries += 1
        session.add(live)
    session.add(
        ConsoleLoginAttempt(
            kind=LoginAttemptKind.CODE_WRONG, number_digest=number_key, client=client, at=now
        )
    )
    await session.flush()
    return Checked.WRONG, None


async def session_person(
    session: AsyncSession, *, key: bytes, token: str, now: datetime
) -> Person | None:
    """The staff member signed in under ``token``: None when the session is unknown, ended,
    expired, or its person is no longer a field agent or an admin."""
    row = (
        await session.exec(
            select(ConsoleSession, Person)
            .join(Person, col(Person.id) == col(ConsoleSession.person_id))
            .where(
                ConsoleSession.token_digest == digest(key, "session", token),
                col(ConsoleSession.ended_at).is_(None),
                col(ConsoleSession.expires_at) > now,
            )
        )
    ).first()
    if row is None or row[1].role not in STAFF:
        return None
    return row[1]


async def end_session(session: AsyncSession, *, key: bytes, token: str, now: datetime) -> None:
    """Log this browser out."""
    await (await session.connection()).execute(
        sa.update(ConsoleSession)
        .where(
            col(ConsoleSession.token_digest) == digest(key, "session", token),
            col(ConsoleSession.ended_at).is_(None),
        )
        .values(ended_at=now)
    )


async def end_all_sessions(session: AsyncSession, *, person_id: int, now: datetime) -> int:
    """End every console session of a person (``/logout_all``); how many were open."""
    result = await (await session.connection()).execute(
        sa.update(ConsoleSession)
        .where(
            col(ConsoleSession.person_id) == person_id,
            col(ConsoleSession.ended_at).is_(None),
            col(ConsoleSession.expires_at) > now,
        )
        .values(ended_at=now)
    )
    return int(result.rowcount or 0)
