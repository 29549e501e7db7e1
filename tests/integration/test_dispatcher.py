"""The outbox dispatcher on a real SQLite store, with fake channel senders and a fake clock."""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Mapping
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from bot.channels.dispatcher import (
    Backoff,
    Dispatcher,
    NotRetryable,
    apply_status,
    dead_letters,
    release_held,
    retry,
)
from bot.channels.send_errors import SendError, SendFailure
from bot.channels.whatsapp import Template
from bot.rate_limit import TokenBucket
from bot.server import Health
from conversations.messages import Choice, Reply
from conversations.outbox import enqueue
from domain.model import (
    Channel,
    InboundMessage,
    OutboxKind,
    OutboxMessage,
    OutboxStatus,
    Person,
    Role,
)
from domain.services import dead_letters as shared_dead_letters
from domain.services.dead_letters import HELD, NO_SENDER
from domain.services.people import add_person
from domain.store import Store
from tests.conftest import FakeClock

AMINA = "+254711000001"
BARAKA = "+254711000002"
CHAT = "7000001"


class FakeSender:
    """Records what it is asked to send; refuses the next sends with the errors it is given."""

    def __init__(self, channel: Channel = Channel.WHATSAPP) -> None:
        self.channel = channel
        self.sent: list[tuple[str, str]] = []
        self.templates: list[tuple[str, Template]] = []
        self.failures: deque[SendError] = deque()

    def fail_next(
        self, *failures: SendFailure, code: int | None = None, retry_after: float | None = None
    ) -> None:
        for failure in failures:
            self.failures.append(
                SendError(
                    "refused",
                    channel=self.channel.value,
                    failure=failure,
                    code=code,
                    retry_after=retry_after,
                )
            )

    async def send(self, address: str, reply: Reply) -> str:
        if self.failures:
            raise self.failures.popleft()
        self.sent.append((address, reply.text))
        return f"SM{len(self.sent) + len(self.templates)}"

    async def send_template(self, address: str, template: Template) -> str:
        if self.failures:
            raise self.failures.popleft()
        self.templates.append((address, template))
        return f"SM{len(self.sent) + len(self.templates)}"


@pytest.fixture
def whatsapp() -> FakeSender:
    return FakeSender()


@pytest.fixture
def telegram() -> FakeSender:
    return FakeSender(Channel.TELEGRAM)


def make_dispatcher(
    store: Store,
    clock: FakeClock,
    *senders: FakeSender,
    templates: Mapping[str, str] | None = None,
    max_attempts: int = 4,
) -> Dispatcher:
    return Dispatcher(
        store,
        {sender.channel: sender for sender in senders},
        clock=clock.now,
        templates=templates,
        rates={sender.channel: 1000.0 for sender in senders},
        max_attempts=max_attempts,
        backoff=Backoff(base=2.0, cap=60.0),
        rng=random.Random(7),
    )


async def queue(
    store: Store,
    clock: FakeClock,
    address: str,
    text: str,
    *,
    channel: Channel = Channel.WHATSAPP,
    kind: OutboxKind = OutboxKind.REPLY,
    person_id: int | None = None,
    choices: tuple[Choice, ...] = (),
) -> int:
    async with store.transaction() as session:
        message = await enqueue(
            session,
            channel=channel,
            address=address,
            reply=Reply(text, choices=choices),
            kind=kind,
            now=clock.now(),
            person_id=person_id,
        )
        assert message.id is not None
        return message.id


async def wrote_at(store: Store, clock: FakeClock, address: str, *, ago: timedelta) -> None:
    """``address`` last wrote to us on WhatsApp ``ago`` before now."""
    async with store.transaction() as session:
        session.add(
            InboundMessage(
                channel=Channel.WHATSAPP,
                provider_message_id=f"SM-{address}-{ago}",
                address=address,
                payload="{}",
                received_at=clock.now() - ago,
            )
        )


