"""SMS through Africa's Talking, below the HTTP server: the sender against the fake Africa's
Talking on loopback, the outbox with it (cost, delivery reports, budgets), the fallback from
WhatsApp, WhatsApp templates per language, and ``/channel``."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, select
from typer.testing import CliRunner

from bot.channels.dispatcher import Backoff, Dispatcher, Sender, dead_letters
from bot.channels.send_errors import SendError, SendFailure
from bot.channels.sms import (
    DeliveryReport,
    SmsReceipt,
    SmsSender,
    apply_delivery_report,
    parse_cost,
)
from bot.channels.sms_routes import OVER_BUDGET, SmsBudget, renderer
from bot.channels.whatsapp import Template
from bot.cli import app
from bot.db.database import upgrade_database
from conversations.engine import Engine
from conversations.i18n import default_catalogue
from conversations.messages import Choice, Reply
from conversations.outbox import enqueue, notify_people, notify_person
from conversations.registry import REGISTRY
from domain.model import (
    Channel,
    InboundMessage,
    Language,
    OutboxKind,
    OutboxMessage,
    OutboxStatus,
    Person,
    Role,
)
from domain.services.channel_choice import choose_channel
from domain.services.people import add_person, link_identity
from domain.services.sms_usage import sms_this_month
from domain.store import Store
from tests.conftest import FakeClock
from tests.fakes.africastalking import COST_PER_SEGMENT_E4, FakeAfricasTalking
from tests.integration.conversation_driver import Chat
from tests.integration.factory_fixtures import pending_artisan

WAMBUI = "+254722000001"
ACHIENG = "+254700000901"
CATALOGUE = default_catalogue()
WORDS = {n: c.words for n, c in REGISTRY.commands.table.items() if c.words}
NAIROBI = ZoneInfo("Africa/Nairobi")


class FakeWhatsApp:
    """A WhatsApp sender that records what it sends and refuses what it is told to."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.templates: list[tuple[str, Template]] = []
        self.refuse: SendError | None = None

    async def send(self, address: str, reply: Reply) -> str:
        if self.refuse is not None:
            raise self.refuse
        self.sent.append((address, reply.text))
        return f"SM{len(self.sent)}"

    async def send_template(self, address: str, template: Template) -> str:
        self.templates.append((address, template))
        return f"SMT{len(self.templates)}"


@pytest.fixture
async def africastalking() -> AsyncIterator[FakeAfricasTalking]:
    async with FakeAfricasTalking().running() as fake:
        yield fake


@pytest.fixture
async def sms(store: Store, africastalking: FakeAfricasTalking) -> AsyncIterator[SmsSender]:
    sender = SmsSender(
        username=africastalking.username,
        api_key=africastalking.api_key,
        sender_id="KARAKANA",
        api_base_url=africastalking.base_url,
        render=renderer(store, CATALOGUE, WORDS),
    )
    async with sender:
        yield sender


def dispatcher(
    store: Store,
    clock: FakeClock,
    senders: Mapping[Channel, Sender],
    *,
    templates: Mapping[str, str | Mapping[str, str]] | None = None,
    per_person: int | None = None,
    per_factory: int | None = None,
) -> Dispatcher:
    budget = SmsBudget(CATALOGUE, NAIROBI, per_person=per_person, per_factory=per_factory)
    return Dispatcher(
        store,
        senders,
        clock=clock.now,
        templates=templates,
        rates=dict.fromkeys(senders, 1000.0),
        gates={Channel.SMS: budget},
        max_attempts=3,
        backoff=Backoff(base=1.0, cap=5.0),
        rng=random.Random(7),
    )


async def person(
    store: Store,
    clock: FakeClock,
    *,
    name: str = "Wambui",
    role: Role = Role.FIELD_AGENT,
    channel: Channel = Channel.SMS,
    address: str = WAMBUI,
    language: Language = Language.SW,
    also: tuple[tuple[Channel, str], ...] = (),
) -> Person:
    async with store.transaction() as session:
        someone = await add_person(
            session,
            role=role,
            name=name,
            channel=channel,
            address=address,
            language=language,
            now=clock.now(),
        )
        assert someone.id is not None
        for other, where in also:
            await link_identity(session, person_id=someone.id, channel=other, address=where)
        return someone


