"""The outbox through the running server: status callbacks, retries, opt-outs, the 24-hour window,
order per person, recovery after a crash, graceful shutdown and /healthz."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import httpx

from conversations.engine import Engine
from conversations.i18n import t
from conversations.messages import Incoming, Reply
from conversations.outbox import enqueue
from conversations.registry import REGISTRY
from domain.model import (
    Channel,
    InboundStatus,
    OutboxKind,
    OutboxMessage,
    OutboxStatus,
)
from domain.store import Store
from tests.e2e.harness import Running, eventually, running_karakana, settle
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.twilio_api import FakeTwilio

WANJIKU = "+254712345678"
OTIENO = "+254722000111"
WELCOME = t("en", "registration.welcome")
TEMPLATE = "HX" + "0" * 32


async def _sent_reply(karakana: Running, number: str) -> OutboxMessage:
    await karakana.whatsapp(number, "Habari")

    async def sent() -> OutboxMessage | None:
        messages = await karakana.outbox(number)
        return messages[0] if messages and messages[0].status is OutboxStatus.SENT else None

    return await eventually(sent)


async def _status(karakana: Running, message_id: int) -> OutboxMessage:
    async with karakana.store.transaction() as session:
        message = await session.get(OutboxMessage, message_id)
        assert message is not None
        return message


async def test_status_callbacks_move_a_message_forward_and_never_back(karakana: Running) -> None:
    message = await _sent_reply(karakana, WANJIKU)
    assert message.id is not None
    assert message.provider_message_id is not None
    seen = []
    for status in ("delivered", "sent", "read", "delivered", "failed"):
        response = await karakana.twilio.post_status_callback(
            karakana.status_callback,
            message_sid=message.provider_message_id,
            status=status,
            to_number=WANJIKU,
        )
        assert response.status_code == 204
        seen.append((await _status(karakana, message.id)).status)

    assert seen == [
        OutboxStatus.DELIVERED,
        OutboxStatus.DELIVERED,
        OutboxStatus.READ,
        OutboxStatus.READ,
        OutboxStatus.READ,
    ]


async def test_an_unsigned_status_callback_is_refused(karakana: Running) -> None:
    message = await _sent_reply(karakana, WANJIKU)
    assert message.id is not None
    assert message.provider_message_id is not None
    form = karakana.twilio.status_form(
        message_sid=message.provider_message_id, status="read", to_number=WANJIKU
    )

    response = await karakana.twilio.post_webhook(
        karakana.status_callback, form, signature="Zm9yZ2Vk"
    )

    assert response.status_code == 403
    assert (await _status(karakana, message.id)).status is OutboxStatus.SENT


async def test_an_undelivered_callback_records_the_error_for_admins(karakana: Running) -> None:
    message = await _sent_reply(karakana, WANJIKU)
    assert message.id is not None
    assert message.provider_message_id is not None

    await karakana.twilio.post_status_callback(
        karakana.status_callback,
        message_sid=message.provider_message_id,
        status="undelivered",
        to_number=WANJIKU,
        error_code=63016,
    )

    failed = await _status(karakana, message.id)
    assert (failed.status, failed.error_code) == (OutboxStatus.FAILED, "63016")


async def test_rate_limits_are_retried_with_backoff_until_twilio_accepts(
    karakana: Running,
) -> None:
    karakana.twilio.fail_next_sends(1, code=63018, status=400)
    karakana.twilio.fail_next_sends(1, code=20429, status=429)

    await karakana.whatsapp(WANJIKU, "Habari")

    [text] = await eventually(lambda: karakana.texts_to(WANJIKU))
    assert text.startswith(WELCOME)
    [message] = await eventually(lambda: karakana.all_sent(WANJIKU))
    assert (message.status, message.attempts, message.error_code) == (OutboxStatus.SENT, 3, None)


async def test_a_refusal_because_the_person_unsubscribed_opts_them_out(karakana: Running) -> None:
    agent = await karakana.add_staff("Otieno", channel=Channel.WHATSAPP, address=OTIENO)
    await karakana.whatsapp(OTIENO, "hi")  # opens the window
    await eventually(lambda: karakana.texts_to(OTIENO))
    karakana.twilio.fail_next_sends(1, code=21610)
    assert agent.id is not None

    message_id = await karakana.queue_business(agent, Channel.WHATSAPP, OTIENO, "A new job")

    failed = await eventually(lambda: _failed(karakana, message_id), within=30)
    assert failed.error_code == "21610"
    assert (await karakana.person(agent.id)).opted_out


async def _failed(karakana: Running, message_id: int) -> OutboxMessage | None:
    message = await _status(karakana, message_id)
    return message if message.status is OutboxStatus.FAILED else None


async def test_a_status_callback_with_21610_opts_the_person_out(karakana: Running) -> None:
    agent = await karakana.add_staff("Otieno", channel=Channel.WHATSAPP, address=OTIENO)
    assert agent.id is not None
    message = await _sent_reply(karakana, OTIENO)
    assert message.provider_message_id is not None

    await karakana.twilio.post_status_callback(
        karakana.status_callback,
        message_sid=message.provider_message_id,
        status="failed",
        to_number=OTIENO,
        error_code=21610,
    )

    assert (await karakana.person(agent.id)).opted_out


async def test_outside_the_24_hour_window_a_business_message_uses_the_template(
    store: Store, tmp_path: Path, twilio: FakeTwilio, telegram: FakeTelegram
) -> None:
    async with running_karakana(
        store, tmp_path, twilio, telegram, templates={"default": TEMPLATE}
    ) as karakana:
        agent = await karakana.add_staff("Otieno", channel=Channel.WHATSAPP, address=OTIENO)

        await karakana.queue_business(agent, Channel.WHATSAPP, OTIENO, "Please verify\nWanjiku")

        [sent] = await eventually(lambda: twilio.messages)
        assert (sent.to, sent.body, sent.content_sid) == (f"whatsapp:{OTIENO}", None, TEMPLATE)
        assert json.loads(sent.content_variables or "{}") == {"1": "Please verify Wanjiku"}


async def test_without_a_template_it_is_held_until_the_person_writes_then_sent_first(
    karakana: Running,
) -> None:
    agent = await karakana.add_staff("Otieno", channel=Channel.WHATSAPP, address=OTIENO)
    message_id = await karakana.queue_business(agent, Channel.WHATSAPP, OTIENO, "A new job")

    held = await eventually(
        lambda: _where(karakana, message_id, lambda m: m.error_code == "no_template")
    )
    assert held.status is OutboxStatus.QUEUED
    assert karakana.twilio.messages == []

    await karakana.whatsapp(OTIENO, "hi")

    texts = await eventually(lambda: karakana.texts_to(OTIENO)[1:] and karakana.texts_to(OTIENO))
    assert texts[0] == "A new job"
    assert texts[1]  # then the answer to "hi"


async def _where(karakana: Running, message_id: int, test: object) -> OutboxMessage | None:
    message = await _status(karakana, message_id)
    return message if test(message) else None  # type: ignore[operator]


async def test_one_persons_messages_arrive_in_order_even_when_the_first_is_retried(
    karakana: Running,
) -> None:
    people = {}
    for number, name in ((OTIENO, "Otieno"), ("+254733000222", "Achieng")):
        people[number] = await karakana.add_staff(name, channel=Channel.WHATSAPP, address=number)
        await karakana.whatsapp(number, "hi")
    await eventually(lambda: len(karakana.twilio.messages) >= 2)
    before = len(karakana.twilio.messages)
    karakana.twilio.fail_next_sends(2, code=63018)

    async def queue(number: str) -> None:
        for n in range(1, 6):
            await karakana.queue_business(people[number], Channel.WHATSAPP, number, f"update {n}")

    await asyncio.gather(*(queue(number) for number in people))

    await eventually(lambda: len(karakana.twilio.messages) - before == 10, within=30)
    for number in people:
        assert karakana.texts_to(number)[1:] == [f"update {n}" for n in range(1, 6)]


async def test_a_message_accepted_before_a_crash_is_processed_at_start_up(
    store: Store, tmp_path: Path, twilio: FakeTwilio, telegram: FakeTelegram
) -> None:
    now = datetime.now(UTC)
    accepted = Incoming(Channel.WHATSAPP, WANJIKU, "SMcrashed", text="Habari", received_at=now)
    assert await Engine(store, registry=REGISTRY).accept(accepted, now=now)
    async with store.transaction() as session:  # and a send the crash interrupted
        stuck = await enqueue(
            session,
            channel=Channel.WHATSAPP,
            address=WANJIKU,
            reply=Reply("sent twice at worst"),
            kind=OutboxKind.REPLY,
            now=now,
        )
        stuck.status = OutboxStatus.SENDING

    async with running_karakana(store, tmp_path, twilio, telegram) as karakana:
        resent, welcome = await eventually(
            lambda: karakana.texts_to(WANJIKU)[1:] and karakana.texts_to(WANJIKU)
        )
        assert resent == "sent twice at worst"  # in its place, before the later reply
        assert welcome.startswith(WELCOME)
        [inbound] = await karakana.inbound()
        assert inbound.status is InboundStatus.PROCESSED


async def test_shutting_down_finishes_the_message_in_flight_and_sends_its_reply(
    store: Store, tmp_path: Path, twilio: FakeTwilio, telegram: FakeTelegram
) -> None:
    jpeg = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(512) + b"\xff\xd9"
    async with running_karakana(
        store, tmp_path, twilio, telegram, media_not_found_delays=(0.3, 0.3)
    ) as karakana:
        slow = twilio.add_media(jpeg, "image/jpeg", missing_for=2)  # ~0.6 s to fetch
        response = await karakana.whatsapp(WANJIKU, media={slow: "image/jpeg"})
        assert response.status_code == 200
        assert karakana.bot.inbound.in_flight == 1
    # The server has stopped; the message was finished and answered on the way out.
    [inbound] = await karakana.inbound()
    assert inbound.status is InboundStatus.PROCESSED
    assert karakana.texts_to(WANJIKU)[0].startswith(WELCOME)


async def test_healthz_reports_the_database_the_dispatcher_and_the_outbox(
    karakana: Running,
) -> None:
    await settle(0.1)
    async with httpx.AsyncClient(trust_env=False) as client:
        response = await client.get(f"{karakana.url}/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["dispatcher"] == "ok"
    assert body["checks"]["outbox"] == {
        "queued": 0,
        "sending": 0,
        "failed": 0,
        "dead": 0,
        "held": 0,
    }
