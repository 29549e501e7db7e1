"""Messages that will not reach anyone without an admin: listing them, and sending one again.

The one implementation both the admins' chat commands (``/deadletters``, ``/retry``) and the
outbox dispatcher's helpers use. A message needs an admin when it is a dead letter (out of
attempts), failed for good with the provider's reason (63016 window, 63041/21656 template...), or
is held: for a WhatsApp template the person has not opened the window for, or because nobody
sends on its channel (WhatsApp or Telegram not configured, as in the local demo).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.errors import IllegalTransition, NotFound
from domain.model import OUTBOX_TRANSITIONS, OutboxMessage, OutboxStatus, Person

HELD = "no_template"
"""``error_code`` of a queued WhatsApp message waiting for the person to open the window."""

NO_SENDER = "no_channel"
"""``error_code`` of a queued message whose channel has no sender configured: it waits until
the channel is configured (the outbox dispatcher marks them; see ``bot.channels.dispatcher``)."""

HELD_CODES = (HELD, NO_SENDER)

RETRYABLE = (OutboxStatus.DEAD, OutboxStatus.FAILED)

IS_HELD = sa.and_(
    col(OutboxMessage.status) == OutboxStatus.QUEUED,
    col(OutboxMessage.error_code).in_(HELD_CODES),
)

_NEEDS_AN_ADMIN = sa.or_(col(OutboxMessage.status).in_(RETRYABLE), IS_HELD)


async def dead_letters(
    session: AsyncSession, *, limit: int, offset: int = 0
) -> tuple[list[tuple[OutboxMessage, Person | None]], int]:
    """The newest ``limit`` messages needing an admin (after skipping ``offset``), each with its
    person if known, and how many there are in all."""
    rows = await session.exec(
        select(OutboxMessage, Person)
        .join(Person, col(Person.id) == col(OutboxMessage.person_id), isouter=True)
        .where(_NEEDS_AN_ADMIN)
        .order_by(col(OutboxMessage.id).desc())
        .offset(offset)
        .limit(limit)
    )
    total = (
        await session.exec(select(func.count()).select_from(OutboxMessage).where(_NEEDS_AN_ADMIN))
    ).one()
    return list(rows), int(total)


async def held_count(session: AsyncSession) -> int:
    """How many of the messages needing an admin are only held (not failed)."""
    count = await session.exec(select(func.count()).select_from(OutboxMessage).where(IS_HELD))
    return int(count.one())


async def retry(session: AsyncSession, message_id: int, *, now: datetime) -> OutboxMessage:
    """Queue a dead or failed message again from scratch (attempts and error cleared).

    Raises ``NotFound`` for an unknown id and ``IllegalTransition`` for a message that is not
    dead or failed (queued, being sent, or already delivered).
    """
    message = await session.get(OutboxMessage, message_id, with_for_update=True)
    if message is None:
        raise NotFound("outbox message", message_id)
    if message.status not in RETRYABLE:
        raise IllegalTransition(
            "outbox message",
            str(message.status),
            str(OutboxStatus.QUEUED),
            frozenset(str(s) for s in OUTBOX_TRANSITIONS.table[message.status]),
        )
    message.status = OUTBOX_TRANSITIONS.check(message.status, OutboxStatus.QUEUED)
    message.attempts = 0
    message.error_code = None
    message.next_attempt_at = now
    session.add(message)
    await session.flush()
    return message