async def queue(
    store: Store,
    clock: FakeClock,
    who: Person,
    reply: Reply,
    *,
    channel: Channel = Channel.SMS,
    address: str = WAMBUI,
    kind: OutboxKind = OutboxKind.BUSINESS,
) -> int:
    async with store.transaction() as session:
        message = await enqueue(
            session,
            channel=channel,
            address=address,
            reply=reply,
            kind=kind,
            now=clock.now(),
            person_id=who.id,
        )
        assert message.id is not None
        return message.id


async def rows(store: Store, *where: object) -> list[OutboxMessage]:
    async with store.transaction() as session:
        found = await session.exec(
            select(OutboxMessage).where(*where).order_by(col(OutboxMessage.id))  # type: ignore[arg-type]
        )
        return list(found)


# --- the sender ----------------------------------------------------------------------------


async def test_an_sms_goes_to_the_documented_api_rendered_for_sms_with_its_cost(
    store: Store, clock: FakeClock, sms: SmsSender, africastalking: FakeAfricasTalking
) -> None:
    await person(store, clock)  # speaks Kiswahili
    offer = Reply(
        "*Ofa mpya* ✅ #12",
        choices=(Choice("offer:12:accept", "Kubali"), Choice("offer:12:decline", "Kataa")),
    )

    receipt = await sms.send(WAMBUI, offer)

    [sent] = africastalking.messages
    assert (sent.to, sent.username, sent.from_) == (WAMBUI, "sandbox", "KARAKANA")
    assert sent.message == "Ofa mpya #12\nJibu KUBALI 12, KATAA 12"
    assert isinstance(receipt, SmsReceipt)
    assert str(receipt) == sent.message_id
    assert (receipt.segments, receipt.cost_e4, receipt.cost_currency) == (
        1,
        COST_PER_SEGMENT_E4,
        "KES",
    )
    assert parse_cost("KES 0.8000") == (8000, "KES")
    assert parse_cost("None") is None


@pytest.mark.parametrize(
    ("http_status", "recipient_code", "failure"),
    [
        (200, 406, SendFailure.OPTED_OUT),  # UserInBlacklist
        (200, 403, SendFailure.BAD_RECIPIENT),  # InvalidPhoneNumber
        (200, 407, SendFailure.REJECTED),  # CouldNotRoute
        (200, 405, SendFailure.TRANSIENT),  # InsufficientBalance: retried, then a dead letter
        (500, None, SendFailure.TRANSIENT),
        (429, None, SendFailure.RATE_LIMITED),
        (401, None, SendFailure.REJECTED),
    ],
)
async def test_refusals_are_classified_for_the_outbox(
    sms: SmsSender,
    africastalking: FakeAfricasTalking,
    http_status: int,
    recipient_code: int | None,
    failure: SendFailure,
) -> None:
    africastalking.fail_next_sends(http_status=http_status, recipient_code=recipient_code)
    with pytest.raises(SendError) as refused:
        await sms.send(WAMBUI, Reply("Habari"))
    assert refused.value.failure is failure
    assert africastalking.messages == []


async def test_a_wrong_api_key_is_refused_and_the_key_never_reaches_a_log(
    store: Store, africastalking: FakeAfricasTalking, caplog: pytest.LogCaptureFixture
) -> None:
    async with SmsSender(
        username="sandbox",
        api_key="not-the-key-0123456789",
        api_base_url=africastalking.base_url,
        render=renderer(store, CATALOGUE, WORDS),
    ) as sender:
        with pytest.raises(SendError) as refused:
            await sender.send(WAMBUI, Reply("Habari"))
    assert refused.value.failure is SendFailure.REJECTED
    assert africastalking.refused_auth == 1
    assert "not-the-key" not in caplog.text + repr(refused.value)


# --- the outbox: cost, delivery reports, STOP ----------------------------------------------


