"""Putting messages into the outbox, inside the caller's transaction.

Nothing here sends anything: the channel's dispatcher reads queued rows in ``sequence`` order per
address. Because the rows commit with the change that caused them, a crash either loses both or
neither.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations.messages import Reply
from conversations.state import remember_business_choices
from domain.model import (
    Channel,
    ChannelIdentity,
    ConversationState,
    OutboxKind,
    OutboxMessage,
    OutboxStatus,
    Person,
)
from domain.store import in_lists

# Channels a person can be reached on unprompted, best first, when they have never written to us.
_REACHABLE = (Channel.WHATSAPP, Channel.TELEGRAM, Channel.SMS, Channel.WEB, Channel.CONSOLE)

_OUTBOX: sa.Table = OutboxMessage.__table__  # type: ignore[attr-defined]
_LATEST_SEQUENCE = sa.select(sa.func.max(_OUTBOX.c.sequence)).where(
    _OUTBOX.c.channel == sa.bindparam("channel"), _OUTBOX.c.address == sa.bindparam("address")
)


async def _next_sequence(session: AsyncSession, channel: Channel, address: str) -> int:
    connection = await session.connection()
    latest = (
        await connection.execute(_LATEST_SEQUENCE, {"channel": channel, "address": address})
    ).scalar_one()
    return (latest or 0) + 1


async def enqueue(
    session: AsyncSession,
    *,
    channel: Channel,
    address: str,
    reply: Reply,
    kind: OutboxKind,
    now: datetime,
    person_id: int | None = None,
    in_reply_to: int | None = None,
) -> OutboxMessage:
    """Queue ``reply`` for one address; the unique sequence makes concurrent writers conflict
    (and retry) rather than interleave."""
    message = OutboxMessage(
        person_id=person_id,
        channel=channel,
        address=address,
        sequence=await _next_sequence(session, channel, address),
        kind=kind,
        body=reply.to_json(),
        next_attempt_at=now,
        created_at=now,
        in_reply_to=in_reply_to,
    )
    session.add(message)
    await session.flush()
    return message


async def enqueue_replies(
    session: AsyncSession,
    *,
    channel: Channel,
    address: str,
    replies: Sequence[Reply],
    now: datetime,
    person_id: int | None,
    in_reply_to: int | None,
) -> None:
    """Queue the replies to one message, in order, with one sequence read and one insert.

    The engine's path for every message; like ``enqueue``, but with Core statements and no
    objects returned (nothing after it needs them).
    """
    if not replies:
        return
    connection = await session.connection()
    latest = (
        await connection.execute(_LATEST_SEQUENCE, {"channel": channel, "address": address})
    ).scalar_one()
    first = (latest or 0) + 1
    await connection.execute(
        _OUTBOX.insert(),
        [
            _queued(
                person_id,
                channel,
                address,
                first + offset,
                OutboxKind.REPLY,
                reply,
                now,
                in_reply_to=in_reply_to,
            )
            for offset, reply in enumerate(replies)
        ],
    )


Address = tuple[Channel, str]
"""Where a message goes: a channel and the person's address on it."""


def _preferred(
    theirs: Sequence[Address], last_written: Address | None, chosen: Channel | None = None
) -> Address | None:
    """The rule for reaching someone unprompted: their first address on the channel they chose
    (``Person.preferred_channel``, see domain/services/channel_choice.py), else the address they
    last wrote from, while it is still one of theirs, else their first on the best channel they
    have (None: no address)."""
    if chosen is not None:
        on_chosen = next((address for address in theirs if address[0] is chosen), None)
        if on_chosen is not None:
            return on_chosen
    if last_written is not None and last_written in theirs:
        return last_written
    return next(
        (address for channel in _REACHABLE for address in theirs if address[0] is channel), None
    )


def _queued(
    person_id: int | None,
    channel: Channel,
    address: str,
    sequence: int,
    kind: OutboxKind,
    reply: Reply,
    now: datetime,
    *,
    in_reply_to: int | None = None,
) -> dict[str, Any]:
    """One outbox row, queued now, for the Core inserts of the bulk paths."""
    return {
        "person_id": person_id,
        "channel": channel,
        "address": address,
        "sequence": sequence,
        "kind": kind,
        "body": reply.to_json(),
        "status": OutboxStatus.QUEUED,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
        "in_reply_to": in_reply_to,
    }


async def preferred_identity(session: AsyncSession, person_id: int) -> ChannelIdentity | None:
    """Where to reach a person unprompted (see ``_preferred``)."""
    latest = (
        await session.exec(
            select(ConversationState)
            .where(ConversationState.person_id == person_id)
            .order_by(col(ConversationState.updated_at).desc())
        )
    ).first()
    identities = list(
        await session.exec(
            select(ChannelIdentity)
            .where(ChannelIdentity.person_id == person_id)
            .order_by(col(ChannelIdentity.id))
        )
    )
    person = await session.get(Person, person_id)
    chosen = _preferred(
        [(identity.channel, identity.address) for identity in identities],
        None if latest is None else (latest.channel, latest.address),
        None if person is None else person.preferred_channel,
    )
    return next((i for i in identities if (i.channel, i.address) == chosen), None)