async def message(store: Store, message_id: int) -> OutboxMessage:
    async with store.transaction() as session:
        found = await session.get(OutboxMessage, message_id)
        assert found is not None
        return found


async def person(store: Store, clock: FakeClock, address: str) -> Person:
    async with store.transaction() as session:
        return await add_person(
            session,
            role=Role.FIELD_AGENT,
            name="Amina",
            channel=Channel.WHATSAPP,
            address=address,
            now=clock.now(),
        )


@pytest.fixture
async def in_window(store: Store, clock: FakeClock) -> None:
    for address in (AMINA, BARAKA):
        await wrote_at(store, clock, address, ago=timedelta(minutes=5))


# --- order and retries ---------------------------------------------------------------------------


@pytest.mark.usefixtures("in_window")
async def test_each_persons_messages_go_in_order_and_people_do_not_wait_for_each_other(
    store: Store, clock: FakeClock, whatsapp: FakeSender
) -> None:
    for n in (1, 2, 3):
        await queue(store, clock, AMINA, f"amina {n}")
        await queue(store, clock, BARAKA, f"baraka {n}")
    dispatcher = make_dispatcher(store, clock, whatsapp)

    passes = [await dispatcher.dispatch_due() for _ in range(4)]

    assert passes == [2, 2, 2, 0]  # one head per person per pass
    assert [text for address, text in whatsapp.sent if address == AMINA] == [
        "amina 1",
        "amina 2",
        "amina 3",
    ]
    assert [text for address, text in whatsapp.sent if address == BARAKA] == [
        "baraka 1",
        "baraka 2",
        "baraka 3",
    ]


class SlowSender(FakeSender):
    """Holds every send until released, counting how many wait on the provider at once."""

    def __init__(self, channel: Channel) -> None:
        super().__init__(channel)
        self.waiting = 0
        self.most_waiting = 0
        self.release = asyncio.Event()

    async def send(self, address: str, reply: Reply) -> str:
        self.waiting += 1
        self.most_waiting = max(self.most_waiting, self.waiting)
        try:
            await self.release.wait()
        finally:
            self.waiting -= 1
        return await super().send(address, reply)


async def test_at_most_max_in_flight_sends_per_channel_wait_on_a_provider_at_once(
    store: Store, clock: FakeClock
) -> None:
    whatsapp, telegram = SlowSender(Channel.WHATSAPP), SlowSender(Channel.TELEGRAM)
    for n in range(12):
        await wrote_at(store, clock, f"+2547110001{n:02d}", ago=timedelta(minutes=5))
        await queue(store, clock, f"+2547110001{n:02d}", f"whatsapp {n}")
        await queue(store, clock, f"70001{n:02d}", f"telegram {n}", channel=Channel.TELEGRAM)
    dispatcher = Dispatcher(
        store,
        {Channel.WHATSAPP: whatsapp, Channel.TELEGRAM: telegram},
        clock=clock.now,
        rates={Channel.WHATSAPP: 1000.0, Channel.TELEGRAM: 1000.0},
        max_in_flight=3,
    )

    passing = asyncio.create_task(dispatcher.dispatch_due())
    for _ in range(200):  # until each channel has filled its slots
        if whatsapp.waiting == 3 and telegram.waiting == 3:
            break
        await asyncio.sleep(0.01)
    assert (whatsapp.waiting, telegram.waiting) == (3, 3)
    whatsapp.release.set()
    telegram.release.set()

    assert await passing == 24
    assert (whatsapp.most_waiting, telegram.most_waiting) == (3, 3)
    assert len(whatsapp.sent) == len(telegram.sent) == 12