async def test_the_outbox_records_cost_and_reports_move_it_forward_only(
    store: Store, clock: FakeClock, sms: SmsSender, africastalking: FakeAfricasTalking
) -> None:
    wambui = await person(store, clock)
    first = await queue(store, clock, wambui, Reply("Habari ya kwanza"))
    second = await queue(store, clock, wambui, Reply("x" * 200))  # two segments
    outbox = dispatcher(store, clock, {Channel.SMS: sms})
    assert await outbox.dispatch_due() == 1
    assert await outbox.dispatch_due() == 1

    one, two = await rows(store, col(OutboxMessage.id).in_([first, second]))
    assert (one.status, one.segments, one.cost_e4, one.sent_at) == (
        OutboxStatus.SENT,
        1,
        COST_PER_SEGMENT_E4,
        clock.now(),
    )
    assert (two.segments, two.cost_e4) == (2, 2 * COST_PER_SEGMENT_E4)
    async with store.read() as session:
        month = await sms_this_month(session, now=clock.now(), zone=NAIROBI)
    assert (month.messages, month.segments, month.cost_text()) == (2, 3, "KES 2.40")

    # Reports arrive out of order: Success, then a late Buffered, which changes nothing.
    assert one.provider_message_id is not None
    await apply_delivery_report(store, DeliveryReport(one.provider_message_id, "Success", None))
    await apply_delivery_report(store, DeliveryReport(one.provider_message_id, "Buffered", None))
    # The second fails on the network: the reason is kept and admins see it.
    assert two.provider_message_id is not None
    await apply_delivery_report(
        store, DeliveryReport(two.provider_message_id, "Failed", "DeliveryFailure")
    )
    one, two = await rows(store, col(OutboxMessage.id).in_([first, second]))
    assert one.status is OutboxStatus.DELIVERED
    assert (two.status, two.error_code) == (OutboxStatus.FAILED, "DeliveryFailure")
    assert [m.id for m in await dead_letters(store)] == [second]
    unknown = await apply_delivery_report(store, DeliveryReport("ATXid_nobody", "Success", None))
    assert unknown is None


async def test_a_blacklisted_number_is_marked_opted_out_like_stop_on_whatsapp(
    store: Store, clock: FakeClock, sms: SmsSender, africastalking: FakeAfricasTalking
) -> None:
    wambui = await person(store, clock)
    await queue(store, clock, wambui, Reply("Ofa 1"))
    later = await queue(store, clock, wambui, Reply("Ofa 2"))
    africastalking.fail_next_sends(recipient_code=406)
    outbox = dispatcher(store, clock, {Channel.SMS: sms})

    await outbox.dispatch_due()

    async with store.read() as session:
        found = await session.get(Person, wambui.id)
        assert found is not None
        assert found.opted_out
    [queued_later] = await rows(store, OutboxMessage.id == later)
    assert queued_later.status is OutboxStatus.DEAD


# --- budgets -------------------------------------------------------------------------------


async def test_a_persons_daily_budget_holds_the_rest_until_tomorrow_and_admins_hear_once(
    store: Store, clock: FakeClock, sms: SmsSender, africastalking: FakeAfricasTalking
) -> None:
    wambui = await person(store, clock)
    admin = await person(
        store,
        clock,
        name="Achieng",
        role=Role.ADMIN,
        channel=Channel.WHATSAPP,
        address=ACHIENG,
        language=Language.EN,
    )
    for n in (1, 2, 3):
        await queue(store, clock, wambui, Reply(f"Ujumbe {n}"))
    outbox = dispatcher(store, clock, {Channel.SMS: sms}, per_person=1)

    for _ in range(3):
        await outbox.dispatch_due()

    assert africastalking.texts_to(WAMBUI) == ["Ujumbe 1"]
    held = await rows(store, OutboxMessage.channel == Channel.SMS, OutboxMessage.status == "queued")
    tomorrow = datetime(2026, 3, 3, 0, 0, tzinfo=NAIROBI)
    assert [(m.error_code, m.next_attempt_at) for m in held[:1]] == [(OVER_BUDGET, tomorrow)]
    told = await rows(store, OutboxMessage.address == ACHIENG)
    assert len(told) == 1  # once, however many passes find the budget used up
    assert "Wambui" in Reply.from_json(told[0].body).text
    assert told[0].person_id == admin.id

    clock.advance(days=1)
    for _ in range(3):
        await outbox.dispatch_due()
    assert africastalking.texts_to(WAMBUI) == ["Ujumbe 1", "Ujumbe 2"]  # the next day's one


async def test_the_factorys_daily_budget_holds_everyone(
    store: Store, clock: FakeClock, sms: SmsSender, africastalking: FakeAfricasTalking
) -> None:
    wambui = await person(store, clock)
    other = await person(store, clock, name="Otieno", address="+254722000002")
    await queue(store, clock, wambui, Reply("Moja"))
    await queue(store, clock, other, Reply("Mbili"), address="+254722000002")
    outbox = dispatcher(store, clock, {Channel.SMS: sms}, per_factory=1)

    await outbox.dispatch_due()
    await outbox.dispatch_due()

    assert len(africastalking.messages) == 1
    [held] = await rows(store, OutboxMessage.status == "queued", OutboxMessage.channel == "sms")
    assert held.error_code == OVER_BUDGET


