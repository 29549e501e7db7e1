"""Which numbered list a typed bare number may answer: only the one on the latest message.

A button carries its own payload and works on any message while it is still meaningful (issue
16, item 1). A typed "1" carries nothing but its position, so it is read against a list only
while that list is on the newest message queued to the person's address: once anything else
was said to them since (a reply, a notice, a receipt), "1" is ambiguous and the engine says it
did not understand instead of guessing, so a stray number can never ship an order, approve a
payout batch or cancel anything from a message further up the chat.

The outbox is the record of what each address was sent, in ``sequence`` order, with each
message's choices, so the check is one indexed read of its newest row, made only when a typed
bare number would pick a choice. Menus are exempt: their items only open a list or a question.

Which messages count: the newest message the person *sees* where they type.
- On WhatsApp, Telegram, SMS and the console: the newest row queued to that address, whatever
  its status. A row not yet handed to the channel (queued, or held because the channel is not
  configured) has not reached the person, but counting it only ever makes an older list stale,
  so a number is refused rather than guessed; it never picks from a message they did not see.
  Messages queued to the person's *other* addresses do not count: they are not on this screen.
- In the local web chat (``Channel.WEB``): also the person's messages *held* on another channel
  (queued or sending on WhatsApp, Telegram or SMS, which the demo has not configured), because
  the page shows them in the chat, marked "held: would go by WhatsApp" (bot/channels/webchat.py).
  A held message newer than anything sent to the web address is the newest message there, and a
  typed "1" under its "1. Kubali zote" picks that choice (``held_choices``), although the
  message's choices were remembered in the other address's conversation, not the web one's.
  Outside the local demo no web identity exists, so this never applies in production.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations.messages import Choice, Reply
from domain.model import Channel, OutboxMessage, OutboxStatus

_OUTBOX: sa.Table = OutboxMessage.__table__  # type: ignore[attr-defined]
_NEWEST = (
    sa.select(_OUTBOX.c.body)
    .where(
        _OUTBOX.c.channel == sa.bindparam("channel"), _OUTBOX.c.address == sa.bindparam("address")
    )
    .order_by(_OUTBOX.c.sequence.desc())
    .limit(1)
)


# Channels whose page also shows the person's messages held on their other channels.
SHOWS_HELD = frozenset({Channel.WEB})
# Channels that read their own outbox (the web chat, the console): nothing for them is held.
_SELF_DISPATCHED = (Channel.WEB, Channel.CONSOLE)
_HELD = (OutboxStatus.QUEUED, OutboxStatus.SENDING)


def _newest_seen(person_id: int) -> sa.Select[tuple[str, Channel, str]]:
    """The newest row at the web address or held for ``person_id`` on another channel."""
    at_address = sa.and_(
        _OUTBOX.c.channel == sa.bindparam("channel"), _OUTBOX.c.address == sa.bindparam("address")
    )
    held = sa.and_(
        _OUTBOX.c.person_id == person_id,
        _OUTBOX.c.channel.not_in(_SELF_DISPATCHED),
        _OUTBOX.c.status.in_(_HELD),
    )
    return (
        sa.select(_OUTBOX.c.body, _OUTBOX.c.channel, _OUTBOX.c.address)
        .where(sa.or_(at_address, held))
        .order_by(_OUTBOX.c.id.desc())
        .limit(1)
    )


async def _newest_body(
    session: AsyncSession, channel: Channel, address: str, person_id: int | None
) -> tuple[str, bool] | None:
    """The newest message seen at ``address`` (see the module's rule), and whether it is one
    held on another channel; None when nothing was sent there yet."""
    connection = await session.connection()
    params = {"channel": channel, "address": address}
    if channel not in SHOWS_HELD or person_id is None:
        body = (await connection.execute(_NEWEST, params)).scalar()
        return None if body is None else (body, False)
    row = (await connection.execute(_newest_seen(person_id), params)).first()
    if row is None:
        return None
    return row.body, (row.channel, row.address) != (channel, address)


async def held_choices(
    session: AsyncSession, channel: Channel, address: str, person_id: int | None
) -> tuple[tuple[Choice, ...], str] | None:
    """In the web chat: the choices and text of the person's newest message when it is one held
    on another channel (shown on the page), for a typed bare number to pick from; else None."""
    if channel not in SHOWS_HELD or person_id is None:
        return None
    newest = await _newest_body(session, channel, address, person_id)
    if newest is None or not newest[1]:
        return None
    message = Reply.from_json(newest[0])
    if not message.choices or not message.numbered:  # a quantity's shortcuts take no number
        return None
    return message.choices, message.text


async def on_latest_message(
    session: AsyncSession,
    channel: Channel,
    address: str,
    choices: tuple[Choice, ...],
    person_id: int | None = None,
) -> bool:
    """Whether the newest message seen at ``address`` (in the web chat, held ones included:
    see the module's rule) is the one that offered ``choices`` (the same options, in the same
    order); False when nothing was sent there yet."""
    newest = await _newest_body(session, channel, address, person_id)
    if newest is None:
        return False
    offered = json.loads(newest[0]).get("choices", ())
    return [entry.get("payload") for entry in offered] == [c.payload for c in choices]
