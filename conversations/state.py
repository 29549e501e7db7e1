"""Where a conversation stands, loaded from and saved to ``ConversationState`` with a version check.

The save is ``UPDATE ... WHERE version = <the version we loaded>``: if another process advanced
the same conversation in between, no row matches, ``StateConflict`` is raised, the transaction
rolls back and the engine starts the message over on fresh state. Nothing is overwritten blindly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations.messages import Choice
from domain.model import Channel, ConversationState

IDLE = "idle"  # flow and step of a conversation with nothing in progress

_CHOICES = "_choices"  # the options offered with the last question, so "2" can be resolved
_HISTORY = "_history"  # steps already answered, for "back"
# The options on the last business message with choices (a verify request, a job offer), kept
# apart from the flow's own so a flow in progress is never disturbed. See ``business_choices``.
_BUSINESS = "_business"
_ABOUT_LENGTH = 60  # how much of the business message the confirmation quotes


class StateConflict(Exception):
    """Someone else saved this conversation since we loaded it."""


@dataclass
class Conversation:
    channel: Channel
    address: str
    person_id: int | None = None
    flow: str = IDLE
    step: str = IDLE
    data: dict[str, Any] = field(default_factory=dict)
    version: int | None = None  # None: no row yet
    expires_at: datetime | None = None

    @property
    def idle(self) -> bool:
        return self.flow == IDLE

    def expired(self, now: datetime) -> bool:
        return not self.idle and self.expires_at is not None and self.expires_at <= now

    def reset(self, *, keep: tuple[str, ...] = ("lang", _BUSINESS)) -> None:
        self.flow = IDLE
        self.step = IDLE
        self.data = {k: v for k, v in self.data.items() if k in keep}
        self.expires_at = None

    def enter(self, flow: str, step: str) -> None:
        self.reset()
        self.flow = flow
        self.step = step

    @property
    def choices(self) -> tuple[Choice, ...]:
        return tuple(Choice(p, label) for p, label in self.data.get(_CHOICES, ()))

    def offer(self, choices: tuple[Choice, ...]) -> None:
        if choices:
            self.data[_CHOICES] = [[c.payload, c.label] for c in choices]
            # A newer numbered list: from now on "1" means its first option.
            self.forget_business()
        else:
            self.data.pop(_CHOICES, None)

    @property
    def business_choices(self) -> BusinessChoices | None:
        """The choices on the last business message, while no newer numbered list was shown."""
        raw = self.data.get(_BUSINESS)
        if not isinstance(raw, dict):
            return None
        choices = tuple(Choice(p, label) for p, label in raw.get("choices", ()))
        return BusinessChoices(choices, str(raw.get("about", ""))) if choices else None

    def remember_business(self, choices: tuple[Choice, ...], about: str) -> None:
        self.data[_BUSINESS] = {
            "choices": [[c.payload, c.label] for c in choices],
            "about": _excerpt(about),
        }

    def forget_business(self) -> None:
        self.data.pop(_BUSINESS, None)

    def advance(self, step: str) -> None:
        self.data.setdefault(_HISTORY, []).append(self.step)
        self.step = step

    def go_back(self) -> str | None:
        """The previous step, now current again; None at the first question."""
        history: list[str] = self.data.get(_HISTORY, [])
        if not history:
            return None
        self.step = history.pop()
        return self.step

    def answers(self) -> dict[str, Any]:
        """A copy of the flow's data a step may change freely; kept only if the step succeeds."""
        copied: dict[str, Any] = json.loads(json.dumps(self.data))
        return copied


@dataclass(frozen=True, slots=True)
class BusinessChoices:
    """What a bare number can pick after a business message: its options, and a few words of
    the message itself, so the confirmation can say which message the number answered."""

    choices: tuple[Choice, ...]
    about: str


def _excerpt(text: str) -> str:
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return first if len(first) <= _ABOUT_LENGTH else first[: _ABOUT_LENGTH - 1].rstrip() + "…"


async def load_conversation(session: AsyncSession, channel: Channel, address: str) -> Conversation:
    # A Core row, not an ORM object: read on every message, and nothing keeps the object.
    connection = await session.connection()
    row = (await connection.execute(_LOAD, {"channel": channel, "address": address})).first()
    if row is None:
        return Conversation(channel=channel, address=address)
    return Conversation(
        channel=channel,
        address=address,
        person_id=row.person_id,
        flow=row.flow,
        step=row.step,
        data=json.loads(row.data),
        version=row.version,
        expires_at=row.expires_at,
    )


