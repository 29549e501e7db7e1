"""Messages in and out, and where each conversation stands.

``InboundMessage`` is the dedupe record of every provider message we accepted; it is written in the
same transaction as the message's effects, so a redelivered webhook finds it and changes nothing.
``ConversationState`` is keyed by chat address, not person, because a stranger who is registering
has no person yet. ``OutboxMessage`` is every message we owe somebody, reply or business-initiated,
committed with the change that caused it and sent later by the channel's dispatcher.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from domain.model.columns import UTCDateTime, enum_type
from domain.model.people import Channel
from domain.statemachine import Transitions


class InboundStatus(StrEnum):
    RECEIVED = "received"  # persisted by the webhook, not yet handled
    PROCESSED = "processed"
    FAILED = "failed"  # handling raised; the sender was asked to try again


class InboundMessage(SQLModel, table=True):
    __tablename__ = "inbound_message"
    __table_args__ = (
        sa.UniqueConstraint("channel", "provider_message_id", name="uq_inbound_provider_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    channel: Channel = Field(sa_type=enum_type(Channel))
    provider_message_id: str = Field(max_length=128)
    address: str = Field(max_length=64, index=True)
    person_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    payload: str = Field(sa_type=sa.Text(), description="the normalised message as JSON")
    received_at: datetime = Field(sa_type=UTCDateTime())
    processed_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
    status: InboundStatus = Field(
        default=InboundStatus.RECEIVED, sa_type=enum_type(InboundStatus), index=True
    )


class ConversationState(SQLModel, table=True):
    """Where one chat address is in which flow; ``version`` guards against lost updates."""

    __tablename__ = "conversation_state"

    channel: Channel = Field(sa_type=enum_type(Channel), primary_key=True)
    address: str = Field(max_length=64, primary_key=True)
    person_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    flow: str = Field(max_length=40)
    step: str = Field(max_length=40)
    data: str = Field(default="{}", sa_type=sa.Text(), description="the flow's answers as JSON")
    version: int = Field(default=0, ge=0)
    updated_at: datetime = Field(sa_type=UTCDateTime())
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime(), index=True)


class OutboxKind(StrEnum):
    REPLY = "reply"  # answers a message the person sent
    BUSINESS = "business"  # we start it: offers, reminders, results; never to an opted-out person


class OutboxStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"
    DEAD = "dead"


# Provider status callbacks arrive out of order, so a status may skip ahead but never go back;
# ``sending -> queued`` retries a transient error; ``failed/dead -> queued`` is an admin's retry.
OUTBOX_TRANSITIONS = Transitions[OutboxStatus](
    "outbox message",
    {
        OutboxStatus.QUEUED: frozenset({OutboxStatus.SENDING, OutboxStatus.DEAD}),
        OutboxStatus.SENDING: frozenset(
            {
                OutboxStatus.QUEUED,
                OutboxStatus.SENT,
                OutboxStatus.DELIVERED,
                OutboxStatus.READ,
                OutboxStatus.FAILED,
                OutboxStatus.DEAD,
            }
        ),
        OutboxStatus.SENT: frozenset(
            {OutboxStatus.DELIVERED, OutboxStatus.READ, OutboxStatus.FAILED}
        ),
        OutboxStatus.DELIVERED: frozenset({OutboxStatus.READ}),
        OutboxStatus.READ: frozenset(),
        OutboxStatus.FAILED: frozenset({OutboxStatus.QUEUED, OutboxStatus.DEAD}),
        OutboxStatus.DEAD: frozenset({OutboxStatus.QUEUED}),
    },
)


class OutboxMessage(SQLModel, table=True):
    """One message owed to one chat address; ``sequence`` orders them per address."""

    __tablename__ = "outbox_message"
    __table_args__ = (
        sa.UniqueConstraint("channel", "address", "sequence", name="uq_outbox_sequence"),
        sa.Index("ix_outbox_due", "status", "next_attempt_at"),
        sa.Index("ix_outbox_sent", "channel", "sent_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    person_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    channel: Channel = Field(sa_type=enum_type(Channel))
    address: str = Field(max_length=64)
    sequence: int = Field(ge=1)
    kind: OutboxKind = Field(sa_type=enum_type(OutboxKind))
    body: str = Field(sa_type=sa.Text(), description="text, choices and media as JSON")
    status: OutboxStatus = Field(default=OutboxStatus.QUEUED, sa_type=enum_type(OutboxStatus))
    attempts: int = Field(default=0, ge=0)
    next_attempt_at: datetime = Field(sa_type=UTCDateTime())
    provider_message_id: str | None = Field(default=None, max_length=128, index=True)
    error_code: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(sa_type=UTCDateTime())
    in_reply_to: int | None = Field(default=None, foreign_key="inbound_message.id", index=True)
    # When the provider accepted it (SMS budgets count what was sent on the factory's day).
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
    # SMS only: how many segments it took and what the provider said it cost, in ten-thousandths
    # of ``cost_currency`` (Africa's Talking reports "KES 0.8000").
    segments: int | None = Field(default=None, ge=0)
    cost_e4: int | None = Field(default=None, ge=0)
    cost_currency: str | None = Field(default=None, max_length=3)
    # An SMS sent instead of a WhatsApp message that could not go: the WhatsApp message's id.
    fallback_of: int | None = Field(default=None, index=True)