# --- the fallback from WhatsApp ------------------------------------------------------------


async def test_a_business_message_outside_the_window_without_template_goes_by_sms_once(
    store: Store, clock: FakeClock, sms: SmsSender, africastalking: FakeAfricasTalking
) -> None:
    wambui = await person(
        store, clock, channel=Channel.WHATSAPP, also=((Channel.SMS, WAMBUI),)
    )  # has never written on WhatsApp: the window is closed
    whatsapp = FakeWhatsApp()
    original = await queue(
        store,
        clock,
        wambui,
        Reply("Ofa ndefu", choices=(Choice("offer:7:accept", "Kubali"),), short="Ofa 7 fupi"),
        channel=Channel.WHATSAPP,
    )
    reply = await queue(
        store, clock, wambui, Reply("jibu"), channel=Channel.WHATSAPP, kind=OutboxKind.REPLY
    )
    outbox = dispatcher(store, clock, {Channel.WHATSAPP: whatsapp, Channel.SMS: sms})

    for _ in range(3):
        await outbox.dispatch_due()

    assert africastalking.texts_to(WAMBUI) == ["Ofa 7 fupi"]  # its short form, once
    assert whatsapp.sent == []
    [carried, held_reply] = await rows(store, col(OutboxMessage.id).in_([original, reply]))
    [by_sms] = await rows(store, OutboxMessage.channel == Channel.SMS)
    assert (carried.status, carried.error_code) == (OutboxStatus.DEAD, f"via_sms:{by_sms.id}")
    assert (by_sms.fallback_of, by_sms.status) == (original, OutboxStatus.SENT)
    # A reply is not a business message: it waits for the window, as before.
    assert (held_reply.status, held_reply.error_code) == (OutboxStatus.QUEUED, "no_template")


async def test_a_permanent_whatsapp_failure_goes_by_sms_and_keeps_the_reason(
    store: Store, clock: FakeClock, sms: SmsSender, africastalking: FakeAfricasTalking
) -> None:
    wambui = await person(store, clock, channel=Channel.WHATSAPP, also=((Channel.SMS, WAMBUI),))
    async with store.transaction() as session:
        session.add(
            InboundMessage(
                channel=Channel.WHATSAPP,
                provider_message_id="SM-in",
                address=WAMBUI,
                payload="{}",
                received_at=clock.now() - timedelta(minutes=5),
            )
        )
    whatsapp = FakeWhatsApp()
    whatsapp.refuse = SendError(
        "not on WhatsApp", channel="whatsapp", failure=SendFailure.BAD_RECIPIENT, code=63003
    )
    original = await queue(store, clock, wambui, Reply("Malipo"), channel=Channel.WHATSAPP)
    outbox = dispatcher(store, clock, {Channel.WHATSAPP: whatsapp, Channel.SMS: sms})

    for _ in range(3):
        await outbox.dispatch_due()

    [failed] = await rows(store, OutboxMessage.id == original)
    [by_sms] = await rows(store, OutboxMessage.channel == Channel.SMS)
    assert (failed.status, failed.error_code) == (OutboxStatus.FAILED, f"63003>via_sms:{by_sms.id}")
    assert africastalking.texts_to(WAMBUI) == ["Malipo"]


async def test_without_an_sms_identity_a_closed_window_still_holds(
    store: Store, clock: FakeClock, sms: SmsSender, africastalking: FakeAfricasTalking
) -> None:
    wambui = await person(store, clock, channel=Channel.WHATSAPP)
    original = await queue(store, clock, wambui, Reply("Ofa"), channel=Channel.WHATSAPP)
    outbox = dispatcher(store, clock, {Channel.WHATSAPP: FakeWhatsApp(), Channel.SMS: sms})

    await outbox.dispatch_due()

    [held] = await rows(store, OutboxMessage.id == original)
    assert (held.status, held.error_code) == (OutboxStatus.QUEUED, "no_template")
    assert africastalking.messages == []


# --- WhatsApp templates per language -------------------------------------------------------


