"""People who run the factory and the chat identities they reach us through."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from domain.limits import MAX_WEEKLY_CAPACITY
from domain.model.columns import UTCDateTime, enum_type, within
from domain.statemachine import Transitions


class Role(StrEnum):
    ARTISAN = "artisan"
    FIELD_AGENT = "field_agent"
    ADMIN = "admin"


class Language(StrEnum):
    EN = "en"
    SW = "sw"


class Channel(StrEnum):
    WHATSAPP = "whatsapp"
    TELEGRAM = "telegram"
    CONSOLE = "console"
    WEB = "web"
    # Text messages through Africa's Talking (issue 18). A USSD session reaches the person
    # through this same identity: the phone number is the address for both.
    SMS = "sms"
    # Customers, by machine (bot/channels/customers.py): the web shop's Admin API and a
    # retailer's callback URL. Their addresses are an order or a customer, not a chat.
    SHOPIFY = "shopify"
    RETAILER_CALLBACK = "retailer_callback"


class ArtisanStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    PAUSED = "paused"


ARTISAN_TRANSITIONS = Transitions[ArtisanStatus](
    "artisan",
    {
        ArtisanStatus.PENDING: frozenset({ArtisanStatus.ACTIVE}),
        ArtisanStatus.ACTIVE: frozenset({ArtisanStatus.PAUSED}),
        ArtisanStatus.PAUSED: frozenset({ArtisanStatus.ACTIVE}),
    },
)


class Person(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=80)
    role: Role = Field(sa_type=enum_type(Role), index=True)
    language: Language = Field(default=Language.EN, sa_type=enum_type(Language))
    area: str | None = Field(default=None, max_length=60, index=True)
    opted_out: bool = Field(default=False)
    created_at: datetime = Field(sa_type=UTCDateTime())
    # Works at the central workshop, where components are counted in and assembled: a field
    # agent with it may record assemblies (admins always may). Meaningless for artisans.
    at_workshop: bool = Field(default=False)
    # Where business messages go (offers, reminders, receipts) when the person has identities
    # on several channels: chosen with /channel or by a field agent; None: where they last wrote.
    preferred_channel: Channel | None = Field(default=None, sa_type=enum_type(Channel))


class ChannelIdentity(SQLModel, table=True):
    """One address on one channel; it belongs to exactly one person."""

    __tablename__ = "channel_identity"
    __table_args__ = (sa.UniqueConstraint("channel", "address", name="uq_identity_address"),)

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    channel: Channel = Field(sa_type=enum_type(Channel))
    address: str = Field(max_length=64)


class ArtisanProfile(SQLModel, table=True):
    __tablename__ = "artisan_profile"

    person_id: int = Field(foreign_key="person.id", primary_key=True)
    workshop: str = Field(max_length=80)
    mpesa_number: str = Field(max_length=16)
    status: ArtisanStatus = Field(
        default=ArtisanStatus.PENDING, sa_type=enum_type(ArtisanStatus), index=True
    )
    verified_by: int | None = Field(default=None, foreign_key="person.id")
    verified_at: datetime | None = Field(default=None, sa_type=UTCDateTime())


class ArtisanSkill(SQLModel, table=True):
    """A skill the artisan offers and how many pieces of it they can make in a week."""

    __tablename__ = "artisan_skill"
    __table_args__ = (within("weekly_capacity", 0, MAX_WEEKLY_CAPACITY),)

    artisan_id: int = Field(foreign_key="person.id", primary_key=True)
    skill: str = Field(max_length=40, primary_key=True)
    weekly_capacity: int = Field(ge=0)


class AgentArea(SQLModel, table=True):
    """Areas a field agent covers: their QC queue and at-risk list are filtered by these."""

    __tablename__ = "agent_area"

    agent_id: int = Field(foreign_key="person.id", primary_key=True)
    area: str = Field(max_length=60, primary_key=True)
