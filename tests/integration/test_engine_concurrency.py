"""Many people at once: each person's messages are handled strictly in the order they arrived."""

from __future__ import annotations

import asyncio
import json

from sqlmodel import col, select

from conversations.engine import Engine
from conversations.i18n import t
from conversations.registry import REGISTRY
from domain.model import (
    ArtisanProfile,
    ArtisanSkill,
    ConversationState,
    InboundMessage,
    OutboxMessage,
    Person,
)
from domain.store import Store
from tests.conftest import FakeClock
from tests.integration.conversation_driver import Chat, seed_catalogue

PEOPLE = 12


def _answers(n: int) -> list[str]:
    # Every answer only makes sense at its own step, so any reordering shows up as a wrong record
    # (a name stored as a workshop, a capacity refused as an area...).
    return [
        "hi",
        "1",
        f"Artisan {n}",
        f"Workshop {n}",
        str(1 + n % 3),
        f"Area {n}",
        str(10 + n),
        f"0712 000 {n:03d}",
        "yes",
    ]


async def test_interleaved_messages_from_many_people_keep_each_persons_order(
    store: Store, clock: FakeClock
) -> None:
    await seed_catalogue(store)
    engine = Engine(store, registry=REGISTRY)
    chats = [Chat(engine, clock, address=f"whatsapp:+2547120{n:05d}") for n in range(PEOPLE)]

    # Every message of every person in flight at once: each person's in the order they typed it.
    results = await asyncio.gather(
        *(chat.send(answer) for n, chat in enumerate(chats) for answer in _answers(n))
    )

    assert sum(len(replies) for replies in results) == PEOPLE * len(_answers(0))
    async with store.transaction() as session:
        people = {p.name: p for p in await session.exec(select(Person))}
        for n in range(PEOPLE):
            person = people[f"Artisan {n}"]
            profile = await session.get(ArtisanProfile, person.id)
            assert profile is not None
            assert profile.workshop == f"Workshop {n}"
            assert person.area == f"Area {n}"
            assert profile.mpesa_number == f"+254712000{n:03d}"
            [skill] = await session.exec(
                select(ArtisanSkill).where(ArtisanSkill.artisan_id == person.id)
            )
            assert skill.weekly_capacity == 10 + n
        for n, chat in enumerate(chats):
            received = list(
                await session.exec(
                    select(InboundMessage)
                    .where(InboundMessage.address == chat.address)
                    .order_by(col(InboundMessage.id))
                )
            )
            assert [r.provider_message_id for r in received] == [
                m.provider_message_id for m in chat.sent
            ]
            replies = list(
                await session.exec(
                    select(OutboxMessage)
                    .where(OutboxMessage.address == chat.address)
                    .order_by(col(OutboxMessage.sequence))
                )
            )
            assert [m.in_reply_to for m in replies] == [r.id for r in received]
            assert json.loads(replies[-1].body)["text"] == t(
                "en", "registration.received", name=f"Artisan {n}"
            )
    assert engine.locks_held == 0


async def test_two_engines_on_one_store_never_lose_an_update(
    store: Store, clock: FakeClock
) -> None:
    """Two processes handling the same person's messages: each message advances the state once."""
    await seed_catalogue(store)
    first, second = (
        Engine(store, registry=REGISTRY),
        Engine(store, registry=REGISTRY),
    )
    chat_a = Chat(first, clock, address="whatsapp:+254712999001")
    chat_b = Chat(second, clock, address="whatsapp:+254712999001")
    await chat_a.send("hi")
    await chat_a.send("1")
    # Both processes get a message for the same conversation at the same moment.
    await asyncio.gather(chat_a.send("Wanjiru"), chat_b.send("Kazi Beads"))
    async with store.transaction() as session:
        state = await session.get(ConversationState, (chat_a.channel, chat_a.address))
    assert state is not None
    data = json.loads(state.data)
    # Whichever ran first was taken as the name, the other as the workshop: both were applied.
    assert {data["name"], data["workshop"]} == {"Wanjiru", "Kazi Beads"}
    assert state.step == "skills"
    assert state.version == 4