@pytest.mark.usefixtures("in_window")
async def test_a_rate_limited_message_waits_its_backoff_and_holds_back_the_next_one(
    store: Store, clock: FakeClock, whatsapp: FakeSender
) -> None:
    first = await queue(store, clock, AMINA, "first")
    await queue(store, clock, AMINA, "second")
    whatsapp.fail_next(SendFailure.RATE_LIMITED, code=63018)
    dispatcher = make_dispatcher(store, clock, whatsapp)

    await dispatcher.dispatch_due()
    waiting = await message(store, first)
    await dispatcher.dispatch_due()

    assert (waiting.status, waiting.attempts, waiting.error_code) == (
        OutboxStatus.QUEUED,
        1,
        "63018",
    )
    delay = (waiting.next_attempt_at - clock.now()).total_seconds()
    assert 1.0 <= delay <= 2.0  # half to all of the 2 s base
    assert whatsapp.sent == []  # "second" did not overtake
    clock.advance(seconds=delay)
    await dispatcher.dispatch_due()
    await dispatcher.dispatch_due()
    assert [text for _, text in whatsapp.sent] == ["first", "second"]


@pytest.mark.usefixtures("in_window")
async def test_a_providers_retry_after_is_respected_over_a_shorter_backoff(
    store: Store, clock: FakeClock, telegram: FakeSender
) -> None:
    first = await queue(store, clock, CHAT, "hi", channel=Channel.TELEGRAM)
    telegram.fail_next(SendFailure.RATE_LIMITED, code=429, retry_after=30)
    dispatcher = make_dispatcher(store, clock, telegram)

    await dispatcher.dispatch_due()

    waiting = await message(store, first)
    assert waiting.next_attempt_at - clock.now() >= timedelta(seconds=30)


def test_backoff_grows_exponentially_within_its_jitter_and_cap() -> None:
    backoff, rng = Backoff(base=2.0, cap=60.0), random.Random(1)
    for attempt in range(1, 10):
        ceiling = min(60.0, 2.0 * 2 ** (attempt - 1))
        assert ceiling / 2 <= backoff.delay(attempt, rng) <= ceiling


@pytest.mark.usefixtures("in_window")
async def test_after_max_attempts_a_message_is_a_dead_letter_that_an_admin_can_retry(
    store: Store, clock: FakeClock, whatsapp: FakeSender
) -> None:
    stuck = await queue(store, clock, AMINA, "hello")
    after = await queue(store, clock, AMINA, "after")
    whatsapp.fail_next(*[SendFailure.TRANSIENT] * 3)
    dispatcher = make_dispatcher(store, clock, whatsapp, max_attempts=3)

    for _ in range(3):
        await dispatcher.dispatch_due()
        clock.advance(minutes=5)
    dead = await message(store, stuck)
    await dispatcher.dispatch_due()  # the dead letter no longer holds back the next message

    assert (dead.status, dead.attempts) == (OutboxStatus.DEAD, 3)
    assert [m.id for m in await dead_letters(store)] == [stuck]
    assert whatsapp.sent == [(AMINA, "after")]
    assert (await message(store, after)).status is OutboxStatus.SENT

    await retry(store, stuck, now=clock.now())
    await dispatcher.dispatch_due()

    resent = await message(store, stuck)
    assert (resent.status, resent.attempts, resent.error_code) == (OutboxStatus.SENT, 1, None)
    assert await dead_letters(store) == []
    with pytest.raises(NotRetryable, match="only failed or dead"):
        await retry(store, stuck, now=clock.now())


@pytest.mark.usefixtures("in_window")
@pytest.mark.parametrize(
    ("failure", "code"),
    [
        (SendFailure.WINDOW_CLOSED, 63016),
        (SendFailure.TEMPLATE_REJECTED, 63041),
        (SendFailure.TEMPLATE_REJECTED, 21656),
        (SendFailure.BAD_RECIPIENT, 21211),
    ],
)
async def test_a_refusal_that_retrying_cannot_fix_fails_at_once_with_its_code_for_admins(
    store: Store, clock: FakeClock, whatsapp: FakeSender, failure: SendFailure, code: int
) -> None:
    refused = await queue(store, clock, AMINA, "hello")
    whatsapp.fail_next(failure, code=code)
    dispatcher = make_dispatcher(store, clock, whatsapp)

    await dispatcher.dispatch_due()

    failed = await message(store, refused)
    assert (failed.status, failed.attempts, failed.error_code) == (
        OutboxStatus.FAILED,
        1,
        str(code),
    )
    assert [m.id for m in await dead_letters(store)] == [refused]