async def save_conversation(
    session: AsyncSession, conversation: Conversation, *, now: datetime
) -> int:
    """Write the conversation if nobody else did since it was loaded; returns the new version."""
    values: dict[str, Any] = {
        "person_id": conversation.person_id,
        "flow": conversation.flow,
        "step": conversation.step,
        "data": json.dumps(conversation.data, ensure_ascii=False, sort_keys=True),
        "updated_at": now,
        "expires_at": conversation.expires_at,
    }
    if conversation.version is None:
        # A concurrent first message from the same address makes this insert fail on the primary
        # key; the engine treats that IntegrityError like a version conflict and retries.
        session.add(
            ConversationState(
                channel=conversation.channel, address=conversation.address, version=1, **values
            )
        )
        await session.flush()
        conversation.version = 1
        return 1
    connection = await session.connection()
    result = await connection.execute(
        _SAVE,
        {
            "key_channel": conversation.channel,
            "key_address": conversation.address,
            "key_version": conversation.version,
            "version": conversation.version + 1,
            **values,
        },
    )
    if result.rowcount != 1:
        raise StateConflict(
            f"conversation {conversation.channel}:{conversation.address} changed under us"
        )
    conversation.version += 1
    return conversation.version


# Built once (with their cache keys): every message loads and saves its conversation.
_STATE: sa.Table = ConversationState.__table__  # type: ignore[attr-defined]
_LOAD = sa.select(
    _STATE.c.person_id,
    _STATE.c.flow,
    _STATE.c.step,
    _STATE.c.data,
    _STATE.c.version,
    _STATE.c.expires_at,
).where(_STATE.c.channel == sa.bindparam("channel"), _STATE.c.address == sa.bindparam("address"))
# The SET clause comes from the other parameters' names (person_id, flow, ..., version).
_SAVE = sa.update(_STATE).where(
    _STATE.c.channel == sa.bindparam("key_channel"),
    _STATE.c.address == sa.bindparam("key_address"),
    _STATE.c.version == sa.bindparam("key_version"),
)


async def remember_business_choices(
    session: AsyncSession,
    channel: Channel,
    address: str,
    *,
    choices: tuple[Choice, ...],
    about: str,
    person_id: int | None,
    now: datetime,
) -> None:
    """Remember the choices of a business message just queued to ``address``, in its state.

    Called by whoever queues the message, inside their transaction. The row is locked and read
    afresh (not from the session's identity map: the engine may have saved it a moment ago in
    this same transaction), and its version is bumped, so an engine handling the same person
    concurrently in another process retries on the new state rather than overwriting it.
    ``updated_at`` is left alone: it says when the person last wrote, which picks the channel
    business messages go to.
    """
    if not choices:
        return
    row = (
        await session.exec(
            select(ConversationState)
            .where(ConversationState.channel == channel, ConversationState.address == address)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).first()
    if row is None:
        conversation = Conversation(channel=channel, address=address, person_id=person_id)
        conversation.remember_business(choices, about)
        try:
            # A savepoint: if the person's first message inserts the row at the same moment,
            # only this insert fails, not the caller's whole transaction.
            async with session.begin_nested():
                await save_conversation(session, conversation, now=now)
            return
        except IntegrityError:
            row = await session.get(
                ConversationState, (channel, address), with_for_update=True, populate_existing=True
            )
            if row is None:  # pragma: no cover (the conflicting insert rolled back)
                raise
    data = json.loads(row.data)
    conversation = Conversation(channel=channel, address=address, data=data)
    conversation.remember_business(choices, about)
    table = ConversationState.__table__  # type: ignore[attr-defined]
    result = await session.exec(
        sa.update(table)
        .where(
            table.c.channel == channel,
            table.c.address == address,
            table.c.version == row.version,
        )
        .values(
            version=row.version + 1,
            data=json.dumps(conversation.data, ensure_ascii=False, sort_keys=True),
        )
    )
    if result.rowcount != 1:
        raise StateConflict(f"conversation {channel}:{address} changed under us")