async def test_the_template_is_chosen_by_the_persons_language_and_the_old_form_still_works(
    store: Store, clock: FakeClock
) -> None:
    swahili = await person(store, clock, channel=Channel.WHATSAPP)
    english = await person(
        store, clock, name="Jane", channel=Channel.WHATSAPP, address=ACHIENG, language=Language.EN
    )
    offer = Reply("Offer", choices=(Choice("offer:3:accept", "Accept"),))
    await queue(store, clock, swahili, offer, channel=Channel.WHATSAPP)
    await queue(store, clock, english, offer, channel=Channel.WHATSAPP, address=ACHIENG)
    await queue(store, clock, english, Reply("Paid"), channel=Channel.WHATSAPP, address=ACHIENG)
    whatsapp = FakeWhatsApp()
    templates: dict[str, str | Mapping[str, str]] = {
        "offer": {"sw": "HXoffer_sw", "en": "HXoffer_en"},
        "default": "HXdefault",
    }
    outbox = dispatcher(store, clock, {Channel.WHATSAPP: whatsapp}, templates=templates)

    for _ in range(3):
        await outbox.dispatch_due()

    assert sorted((a, t.content_sid) for a, t in whatsapp.templates) == [
        (ACHIENG, "HXdefault"),
        (ACHIENG, "HXoffer_en"),
        (WAMBUI, "HXoffer_sw"),
    ]


# --- one person, several channels: /channel ------------------------------------------------


@pytest.fixture
def engine(store: Store) -> Engine:
    return Engine(store, registry=REGISTRY, catalogue=CATALOGUE)


async def test_channel_chooses_where_business_messages_go(
    store: Store, clock: FakeClock, engine: Engine
) -> None:
    wambui = await person(
        store,
        clock,
        role=Role.ADMIN,
        channel=Channel.WHATSAPP,
        language=Language.EN,
        also=((Channel.SMS, WAMBUI),),
    )
    chat = Chat(engine, clock, address=WAMBUI, channel=Channel.WHATSAPP)

    [shown] = await chat.send("/channel")
    assert [c.payload for c in shown.choices] == ["channel:whatsapp", "channel:sms"]
    assert await chat.say(payload="channel:sms") == CATALOGUE.t(
        "en", "channel.chosen", channel="SMS"
    )
    async with store.transaction() as session:
        found = await session.get(Person, wambui.id)
        assert found is not None
        assert found.preferred_channel is Channel.SMS
        notice = await notify_person(session, found, Reply("Offer"), now=clock.now())
    assert notice is not None
    assert (notice.channel, notice.address) == (Channel.SMS, WAMBUI)
    # She has never written on Telegram: nothing to send there, and how to open it.
    assert await chat.say("/channel telegram") == CATALOGUE.t(
        "en", "channel.not_on_own_telegram", channel="Telegram"
    )
    assert "/channel" in await chat.say("/channel pigeon")


async def test_a_field_agent_sets_an_artisans_channel(
    store: Store, clock: FakeClock, engine: Engine
) -> None:
    async with store.transaction() as session:
        artisan = await pending_artisan(
            session, now=clock.now(), name="Wambui", channel=Channel.SMS, address=WAMBUI
        )
        assert artisan.id is not None
        await link_identity(session, person_id=artisan.id, channel=Channel.WHATSAPP, address=WAMBUI)
    await person(
        store,
        clock,
        name="Kamau",
        channel=Channel.TELEGRAM,
        address="7100001",
        language=Language.EN,
    )
    agent = Chat(engine, clock, address="7100001", channel=Channel.TELEGRAM)

    said = await agent.say(f"/channel {artisan.id} whatsapp")

    assert said == CATALOGUE.t(
        "en", "channel.chosen_for", id=artisan.id, name="Wambui", channel="WhatsApp"
    )
    async with store.read() as session:
        chosen = await session.get(Person, artisan.id)
        assert chosen is not None
        assert chosen.preferred_channel is Channel.WHATSAPP
    assert await agent.say("/channel 99999 sms") == CATALOGUE.t("en", "channel.no_person", id=99999)


# --- karakana status -----------------------------------------------------------------------