@pytest.mark.usefixtures("in_window")
async def test_an_unsubscribed_recipient_is_opted_out_and_nothing_more_is_sent_to_them(
    store: Store, clock: FakeClock, whatsapp: FakeSender
) -> None:
    amina = await person(store, clock, AMINA)
    first = await queue(store, clock, AMINA, "one", kind=OutboxKind.BUSINESS, person_id=amina.id)
    second = await queue(store, clock, AMINA, "two", kind=OutboxKind.BUSINESS, person_id=amina.id)
    whatsapp.fail_next(SendFailure.OPTED_OUT, code=21610)
    dispatcher = make_dispatcher(store, clock, whatsapp)

    await dispatcher.dispatch_due()
    await dispatcher.dispatch_due()

    assert (await message(store, first)).error_code == "21610"
    assert (await message(store, second)).status is OutboxStatus.DEAD
    async with store.transaction() as session:
        refreshed = await session.get(Person, amina.id)
        assert refreshed is not None
        assert refreshed.opted_out
    assert whatsapp.sent == []


# --- the 24-hour window ---------------------------------------------------------------------------


async def test_inside_the_window_a_business_message_is_sent_as_written(
    store: Store, clock: FakeClock, whatsapp: FakeSender
) -> None:
    await wrote_at(store, clock, AMINA, ago=timedelta(hours=23, minutes=59))
    await queue(store, clock, AMINA, "A job for you", kind=OutboxKind.BUSINESS)

    await make_dispatcher(store, clock, whatsapp, templates={"default": "HXdefault"}).dispatch_due()

    assert whatsapp.sent == [(AMINA, "A job for you")]
    assert whatsapp.templates == []


async def test_outside_the_window_the_template_for_the_messages_topic_is_used(
    store: Store, clock: FakeClock, whatsapp: FakeSender
) -> None:
    await wrote_at(store, clock, AMINA, ago=timedelta(hours=24, minutes=1))
    offer = (Choice("offer:12:accept", "Accept"), Choice("offer:12:decline", "Decline"))
    await queue(store, clock, AMINA, "12 brass hooks\nby Friday", choices=offer)
    await queue(store, clock, BARAKA, "Welcome back")  # never wrote: default template
    templates = {"offer": "HXoffer", "default": "HXdefault"}

    await make_dispatcher(store, clock, whatsapp, templates=templates).dispatch_due()

    assert sorted(whatsapp.templates, key=lambda sent: sent[0]) == [
        # Numbered options in the text: typed, a number works whether buttons show or not.
        (AMINA, Template("HXoffer", {"1": "12 brass hooks by Friday — 1. Accept · 2. Decline"})),
        (BARAKA, Template("HXdefault", {"1": "Welcome back"})),
    ]
    assert whatsapp.sent == []


async def test_outside_the_window_without_a_template_a_message_is_held_until_they_write(
    store: Store, clock: FakeClock, whatsapp: FakeSender
) -> None:
    held = await queue(store, clock, AMINA, "A job for you", kind=OutboxKind.BUSINESS)
    dispatcher = make_dispatcher(store, clock, whatsapp)

    await dispatcher.dispatch_due()
    waiting = await message(store, held)

    assert (waiting.status, waiting.attempts, waiting.error_code) == (OutboxStatus.QUEUED, 0, HELD)
    assert [m.id for m in await dead_letters(store)] == [held]  # admins see it
    assert whatsapp.sent == []

    await wrote_at(store, clock, AMINA, ago=timedelta(0))
    assert await release_held(store, Channel.WHATSAPP, AMINA, now=clock.now()) == 1
    await dispatcher.dispatch_due()

    assert whatsapp.sent == [(AMINA, "A job for you")]


