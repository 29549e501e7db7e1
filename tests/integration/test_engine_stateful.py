"""Random message sequences from several people, with duplicates, junk, waits and restarts.

Whatever arrives, in any order: every accepted message is answered exactly once (its replies are
in the outbox, linked to it, and a redelivery adds nothing), no message fails, and every
conversation is always in a state the flows declare.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Coroutine
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from sqlmodel import SQLModel, col, select

import domain.model  # noqa: F401  (registers every table)
from conversations.engine import Engine
from conversations.messages import Incoming, MediaItem, Reply
from conversations.registry import REGISTRY
from domain.model import Channel, ConversationState, InboundMessage, InboundStatus, OutboxMessage
from domain.store import Store
from tests.conftest import FakeClock
from tests.integration.conversation_driver import (
    PHOTO,
    STICKER,
    VOICE,
    add_staff,
    seed_catalogue,
)

T = TypeVar("T")

ARTISANS = ("whatsapp:+254712000001", "whatsapp:+254712000002", "whatsapp:+254712000003")
AGENT = "tg-agent"
TIMEOUT = timedelta(hours=1)

WORDS = (
    "hi", "1", "2", "3", "9", "1,2", "2, 3", "Wanjiru Kamau", "Kazi Beads", "Kibera", "40",
    "40, 25", "0712 345 678", "0712", "yes", "ndiyo", "Start again", "back", "rudi", "cancel",
    "help", "menu", "STOP", "START", "lugha sw", "language en", "language", "🙂", "x" * 2000,
    "/verify 2", "/verify 3", "/verify 4", "/pending", "/nonsense",
)  # fmt: skip

messages = st.one_of(
    st.tuples(st.sampled_from(WORDS), st.just(()), st.none()),
    st.tuples(st.text(max_size=40), st.just(()), st.none()),
    st.tuples(st.just(""), st.sampled_from([(PHOTO,), (STICKER,), (VOICE,)]), st.none()),
    st.tuples(
        st.just(""),
        st.just(()),
        st.sampled_from(["reg:confirm", "cmd:menu", "lang:sw", "verify:2", "menu:offers", "x:1"]),
    ),
)


class ConversationMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.runner = asyncio.Runner()
        self.folder = Path(tempfile.mkdtemp(prefix="karakana-stateful-"))
        self.store = Store.from_url(f"sqlite+aiosqlite:///{self.folder / 'k.db'}")
        self.clock = FakeClock()
        self.run(self._setup())
        self.engine = Engine(self.store, registry=REGISTRY, idle_timeout=TIMEOUT)
        self.accepted: list[Incoming] = []
        self.reply_count = 0
        self.counter = 0

    async def _setup(self) -> None:
        async with self.store.engine.begin() as conn:
            await conn.run_sync(SQLModel.metadata.create_all)
        await seed_catalogue(self.store)
        await add_staff(self.store, self.clock, name="Otieno", address=AGENT, areas=("Kibera",))

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.runner.run(coroutine)

    async def _query(self, model: type[T], *where: Any) -> list[T]:
        async with self.store.transaction() as session:
            statement = select(model).where(*where) if where else select(model)
            return list(await session.exec(statement))

    @rule(
        who=st.sampled_from([*ARTISANS, AGENT]),
        message=messages,
    )
    def a_message_arrives(
        self, who: str, message: tuple[str, tuple[MediaItem, ...], str | None]
    ) -> None:
        text, media, payload = message
        self.counter += 1
        incoming = Incoming(
            channel=Channel.TELEGRAM if who == AGENT else Channel.WHATSAPP,
            address=who,
            provider_message_id=f"m-{self.counter}",
            text=text,
            media=media,
            button_payload=payload,
            received_at=self.clock.now(),
        )
        replies = self.run(self.engine.handle(incoming))
        self.accepted.append(incoming)
        self.reply_count += len(replies)

        assert replies, f"{message!r} from {who} got no reply"
        [row] = self.run(
            self._query(
                InboundMessage,
                InboundMessage.provider_message_id == incoming.provider_message_id,
            )
        )
        queued = self.run(self._query(OutboxMessage, OutboxMessage.in_reply_to == row.id))
        assert [Reply.from_json(m.body) for m in sorted(queued, key=lambda m: m.sequence)] == (
            replies
        )

    @precondition(lambda self: bool(self.accepted))
    @rule(pick=st.integers(min_value=0))
    def a_message_is_delivered_again(self, pick: int) -> None:
        before = len(self.run(self._query(OutboxMessage)))
        incoming = self.accepted[pick % len(self.accepted)]
        assert self.run(self.engine.handle(incoming)) == []
        assert len(self.run(self._query(OutboxMessage))) == before

    @rule(minutes=st.integers(min_value=1, max_value=150))
    def time_passes(self, minutes: int) -> None:
        self.clock.advance(minutes=minutes)

    @rule()
    def the_process_restarts(self) -> None:
        self.engine = Engine(self.store, registry=REGISTRY, idle_timeout=TIMEOUT)

    @invariant()
    def every_conversation_is_in_a_declared_state(self) -> None:
        for state in self.run(self._query(ConversationState)):
            assert self.engine.is_valid_state(state.flow, state.step), (state.flow, state.step)
            if state.flow == "idle":
                assert state.expires_at is None

    @invariant()
    def every_accepted_message_was_processed_once_and_answered_once(self) -> None:
        received = self.run(self._query(InboundMessage))
        assert len(received) == len(self.accepted)
        assert all(r.status is InboundStatus.PROCESSED for r in received)
        replies = self.run(self._query(OutboxMessage, col(OutboxMessage.in_reply_to).is_not(None)))
        assert len(replies) == self.reply_count

    def teardown(self) -> None:
        self.run(self.store.close())
        self.runner.close()
        shutil.rmtree(self.folder, ignore_errors=True)


TestConversationMachine = ConversationMachine.TestCase
TestConversationMachine.settings = settings(
    max_examples=20,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
