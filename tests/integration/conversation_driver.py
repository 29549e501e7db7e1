"""Driving the conversation engine the way a channel does, for the engine and flow tests."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from sqlmodel import col, select

from conversations.engine import Engine
from conversations.messages import Incoming, MediaItem, Reply
from domain.model import (
    Channel,
    ConversationState,
    InboundMessage,
    Language,
    OutboxKind,
    OutboxMessage,
    Person,
    Role,
)
from domain.services.catalogue import set_bom, upsert_component, upsert_product
from domain.services.people import add_person, person_by_identity
from domain.store import Store
from tests.conftest import FakeClock

SKILLS = ("beading", "brass casting", "horn carving")  # sorted, as skills_in_use returns them

_ids = itertools.count(1)

PHOTO = MediaItem("image/jpeg", 48_213, "photo-1.jpg")
STICKER = MediaItem("image/webp", 9_120, "sticker-1.webp")
VOICE = MediaItem("audio/ogg", 31_000, "voice-1.ogg")


@dataclass
class Chat:
    """One person's side of a chat: every ``send`` is a new provider message unless repeated."""

    engine: Engine
    clock: FakeClock
    address: str = "whatsapp:+254712345678"
    channel: Channel = Channel.WHATSAPP
    sent: list[Incoming] = field(default_factory=list)

    async def send(
        self,
        text: str = "",
        *,
        media: tuple[MediaItem, ...] = (),
        payload: str | None = None,
    ) -> list[Reply]:
        incoming = Incoming(
            channel=self.channel,
            address=self.address,
            provider_message_id=f"{self.channel}-{next(_ids)}",
            text=text,
            media=media,
            button_payload=payload,
            received_at=self.clock.now(),
        )
        self.sent.append(incoming)
        return await self.engine.handle(incoming)

    async def say(self, text: str = "", **kwargs: object) -> str:
        """Send, and return all reply texts joined (what the person reads)."""
        replies = await self.send(text, **kwargs)  # type: ignore[arg-type]
        return "\n---\n".join(r.text for r in replies)

    async def redeliver(self, incoming: Incoming) -> list[Reply]:
        return await self.engine.handle(incoming)


async def seed_catalogue(store: Store) -> None:
    """Three components in one product's BOM, so their skills are "in use"."""
    async with store.transaction() as session:
        for code, skill in (
            ("BEAD-STR", "beading"),
            ("HOOK", "brass casting"),
            ("HORN", "horn carving"),
        ):
            await upsert_component(
                session,
                code=code,
                name=code.title(),
                skill=skill,
                piece_rate_cents=2_000,
                lead_time_days=5,
            )
        await upsert_product(
            session,
            sku="NECK-1",
            name="Necklace",
            wholesale_price_cents=90_000,
            retail_price_cents=150_000,
        )
        await set_bom(session, sku="NECK-1", components={"BEAD-STR": 1, "HOOK": 2, "HORN": 1})


async def add_staff(
    store: Store,
    clock: FakeClock,
    *,
    name: str,
    address: str,
    role: Role = Role.FIELD_AGENT,
    areas: tuple[str, ...] = (),
    channel: Channel = Channel.TELEGRAM,
    language: Language = Language.EN,
) -> Person:
    async with store.transaction() as session:
        return await add_person(
            session,
            role=role,
            name=name,
            channel=channel,
            address=address,
            language=language,
            areas=areas,
            now=clock.now(),
        )


REGISTRATION_ANSWERS = (
    "Habari",  # anything: a stranger is welcomed
    "1",  # English
    "Wanjiru Kamau",
    "Kazi Beads Group",
    "1,2",  # beading, brass casting
    "Kibera",
    "40, 25",
    "0712 345 678",
    "1",  # yes, register me
)


async def register(chat: Chat, answers: tuple[str, ...] = REGISTRATION_ANSWERS) -> str:
    last = ""
    for answer in answers:
        last = await chat.say(answer)
    return last


async def state_of(store: Store, chat: Chat) -> ConversationState | None:
    async with store.transaction() as session:
        return await session.get(ConversationState, (chat.channel, chat.address))


async def outbox(
    store: Store, *, address: str | None = None, kind: OutboxKind | None = None
) -> list[OutboxMessage]:
    async with store.transaction() as session:
        statement = select(OutboxMessage).order_by(col(OutboxMessage.id))
        if address is not None:
            statement = statement.where(OutboxMessage.address == address)
        if kind is not None:
            statement = statement.where(OutboxMessage.kind == kind)
        return list(await session.exec(statement))


async def inbound(store: Store) -> list[InboundMessage]:
    async with store.transaction() as session:
        return list(await session.exec(select(InboundMessage).order_by(col(InboundMessage.id))))


async def person_at(store: Store, chat: Chat) -> Person | None:
    async with store.transaction() as session:
        return await person_by_identity(session, chat.channel, chat.address)