# --- crash recovery, channels, rate ---------------------------------------------------------------


@pytest.mark.usefixtures("in_window")
async def test_a_message_left_sending_by_a_crash_is_sent_again_at_start_up(
    store: Store, clock: FakeClock, whatsapp: FakeSender
) -> None:
    interrupted = await queue(store, clock, AMINA, "hello")
    async with store.transaction() as session:
        row = await session.get(OutboxMessage, interrupted)
        assert row is not None
        row.status, row.attempts = OutboxStatus.SENDING, 1
    dispatcher = make_dispatcher(store, clock, whatsapp)

    assert await dispatcher.dispatch_due() == 0  # not picked while it is (apparently) in flight
    assert await dispatcher.recover() == 1
    await dispatcher.dispatch_due()

    sent = await message(store, interrupted)
    assert (sent.status, sent.attempts) == (OutboxStatus.SENT, 2)
    assert whatsapp.sent == [(AMINA, "hello")]


async def test_console_and_web_chat_messages_are_left_for_their_own_channels(
    store: Store, clock: FakeClock, whatsapp: FakeSender
) -> None:
    console = await queue(store, clock, "console-1", "hi", channel=Channel.CONSOLE)
    web = await queue(store, clock, "web-1", "hi", channel=Channel.WEB)

    await make_dispatcher(store, clock, whatsapp).dispatch_due()

    assert (await message(store, console)).status is OutboxStatus.QUEUED
    assert (await message(store, web)).status is OutboxStatus.QUEUED
    with pytest.raises(ValueError, match="read their own outbox"):
        make_dispatcher(store, clock, FakeSender(Channel.WEB))


async def test_the_token_bucket_keeps_to_its_rate_after_the_burst() -> None:
    bucket = TokenBucket(rate=50.0, capacity=1)
    started = time.monotonic()

    await asyncio.gather(*(bucket.take() for _ in range(6)))

    assert time.monotonic() - started >= 5 / 50 * 0.9


async def test_a_paused_bucket_waits_out_the_pause() -> None:
    bucket = TokenBucket(rate=1000.0)
    bucket.pause(0.1)
    started = time.monotonic()

    await bucket.take()

    assert time.monotonic() - started >= 0.09


# --- status callbacks -----------------------------------------------------------------------------

_RANK = {
    OutboxStatus.SENDING: 0,
    OutboxStatus.SENT: 1,
    OutboxStatus.DELIVERED: 2,
    OutboxStatus.READ: 3,
}


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.sampled_from(["queued", "sent", "delivered", "read", "sending"]), max_size=8))
async def test_status_callbacks_in_any_order_only_ever_move_a_message_forward(
    store: Store, clock: FakeClock, statuses: list[str]
) -> None:
    sent = await queue(store, clock, AMINA, "hello")
    sid = f"SM{sent}"
    async with store.transaction() as session:
        row = await session.get(OutboxMessage, sent)
        assert row is not None
        row.status, row.provider_message_id = OutboxStatus.SENT, sid
    seen = [OutboxStatus.SENT]

    for status in statuses:
        await apply_status(store, provider_message_id=sid, status=status, error_code=None)
        seen.append((await message(store, sent)).status)

    ranks = [_RANK[status] for status in seen]
    assert ranks == sorted(ranks)
    expected = max(
        [OutboxStatus.SENT, *(OutboxStatus(s) for s in statuses if s in {"delivered", "read"})],
        key=_RANK.__getitem__,
    )
    assert seen[-1] is expected


