"""The conversation engine's guarantees: exactly once, in one transaction, state that survives."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from enum import StrEnum
from pathlib import Path

import pytest
from sqlmodel import select

from conversations.engine import Engine
from conversations.flow import DONE, Answer, Context, Expect, Finish, Flow, Goto, Outcome, Step
from conversations.i18n import t
from conversations.messages import Incoming, Reply
from conversations.parts import Registry
from conversations.registry import REGISTRY
from conversations.state import StateConflict, load_conversation, save_conversation
from domain.model import (
    Channel,
    ConversationState,
    InboundStatus,
    OutboxKind,
    Person,
)
from domain.statemachine import Transitions
from domain.store import Store
from tests.conftest import FakeClock
from tests.integration.conversation_driver import (
    Chat,
    add_staff,
    inbound,
    outbox,
    person_at,
    register,
    seed_catalogue,
    state_of,
)

TIMEOUT = timedelta(hours=2)


@pytest.fixture
async def engine(store: Store) -> Engine:
    await seed_catalogue(store)
    return Engine(store, registry=REGISTRY, idle_timeout=TIMEOUT)


@pytest.fixture
def chat(engine: Engine, clock: FakeClock) -> Chat:
    return Chat(engine, clock)


# --- exactly once -------------------------------------------------------------------------------


async def test_a_redelivered_message_is_answered_once_and_changes_nothing(
    chat: Chat, store: Store
) -> None:
    await chat.send("hi")
    first = await chat.send("1")
    state_before = await state_of(store, chat)
    sent_before = await outbox(store)

    again = await chat.redeliver(chat.sent[-1])

    assert first[0].text == t("en", "registration.ask_name")
    assert again == []
    state_after = await state_of(store, chat)
    assert state_before is not None
    assert state_after is not None
    assert state_after.model_dump() == state_before.model_dump()
    assert [m.id for m in await outbox(store)] == [m.id for m in sent_before]


async def test_every_reply_is_in_the_outbox_in_order_linked_to_its_message(
    chat: Chat, store: Store
) -> None:
    replies = [await chat.send(text) for text in ("hi", "1", "Wanjiru")]
    received = await inbound(store)
    queued = await outbox(store, address=chat.address)
    assert [m.status for m in received] == [InboundStatus.PROCESSED] * 3
    assert [m.in_reply_to for m in queued] == [r.id for r in received]
    assert [m.sequence for m in queued] == [1, 2, 3]
    assert [Reply.from_json(m.body) for m in queued] == [r[0] for r in replies]
    assert {m.kind for m in queued} == {OutboxKind.REPLY}


async def test_a_message_accepted_by_the_webhook_is_handled_once_later(
    engine: Engine, chat: Chat, clock: FakeClock
) -> None:
    message = Incoming(Channel.WHATSAPP, chat.address, "SM-1", text="hi", received_at=clock.now())
    assert await engine.accept(message, now=clock.now()) is True
    assert await engine.accept(message, now=clock.now()) is False
    assert await engine.unprocessed() == [message]

    replies = await engine.handle(message)

    assert t("en", "registration.welcome") in replies[0].text
    assert await engine.unprocessed() == []
    assert await engine.handle(message) == []


async def test_accept_and_handle_records_handles_and_queues_in_one_go_and_only_once(
    engine: Engine, chat: Chat, store: Store, clock: FakeClock
) -> None:
    message = Incoming(Channel.WHATSAPP, chat.address, "SM-1", text="hi", received_at=clock.now())

    replies = await engine.accept_and_handle(message, now=clock.now())

    assert replies is not None
    assert t("en", "registration.welcome") in replies[0].text
    [received] = await inbound(store)
    assert received.status is InboundStatus.PROCESSED
    assert received.payload == message.to_json()
    queued = await outbox(store, address=chat.address)
    assert [m.in_reply_to for m in queued] == [received.id] * len(replies)
    assert [Reply.from_json(m.body) for m in queued] == replies
    assert await engine.accept_and_handle(message, now=clock.now()) is None
    assert await engine.unprocessed() == []
    assert len(await outbox(store, address=chat.address)) == len(replies)


async def test_accept_and_handle_leaves_a_message_already_accepted_to_whoever_accepted_it(
    engine: Engine, chat: Chat, store: Store, clock: FakeClock
) -> None:
    message = Incoming(Channel.WHATSAPP, chat.address, "SM-1", text="hi", received_at=clock.now())
    assert await engine.accept(message, now=clock.now()) is True

    assert await engine.accept_and_handle(message, now=clock.now()) is None

    assert await engine.unprocessed() == [message]
    assert await outbox(store, address=chat.address) == []


async def test_a_step_that_crashes_is_recorded_as_failed_and_the_sender_asked_to_retry(
    store: Store, clock: FakeClock
) -> None:
    class Boom(StrEnum):
        ASK = "ask"
        DONE = DONE

    async def ask(ctx: Context) -> Reply:
        return Reply("say anything")

    async def explode(ctx: Context, answer: Answer) -> Outcome:
        raise RuntimeError("a bug in a flow")

    broken = Flow(
        name="registration",  # where strangers land
        first=Boom.ASK,
        steps={Boom.ASK: Step(Expect.TEXT, ask, explode)},
        table=Transitions("boom", {Boom.ASK: frozenset({Boom.DONE}), Boom.DONE: frozenset()}),
    )
    chat = Chat(Engine(store, registry=Registry(flows={"registration": broken})), clock)
    await chat.send("hi")
    [reply] = await chat.send("anything")
    assert reply.text == t("en", "engine.failed")
    assert (await inbound(store))[-1].status is InboundStatus.FAILED
    assert await chat.redeliver(chat.sent[-1]) == []


# --- state: version check, idle timeout, restarts -----------------------------------------------


async def test_saving_state_someone_else_advanced_is_a_conflict(
    store: Store, clock: FakeClock
) -> None:
    async with store.transaction() as session:
        first = await load_conversation(session, Channel.WHATSAPP, "whatsapp:+254700000001")
        first.enter("registration", "name")
        await save_conversation(session, first, now=clock.now())
    async with store.transaction() as session:
        mine = await load_conversation(session, Channel.WHATSAPP, "whatsapp:+254700000001")
    async with store.transaction() as session:
        theirs = await load_conversation(session, Channel.WHATSAPP, "whatsapp:+254700000001")
        theirs.advance("workshop")
        await save_conversation(session, theirs, now=clock.now())
    mine.advance("workshop")
    async with store.transaction() as session:
        with pytest.raises(StateConflict):
            await save_conversation(session, mine, now=clock.now())
    async with store.transaction() as session:
        row = await session.get(ConversationState, (Channel.WHATSAPP, "whatsapp:+254700000001"))
    assert row is not None
    assert row.version == 2


async def test_a_half_finished_flow_times_out_even_across_a_restart(
    store: Store, chat: Chat, clock: FakeClock
) -> None:
    for text in ("hi", "1", "Wanjiru"):
        await chat.send(text)
    state = await state_of(store, chat)
    assert state is not None
    assert state.expires_at == clock.now() + TIMEOUT

    clock.advance(hours=3)
    restarted = Chat(
        Engine(store, registry=REGISTRY, idle_timeout=TIMEOUT), clock, address=chat.address
    )
    replies = await restarted.send("Kazi Beads")

    assert replies[0].text == t("en", "engine.started_over")
    assert t("en", "registration.welcome") in replies[1].text
    state = await state_of(store, chat)
    assert state is not None
    assert (state.flow, state.step) == ("registration", "language")
    assert "name" not in json.loads(state.data)


async def test_a_flow_continues_after_a_restart_within_the_idle_time(
    store: Store, chat: Chat, clock: FakeClock
) -> None:
    for text in ("hi", "1", "Wanjiru"):
        await chat.send(text)
    clock.advance(minutes=90)
    restarted = Chat(
        Engine(store, registry=REGISTRY, idle_timeout=TIMEOUT), clock, address=chat.address
    )
    assert (await restarted.send("Kazi Beads"))[0].text == t("en", "registration.ask_skills")


async def test_a_state_left_by_a_removed_flow_is_reset_instead_of_crashing(
    store: Store, chat: Chat, clock: FakeClock
) -> None:
    async with store.transaction() as session:
        session.add(
            ConversationState(
                channel=chat.channel,
                address=chat.address,
                flow="retired_flow",
                step="gone",
                updated_at=clock.now(),
            )
        )
    assert t("en", "registration.welcome") in await chat.say("hi")


# --- global words -------------------------------------------------------------------------------


async def test_stop_is_persisted_and_no_business_message_reaches_a_stopped_person(
    engine: Engine, store: Store, clock: FakeClock
) -> None:
    stopped = await add_staff(store, clock, name="Otieno", address="tg-1", areas=("Kibera",))
    listening = await add_staff(store, clock, name="Amina", address="tg-2", areas=("Kibera",))
    agent = Chat(engine, clock, address="tg-1", channel=Channel.TELEGRAM)
    assert await agent.say("STOP") == t("en", "engine.stopped")

    await register(Chat(engine, clock))

    async with store.transaction() as session:
        person = await session.get(Person, stopped.id)
    assert person is not None
    assert person.opted_out is True
    business = await outbox(store, kind=OutboxKind.BUSINESS)
    assert [m.person_id for m in business] == [listening.id]


async def test_start_clears_the_opt_out_and_business_messages_flow_again(
    engine: Engine, store: Store, clock: FakeClock
) -> None:
    agent_person = await add_staff(store, clock, name="Otieno", address="tg-1")
    agent = Chat(engine, clock, address="tg-1", channel=Channel.TELEGRAM)
    await agent.send("stop")
    replies = await agent.send("START")
    assert replies[0].text == t("en", "engine.started")
    assert replies[1].text == t("en", "menu.title", name="Otieno")

    await register(Chat(engine, clock))
    business = await outbox(store, kind=OutboxKind.BUSINESS)
    assert [m.person_id for m in business] == [agent_person.id]


async def test_a_stopped_artisan_is_not_told_of_their_verification(
    engine: Engine, store: Store, clock: FakeClock
) -> None:
    await add_staff(store, clock, name="Otieno", address="tg-1")
    artisan_chat = Chat(engine, clock)
    await register(artisan_chat)
    await artisan_chat.send("stop")
    artisan = await person_at(store, artisan_chat)
    assert artisan is not None
    await Chat(engine, clock, address="tg-1", channel=Channel.TELEGRAM).send(
        f"/verify {artisan.id}"
    )
    assert await outbox(store, address=artisan_chat.address, kind=OutboxKind.BUSINESS) == []


async def test_language_is_remembered_for_a_registered_person(
    engine: Engine, store: Store, clock: FakeClock
) -> None:
    person = await add_staff(store, clock, name="Otieno", address="tg-1")
    agent = Chat(engine, clock, address="tg-1", channel=Channel.TELEGRAM)
    assert await agent.say("language sw") == t("sw", "engine.language_set")
    assert (await agent.send("menyu"))[0].text == t("sw", "menu.title", name="Otieno")
    async with store.transaction() as session:
        stored = await session.get(Person, person.id)
    assert stored is not None
    assert stored.language == "sw"
    assert await agent.say("lugha") == t("sw", "engine.language_how")


async def test_a_registered_person_typing_anything_gets_the_menu_and_cancel_returns_to_it(
    engine: Engine, store: Store, clock: FakeClock
) -> None:
    await add_staff(store, clock, name="Otieno", address="tg-1")
    agent = Chat(engine, clock, address="tg-1", channel=Channel.TELEGRAM)
    [menu] = await agent.send("hello")
    assert menu.text == t("en", "menu.title", name="Otieno")
    assert await agent.say("9") == t("en", "engine.choose_one", count=len(menu.choices))
    assert await agent.say("Quality checks") == t("en", "agent.qc.queue_empty")  # picked by name
    assert (await agent.send("cancel"))[0].text == t("en", "engine.nothing_to_cancel")


async def test_an_unknown_command_is_explained(chat: Chat) -> None:
    assert await chat.say("/launch") == t("en", "command.unknown", command="/launch")


# --- structure ----------------------------------------------------------------------------------


def _diagram_edges(path: Path) -> set[tuple[str, str]]:
    edges = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        match = re.match(r"\s*(\[\*\]|\w+)\s*-->\s*(\[\*\]|\w+)", line)
        if match:
            edges.add((match.group(1), match.group(2)))
    return edges


@pytest.mark.parametrize("flow", REGISTRY.flows.values(), ids=lambda flow: flow.name)
def test_each_flows_mermaid_diagram_draws_exactly_its_state_table(flow: Flow) -> None:
    assert flow.diagram is not None, f"flow {flow.name} needs a Mermaid diagram beside it"
    declared = {("[*]", flow.first)} | {
        (str(source), "[*]" if str(target) == DONE else str(target))
        for source, targets in flow.table.table.items()
        for target in targets
    }
    assert _diagram_edges(flow.diagram) == declared


async def test_locks_are_forgotten_once_nobody_waits_on_them(engine: Engine, chat: Chat) -> None:
    await chat.send("hi")
    assert engine.locks_held == 0


async def test_a_goto_outside_the_state_table_is_refused(store: Store, clock: FakeClock) -> None:
    class Bad(StrEnum):
        ONE = "one"
        TWO = "two"
        DONE = DONE

    async def ask(ctx: Context) -> Reply:
        return Reply("?")

    async def jump(ctx: Context, answer: Answer) -> Outcome:
        return Goto(Bad.TWO)  # the table says ONE may only finish

    async def finish(ctx: Context, answer: Answer) -> Outcome:
        return Finish()

    flow = Flow(
        name="registration",
        first=Bad.ONE,
        steps={Bad.ONE: Step(Expect.TEXT, ask, jump), Bad.TWO: Step(Expect.TEXT, ask, finish)},
        table=Transitions(
            "bad",
            {Bad.ONE: frozenset({Bad.DONE}), Bad.TWO: frozenset({Bad.DONE}), Bad.DONE: frozenset()},
        ),
    )
    chat = Chat(Engine(store, registry=Registry(flows={"registration": flow})), clock)
    await chat.send("hi")
    assert await chat.say("go") == t("en", "engine.failed")
    state = await state_of(store, chat)
    assert state is not None
    assert state.step == "one"


async def test_the_inbound_payload_is_kept_as_normalised_json(chat: Chat, store: Store) -> None:
    await chat.send("hi")
    async with store.transaction() as session:
        row = (await session.exec(select(ConversationState))).one()
    received = await inbound(store)
    assert Incoming.from_json(received[0].payload) == chat.sent[0]
    assert row.person_id is None
