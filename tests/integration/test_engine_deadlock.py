"""A message whose transaction PostgreSQL rolls back to break a deadlock is handled again, not
answered with an apology: nothing was wrong with it, another transaction was in the way."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from sqlalchemy import text
from sqlmodel import select

from conversations.engine import Engine
from conversations.i18n import t
from conversations.messages import Incoming
from conversations.registry import REGISTRY
from domain.model import Channel, InboundMessage, InboundStatus
from domain.store import Store
from tests.conftest import FakeClock
from tests.integration.conversation_driver import Chat, seed_catalogue

ADDRESS = "+254712000777"
_waiting_for_a_lock = text(
    "SELECT count(*) FROM pg_stat_activity"
    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
)


async def _until_someone_waits_for_a_lock(store: Store) -> None:
    async with store.engine.connect() as watcher:
        for _ in itertools.count():
            waiting = (await watcher.execute(_waiting_for_a_lock)).scalar_one()
            # pg_stat_activity is read once a transaction: look again in a new one each time.
            await watcher.rollback()
            if waiting:
                return
            await asyncio.sleep(0.02)


# SQLite's writers take turns, so there two transactions never deadlock.
@pytest.mark.postgres
@pytest.mark.parametrize("backend_url", ["postgres"], indirect=True)
async def test_a_message_rolled_back_to_break_a_deadlock_is_handled_on_the_next_attempt(
    any_store: Store, clock: FakeClock
) -> None:
    await seed_catalogue(any_store)
    engine = Engine(any_store, registry=REGISTRY)
    await Chat(engine, clock, address=ADDRESS).send("hi")  # the conversation has a state row
    second = Incoming(
        channel=Channel.WHATSAPP,
        address=ADDRESS,
        provider_message_id="SM-deadlock-2",
        text="hi",
        received_at=clock.now(),
    )
    assert await engine.accept(second, now=clock.now())  # its row exists, waiting to be handled

    async with any_store.engine.connect() as other:
        # Another transaction holds the conversation's state row, and waits longer than the
        # engine's before checking for a deadlock, so PostgreSQL rolls back the engine's one.
        await other.execute(text("SET LOCAL deadlock_timeout = '10s'"))
        await other.execute(
            text(
                "UPDATE conversation_state SET updated_at = updated_at"
                " WHERE channel = 'whatsapp' AND address = :address"
            ),
            {"address": ADDRESS},
        )
        # The engine locks the message's row, then waits for the state row ...
        watching = asyncio.create_task(_until_someone_waits_for_a_lock(any_store))
        await asyncio.sleep(0.2)  # looking already: each look must see the activity anew
        handling = asyncio.create_task(engine.handle(second))
        await asyncio.wait_for(watching, 30)
        # ... while this transaction waits for the message's row: a deadlock.
        await other.execute(
            text(
                "SELECT id FROM inbound_message"
                " WHERE provider_message_id = 'SM-deadlock-2' FOR UPDATE"
            )
        )
        await other.commit()

    replies = await asyncio.wait_for(handling, 30)

    assert replies
    assert t("en", "engine.failed") not in [reply.text for reply in replies]
    async with any_store.read() as session:
        status = (
            await session.exec(
                select(InboundMessage.status).where(
                    InboundMessage.provider_message_id == "SM-deadlock-2"
                )
            )
        ).one()
    assert status is InboundStatus.PROCESSED