def test_karakana_status_shows_the_sms_sent_this_month_and_their_cost(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'factory.db'}"
    upgrade_database(url)
    now = datetime.now(UTC)

    async def fill() -> None:
        store = Store.from_url(url)
        try:
            async with store.transaction() as session:
                wambui = await add_person(
                    session,
                    role=Role.FIELD_AGENT,
                    name="Wambui",
                    channel=Channel.SMS,
                    address=WAMBUI,
                    now=now,
                )
                for segments, sent_at in ((1, now), (2, now), (1, now - timedelta(days=40))):
                    message = await enqueue(
                        session,
                        channel=Channel.SMS,
                        address=WAMBUI,
                        reply=Reply("x"),
                        kind=OutboxKind.BUSINESS,
                        now=now,
                        person_id=wambui.id,
                    )
                    message.status = OutboxStatus.SENT
                    message.sent_at = sent_at
                    message.segments = segments
                    message.cost_e4, message.cost_currency = segments * 8000, "KES"
        finally:
            await store.close()

    asyncio.run(fill())
    result = CliRunner().invoke(
        app, ["status"], env={"DATABASE_URL": url, "COLUMNS": "200", "NO_COLOR": "1"}
    )

    assert result.exit_code == 0, result.output
    month = now.astimezone(NAIROBI)
    assert f"SMS in {month:%Y-%m}: 2 sent, 3 segments, cost KES 2.40" in result.output


# --- STOP and START ------------------------------------------------------------------------


async def test_stop_and_start_by_sms_and_a_blacklist_report(
    store: Store, clock: FakeClock, engine: Engine
) -> None:
    wambui = await person(store, clock)
    chat = Chat(engine, clock, address=WAMBUI, channel=Channel.SMS)

    stopped = await chat.say("STOP")

    async with store.read() as session:
        found = await session.get(Person, wambui.id)
        assert found is not None
        assert found.opted_out
        assert await notify_person(session, found, Reply("Ofa"), now=clock.now()) is None
    assert stopped == CATALOGUE.t("sw", "engine.stopped")
    await chat.say("START")
    async with store.read() as session:
        found = await session.get(Person, wambui.id)
        assert found is not None
        assert not found.opted_out

    # The network says she blacklisted our sender: the same as STOP.
    sent = await queue(store, clock, wambui, Reply("Ofa"))
    async with store.transaction() as session:
        message = await session.get(OutboxMessage, sent)
        assert message is not None
        message.status, message.provider_message_id = OutboxStatus.SENT, "ATXid_b"
    await apply_delivery_report(store, DeliveryReport("ATXid_b", "Rejected", "UserInBlacklist"))
    async with store.read() as session:
        found = await session.get(Person, wambui.id)
        assert found is not None
        assert found.opted_out


async def test_an_sms_is_sending_while_africas_talking_holds_its_answer(
    store: Store, clock: FakeClock, sms: SmsSender, africastalking: FakeAfricasTalking
) -> None:
    wambui = await person(store, clock)
    first = await queue(store, clock, wambui, Reply("Moja"))
    await queue(store, clock, wambui, Reply("Mbili"))
    held = africastalking.hold_next_send()
    outbox = dispatcher(store, clock, {Channel.SMS: sms})

    sending = asyncio.create_task(outbox.dispatch_due())
    await held.arrived.wait()
    [in_flight] = await rows(store, OutboxMessage.id == first)
    assert in_flight.status is OutboxStatus.SENDING
    assert await outbox.dispatch_due() == 0  # the second waits behind the first, in order
    held.release()
    assert await sending == 1

    [done] = await rows(store, OutboxMessage.id == first)
    assert (done.status, done.provider_message_id) == (
        OutboxStatus.SENT,
        held.sms and held.sms.message_id,
    )
    await outbox.dispatch_due()
    assert africastalking.texts_to(WAMBUI) == ["Moja", "Mbili"]


async def test_the_chosen_channel_carries_bulk_notices_too(store: Store, clock: FakeClock) -> None:
    wambui = await person(store, clock, channel=Channel.WHATSAPP, also=((Channel.SMS, WAMBUI),))
    async with store.transaction() as session:
        assert await notify_people(session, [(wambui, "Malipo 1")], now=clock.now()) == 1
        assert wambui.id is not None
        await choose_channel(session, wambui.id, Channel.SMS)
        found = await session.get(Person, wambui.id)
        assert found is not None
        assert await notify_people(session, [(found, "Malipo 2")], now=clock.now()) == 1
    sent = await rows(store, OutboxMessage.address == WAMBUI)
    assert [(m.channel, Reply.from_json(m.body).text) for m in sent] == [
        (Channel.WHATSAPP, "Malipo 1"),  # where she could be reached first, unchosen
        (Channel.SMS, "Malipo 2"),
    ]
