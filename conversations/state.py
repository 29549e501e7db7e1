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
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations.messages import Choice
from domain.model import Channel, ConversationState

IDLE = "idle"  # flow and step of a conversation with nothing in progress

_CHOICES = "_choices"  # the options offered with the last question, so "2" can be resolved
_HISTORY = "_history"  # steps already answered, for "back"


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

    def reset(self, *, keep: tuple[str, ...] = ("lang",)) -> None:
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
        else:
            self.data.pop(_CHOICES, None)

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


async def load_conversation(session: AsyncSession, channel: Channel, address: str) -> Conversation:
    row = await session.get(ConversationState, (channel, address))
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
    table = ConversationState.__table__  # type: ignore[attr-defined]
    result = await session.exec(
        sa.update(table)
        .where(
            table.c.channel == conversation.channel,
            table.c.address == conversation.address,
            table.c.version == conversation.version,
        )
        .values(version=conversation.version + 1, **values)
    )
    if result.rowcount != 1:
        raise StateConflict(
            f"conversation {conversation.channel}:{conversation.address} changed under us"
        )
    conversation.version += 1
    return conversation.version