async def test_a_failure_callback_after_delivery_is_ignored_but_before_it_is_recorded(
    store: Store, clock: FakeClock
) -> None:
    delivered, sent = await queue(store, clock, AMINA, "a"), await queue(store, clock, BARAKA, "b")
    async with store.transaction() as session:
        for message_id, status in ((delivered, OutboxStatus.DELIVERED), (sent, OutboxStatus.SENT)):
            row = await session.get(OutboxMessage, message_id)
            assert row is not None
            row.status, row.provider_message_id = status, f"SM{message_id}"

    for message_id in (delivered, sent):
        await apply_status(
            store, provider_message_id=f"SM{message_id}", status="undelivered", error_code=63016
        )

    assert (await message(store, delivered)).status is OutboxStatus.DELIVERED
    failed = await message(store, sent)
    assert (failed.status, failed.error_code) == (OutboxStatus.FAILED, "63016")


# --- health ---------------------------------------------------------------------------------------


async def test_health_is_unhealthy_when_the_database_cannot_be_reached() -> None:
    # A closed port, not a missing SQLite file: aiosqlite's worker thread can outlive a failed
    # connect and call back into a closed event loop after the test.
    missing = Store.from_url("postgresql+asyncpg://karakana@127.0.0.1:9/nowhere")
    try:
        healthy, checks = await Health(missing).report()
    finally:
        await missing.close()

    assert not healthy
    assert checks["database"].startswith("unreachable")


async def test_health_is_unhealthy_when_the_dispatcher_has_stopped(
    store: Store, clock: FakeClock, whatsapp: FakeSender
) -> None:
    dispatcher = make_dispatcher(store, clock, whatsapp)
    await queue(store, clock, AMINA, "waiting")

    healthy, checks = await Health(store, dispatcher).report()

    assert not healthy
    assert checks["dispatcher"] == "stopped"
    assert checks["outbox"]["queued"] == 1
    assert (await _count(store)) == 1


async def _count(store: Store) -> int:
    async with store.transaction() as session:
        return len(list(await session.exec(select(OutboxMessage))))


# --- a channel with no sender -------------------------------------------------------------------


async def test_what_waits_for_a_channel_with_no_sender_is_held_counted_and_sent_once_configured(
    store: Store, clock: FakeClock, telegram: FakeSender
) -> None:
    for_whatsapp = await queue(store, clock, AMINA, "an offer")
    for_telegram = await queue(store, clock, CHAT, "a receipt", channel=Channel.TELEGRAM)
    only_telegram = make_dispatcher(store, clock, telegram)

    assert await only_telegram.recover() == 0  # marks at start-up, before anything is sent
    await only_telegram.dispatch_due()
    _, checks = await Health(store, only_telegram).report()

    assert checks["outbox"]["held"] == 1
    assert telegram.sent == [(CHAT, "a receipt")]
    async with store.read() as session:
        waiting = await session.get(OutboxMessage, for_whatsapp)
        sent = await session.get(OutboxMessage, for_telegram)
        assert waiting is not None
        assert sent is not None
        assert (waiting.status, waiting.error_code) == (OutboxStatus.QUEUED, NO_SENDER)
        assert (sent.status, sent.error_code) == (OutboxStatus.SENT, None)
    assert await _needing_an_admin(store) == ([for_whatsapp], 1)

    # A process with WhatsApp configured sends it, and it is held no more.
    whatsapp = FakeSender(Channel.WHATSAPP)
    async with store.transaction() as session:  # Amina wrote lately: her window is open
        session.add(
            InboundMessage(
                channel=Channel.WHATSAPP,
                provider_message_id="SM-window",
                address=AMINA,
                payload="{}",
                received_at=clock.now(),
            )
        )
    assert await make_dispatcher(store, clock, whatsapp, telegram).dispatch_due() == 1
    assert whatsapp.sent == [(AMINA, "an offer")]
    assert (await Health(store, only_telegram).report())[1]["outbox"]["held"] == 0
    assert await _needing_an_admin(store) == ([], 0)


async def _needing_an_admin(store: Store) -> tuple[list[int | None], int]:
    """What /deadletters lists, by id, and how many it counts."""
    async with store.read() as session:
        rows, total = await shared_dead_letters.dead_letters(session, limit=10)
        return [message.id for message, _ in rows], total
