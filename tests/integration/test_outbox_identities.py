"""Where the outbox reaches people unprompted: ``preferred_identities`` (many people in a few
queries, as the payout notices queue receipts) picks the chat ``preferred_identity`` picks for
each one alone."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import SQLModel

from conversations.outbox import preferred_identities, preferred_identity
from domain.model import Channel, ChannelIdentity, ConversationState, Role
from domain.store import Store
from tests.integration.factory_fixtures import bare_person

NOW = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)

# Per person: their chat identities (channels) and their conversation states, each either on one
# of their identities (its index) or on an address that is not theirs (None).
PERSON = st.tuples(
    st.lists(st.sampled_from(list(Channel)), max_size=4),
    st.lists(st.tuples(st.none() | st.integers(0, 3), st.sampled_from(list(Channel))), max_size=3),
)


async def _compare_preferred(
    people: Sequence[tuple[list[Channel], list[tuple[int | None, Channel]]]],
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = Store.from_url(f"sqlite+aiosqlite:///{Path(folder) / 'karakana.db'}")
        try:
            async with store.engine.begin() as connection:
                await connection.run_sync(SQLModel.metadata.create_all)
            ids: list[int] = []
            moment = NOW
            taken: set[tuple[Channel, str]] = set()
            async with store.transaction() as session:
                for n, (channels, states) in enumerate(people):
                    person = await bare_person(session, f"Person {n}", Role.ARTISAN, now=NOW)
                    ids.append(person)
                    addresses = [(c, f"{n}-{k}") for k, c in enumerate(channels)]
                    for channel, address in addresses:
                        session.add(
                            ChannelIdentity(person_id=person, channel=channel, address=address)
                        )
                    for k, (which, channel) in enumerate(states):
                        on = (
                            addresses[which]
                            if which is not None and which < len(addresses)
                            else (channel, f"elsewhere-{n}-{k}")
                        )
                        if on in taken:
                            continue  # one state per chat address
                        taken.add(on)
                        moment += timedelta(minutes=1)  # each state last written at its own time
                        session.add(
                            ConversationState(
                                channel=on[0],
                                address=on[1],
                                person_id=person,
                                flow="menu",
                                step="idle",
                                updated_at=moment,
                            )
                        )
            async with store.read() as session:
                grouped = await preferred_identities(session, set(ids))
                for person in ids:
                    one = await preferred_identity(session, person)
                    assert grouped.get(person) == (
                        None if one is None else (one.channel, one.address)
                    )
        finally:
            await store.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(people=st.lists(PERSON, min_size=1, max_size=4))
def test_many_people_are_reached_where_each_alone_would_be(
    people: list[tuple[list[Channel], list[tuple[int | None, Channel]]]],
) -> None:
    asyncio.run(_compare_preferred(people))


async def test_a_person_is_reached_where_they_last_wrote_else_on_the_best_channel(
    store: Store,
) -> None:
    async with store.transaction() as session:
        wrote = await bare_person(session, "Wrote on Telegram", Role.ARTISAN, now=NOW)
        never = await bare_person(session, "Never wrote", Role.ARTISAN, now=NOW)
        nowhere = await bare_person(session, "No chat at all", Role.ARTISAN, now=NOW)
        for person in (wrote, never):
            for channel in (Channel.WEB, Channel.TELEGRAM, Channel.WHATSAPP):
                session.add(
                    ChannelIdentity(
                        person_id=person, channel=channel, address=f"{channel}-{person}"
                    )
                )
        session.add(
            ConversationState(
                channel=Channel.TELEGRAM,
                address=f"telegram-{wrote}",
                person_id=wrote,
                flow="menu",
                step="idle",
                updated_at=NOW,
            )
        )

    async with store.read() as session:
        found = await preferred_identities(session, {wrote, never, nowhere})

    assert found == {
        wrote: (Channel.TELEGRAM, f"telegram-{wrote}"),
        never: (Channel.WHATSAPP, f"whatsapp-{never}"),
    }