async def preferred_identities(session: AsyncSession, person_ids: set[int]) -> dict[int, Address]:
    """``preferred_identity`` for many people, two queries per few hundred: where each can be
    reached unprompted (people with no chat identity are left out). The payout notices queue
    receipts for tens of thousands of artisans at once."""
    wanted = sorted(person_ids)
    latest: dict[int, tuple[datetime, Address]] = {}
    identities: dict[int, list[Address]] = {}
    choices: dict[int, Channel] = {}
    for some in in_lists(wanted):
        chose = await session.exec(
            select(Person.id, Person.preferred_channel).where(
                col(Person.id).in_(some), col(Person.preferred_channel).is_not(None)
            )
        )
        choices.update(
            {pid: Channel(channel) for pid, channel in chose.all() if pid is not None and channel}
        )
        states = await session.exec(
            select(
                ConversationState.person_id,
                ConversationState.updated_at,
                ConversationState.channel,
                ConversationState.address,
            ).where(col(ConversationState.person_id).in_(some))
        )
        for person_id, updated_at, channel, address in states.all():
            if person_id is not None and (
                person_id not in latest or updated_at > latest[person_id][0]
            ):
                latest[person_id] = (updated_at, (Channel(channel), address))
        rows = await session.exec(
            select(ChannelIdentity.person_id, ChannelIdentity.channel, ChannelIdentity.address)
            .where(col(ChannelIdentity.person_id).in_(some))
            .order_by(col(ChannelIdentity.id))
        )
        for person_id, channel, address in rows.all():
            identities.setdefault(person_id, []).append((Channel(channel), address))
    found: dict[int, Address] = {}
    for person_id, theirs in identities.items():
        last = latest.get(person_id)
        chosen = _preferred(theirs, None if last is None else last[1], choices.get(person_id))
        if chosen is not None:
            found[person_id] = chosen
    return found


async def notify_person(
    session: AsyncSession, person: Person, reply: Reply, *, now: datetime
) -> OutboxMessage | None:
    """Queue a business message to ``person``, unless they said STOP or cannot be reached.

    Its choices are remembered in the person's conversation state, so that on a channel
    without buttons a bare "1" can answer it (see ``Engine`` and ``Conversation.offer``).
    """
    if person.opted_out or person.id is None:
        return None
    identity = await preferred_identity(session, person.id)
    if identity is None:
        return None
    message = await enqueue(
        session,
        channel=identity.channel,
        address=identity.address,
        reply=reply,
        kind=OutboxKind.BUSINESS,
        now=now,
        person_id=person.id,
    )
    await remember_business_choices(
        session,
        identity.channel,
        identity.address,
        choices=reply.choices,
        about=reply.text,
        person_id=person.id,
        now=now,
    )
    return message


async def queued_for(session: AsyncSession, channel: Channel, address: str) -> list[OutboxMessage]:
    """Messages not yet handed to the channel for one address, in the order they must go."""
    statement = (
        select(OutboxMessage)
        .where(
            OutboxMessage.channel == channel,
            OutboxMessage.address == address,
            OutboxMessage.status == OutboxStatus.QUEUED,
        )
        .order_by(col(OutboxMessage.sequence))
    )
    return list(await session.exec(statement))


async def notify_people(
    session: AsyncSession, letters: Sequence[tuple[Person, str]], *, now: datetime
) -> int:
    """``notify_person`` for plain texts to many people, in order (the payout receipts of a
    settled group): the addresses in two queries, the sequences in one, the messages in one
    insert. A plain text has no choices to remember in the person's conversation state. Returns
    how many were queued."""
    reachable = [(p, text) for p, text in letters if not p.opted_out and p.id is not None]
    addresses = await preferred_identities(session, {p.id for p, _ in reachable if p.id})
    to_send = [
        (person.id, addresses[person.id], text)
        for person, text in reachable
        if person.id is not None and person.id in addresses
    ]
    if not to_send:
        return 0
    latest = await _latest_sequences(session, {address for _, address, _ in to_send})
    rows = []
    for person_id, (channel, address), text in to_send:
        sequence = latest.get((channel, address), 0) + 1
        latest[(channel, address)] = sequence
        rows.append(
            _queued(person_id, channel, address, sequence, OutboxKind.BUSINESS, Reply(text), now)
        )
    await session.flush()
    connection = await session.connection()
    await connection.execute(_OUTBOX.insert(), rows)
    return len(rows)


async def _latest_sequences(
    session: AsyncSession, addresses: set[tuple[Channel, str]]
) -> dict[tuple[Channel, str], int]:
    by_text = sorted({address for _, address in addresses})
    latest: dict[tuple[Channel, str], int] = {}
    for some in in_lists(by_text):
        rows = await session.exec(
            select(
                OutboxMessage.channel, OutboxMessage.address, sa.func.max(OutboxMessage.sequence)
            )
            .where(col(OutboxMessage.address).in_(some))
            .group_by(col(OutboxMessage.channel), col(OutboxMessage.address))
        )
        latest.update({(Channel(channel), address): top for channel, address, top in rows.all()})
    return latest
