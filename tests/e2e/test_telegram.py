"""Telegram through the running server: the secret-token webhook, signed buttons, photos, and long
polling when there is no public URL."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from bot.channels.telegram import SECRET_TOKEN_HEADER, CallbackSigner
from bot.request_body import MAX_WEBHOOK_BYTES
from conversations.i18n import t
from domain.model import Channel, Language, OutboxMessage, OutboxStatus
from domain.services.people import set_language
from domain.store import Store
from tests.e2e.harness import WEBHOOK_SECRET, Running, eventually, running_karakana, settle
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.twilio_api import FakeTwilio
from tests.integration.factory_fixtures import ident

AKINYI = 7_000_001
MALLORY = 7_000_666
WELCOME = t("en", "registration.welcome")
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 4 + b"\xff\xd9"
PDF = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\n" + bytes(256)


async def test_the_webhook_is_registered_with_the_secret_and_a_message_is_answered(
    karakana: Running,
) -> None:
    webhook = karakana.telegram.webhook
    assert webhook is not None
    assert webhook["url"] == karakana.telegram_webhook
    assert webhook["secret_token"] == WEBHOOK_SECRET

    response = await karakana.telegram_update(karakana.telegram.text_update(AKINYI, "Habari"))

    assert response.status_code == 200
    [sent] = await eventually(lambda: karakana.telegram.sent("sendMessage"))
    assert str(sent["chat_id"]) == str(AKINYI)
    assert WELCOME in sent["text"]
    buttons = [row[0] for row in sent["reply_markup"]["inline_keyboard"]]
    assert [b["text"] for b in buttons] == ["English", "Kiswahili"]


async def test_a_wrong_or_missing_secret_token_is_refused_and_nothing_is_stored(
    karakana: Running,
) -> None:
    statuses = [
        (
            await karakana.telegram_update(
                karakana.telegram.text_update(AKINYI, "Habari"), secret=secret
            )
        ).status_code
        for secret in (None, "not-the-secret", WEBHOOK_SECRET[:-1])
    ]

    assert statuses == [403, 403, 403]
    await settle()
    assert await karakana.inbound() == []
    assert karakana.telegram.sent("sendMessage") == []


async def test_a_replayed_update_id_is_answered_once(karakana: Running) -> None:
    update = karakana.telegram.text_update(AKINYI, "Habari")

    first = await karakana.telegram_update(update)
    second = await karakana.telegram_update(update)

    assert (first.status_code, second.status_code) == (200, 200)
    await eventually(lambda: karakana.telegram.sent("sendMessage"))
    await settle()
    assert len(karakana.telegram.sent("sendMessage")) == 1
    assert len(await karakana.inbound()) == 1


async def test_a_malformed_json_body_gets_400_and_changes_nothing(karakana: Running) -> None:
    bodies = [b"{not json", b"[1, 2, 3]", b'{"update_id": "seven"}', b"\xff\xfe", b""]
    async with httpx.AsyncClient(trust_env=False) as client:
        statuses = [
            (
                await client.post(
                    karakana.telegram_webhook,
                    content=body,
                    headers={
                        "Content-Type": "application/json",
                        SECRET_TOKEN_HEADER: WEBHOOK_SECRET,
                    },
                )
            ).status_code
            for body in bodies
        ]

    assert statuses == [400] * len(bodies)
    await settle()
    assert await karakana.inbound() == []


async def test_an_update_over_the_limit_gets_413_and_changes_nothing(karakana: Running) -> None:
    update = karakana.telegram.text_update(AKINYI, "x" * MAX_WEBHOOK_BYTES)

    response = await karakana.telegram_update(update)

    assert response.status_code == 413
    await settle()
    assert await karakana.inbound() == []
    assert karakana.telegram.sent("sendMessage") == []


async def test_a_button_press_forged_for_someone_else_is_refused_politely_and_changes_nothing(
    karakana: Running,
) -> None:
    signer = CallbackSigner.for_bot_token(karakana.telegram.token)
    meant_for_akinyi = signer.sign("verify:12", AKINYI)

    response = await karakana.telegram_update(
        karakana.telegram.callback_update(AKINYI, meant_for_akinyi, from_id=MALLORY)
    )

    assert response.status_code == 200
    [answer] = await eventually(lambda: karakana.telegram.sent("answerCallbackQuery"))
    assert answer["text"] == t("en", "channels.button_refused")
    await settle()
    assert await karakana.inbound() == []
    assert karakana.telegram.sent("sendMessage") == []


async def _as_known(karakana: Running, chat_id: int, language: Language) -> None:
    person = await karakana.add_staff("Akinyi", channel=Channel.TELEGRAM, address=str(chat_id))
    async with karakana.store.transaction() as session:
        await set_language(session, person_id=ident(person), language=language)


def _errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    gc.collect()  # a failed task that nobody awaited says so only when it is collected
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    "forge",
    [
        lambda data: data[:-1] + ("A" if data[-1] != "A" else "B"),  # a tampered MAC
        lambda data: CallbackSigner.for_bot_token("1:an-old-token").sign("verify:12", AKINYI),
        lambda data: data.split("|")[0],  # no MAC at all
    ],
    ids=["tampered", "old-key", "no-mac"],
)
async def test_a_known_persons_refused_button_press_is_answered_in_their_language(
    karakana: Running, caplog: pytest.LogCaptureFixture, forge: Callable[[str], str]
) -> None:
    await _as_known(karakana, AKINYI, Language.SW)
    signer = CallbackSigner.for_bot_token(karakana.telegram.token)
    caplog.set_level(logging.WARNING)

    response = await karakana.telegram_update(
        karakana.telegram.callback_update(AKINYI, forge(signer.sign("verify:12", AKINYI)))
    )

    assert response.status_code == 200
    [answer] = await eventually(lambda: karakana.telegram.sent("answerCallbackQuery"))
    assert answer["text"] == t("sw", "channels.button_refused")
    assert _errors(caplog) == []
    assert await karakana.inbound() == []


async def test_a_refused_button_press_is_answered_even_when_the_database_fails(
    karakana: Running, caplog: pytest.LogCaptureFixture
) -> None:
    await _as_known(karakana, AKINYI, Language.SW)
    caplog.set_level(logging.WARNING)
    async with _table_gone(karakana.store, "person"):
        await karakana.telegram_update(
            karakana.telegram.callback_update(AKINYI, "verify:12|" + "A" * 12)
        )
        # Who pressed cannot be looked up: the refusal is said in English rather than not at all.
        [answer] = await eventually(lambda: karakana.telegram.sent("answerCallbackQuery"))

    assert answer["text"] == t("en", "channels.button_refused")
    assert _errors(caplog) == []


async def test_a_genuine_button_press_the_database_cannot_take_still_has_its_spinner_stopped(
    karakana: Running,
) -> None:
    signer = CallbackSigner.for_bot_token(karakana.telegram.token)
    async with _table_gone(karakana.store, "inbound_message"):
        response = await karakana.telegram_update(
            karakana.telegram.callback_update(AKINYI, signer.sign("reg:lang:sw", AKINYI))
        )
        [answer] = await eventually(lambda: karakana.telegram.sent("answerCallbackQuery"))

    # Not stored: Telegram is told to deliver it again, and the press is handled then.
    assert response.status_code == 500
    assert answer.get("text") is None


@contextlib.asynccontextmanager
async def _table_gone(store: Store, table: str) -> AsyncIterator[None]:
    """The database fails every query on ``table`` until the block ends."""
    async with store.engine.begin() as conn:
        await conn.execute(text(f"ALTER TABLE {table} RENAME TO {table}_gone"))
    try:
        yield
    finally:
        async with store.engine.begin() as conn:
            await conn.execute(text(f"ALTER TABLE {table}_gone RENAME TO {table}"))


async def test_a_genuine_button_press_is_handled_and_its_spinner_stopped(karakana: Running) -> None:
    await karakana.telegram_update(karakana.telegram.text_update(AKINYI, "Habari"))
    [welcome] = await eventually(lambda: karakana.telegram.sent("sendMessage"))
    kiswahili = welcome["reply_markup"]["inline_keyboard"][1][0]["callback_data"]

    await karakana.telegram_update(karakana.telegram.callback_update(AKINYI, kiswahili))

    texts = await eventually(lambda: karakana.telegram_texts(AKINYI)[1:])
    assert texts == [t("sw", "registration.ask_name")]
    [answer] = await eventually(lambda: karakana.telegram.sent("answerCallbackQuery"))
    assert answer.get("text") is None


async def test_a_document_that_is_not_a_photo_gets_a_polite_reply(karakana: Running) -> None:
    update = karakana.telegram.document_update(
        AKINYI, PDF, mime_type="application/pdf", file_name="invoice.pdf"
    )

    await karakana.telegram_update(update)

    texts = await eventually(lambda: karakana.telegram_texts(AKINYI))
    assert texts == [t("en", "channels.media_not_image")]
    assert karakana.telegram.file_downloads == []  # refused before downloading


async def test_a_photo_is_fetched_with_get_file_and_kept(karakana: Running) -> None:
    sizes = karakana.telegram.photo_sizes(JPEG, smaller=(JPEG[:300] + b"\xff\xd9",))

    await karakana.telegram_update(karakana.telegram.photo_update(AKINYI, sizes))

    await eventually(lambda: karakana.telegram_texts(AKINYI))
    assert [call["file_id"] for call in karakana.telegram.sent("getFile")] == [sizes[-1]["file_id"]]
    [kept] = list(karakana.settings.media_dir.glob("*.jpg"))
    assert kept.read_bytes() == JPEG


async def test_without_a_public_url_telegram_is_long_polled(
    store: Store, tmp_path: Path, twilio: FakeTwilio, telegram: FakeTelegram
) -> None:
    async with running_karakana(
        store, tmp_path, twilio, telegram, public=False, whatsapp=False
    ) as karakana:
        assert karakana.bot.telegram_polling
        async with httpx.AsyncClient(trust_env=False) as client:
            webhook = await client.post(karakana.telegram_webhook, json={"update_id": 1})
        assert webhook.status_code == 404  # no webhook endpoint to attack

        await telegram.enqueue(telegram.text_update(AKINYI, "Habari"))

        [sent] = await eventually(lambda: telegram.sent("sendMessage"))
        assert WELCOME in sent["text"]
        [stored] = await karakana.inbound()
        assert (stored.channel, stored.address) == (Channel.TELEGRAM, str(AKINYI))


async def test_telegrams_flood_control_delay_is_waited_out_before_sending_again(
    karakana: Running,
) -> None:
    karakana.telegram.flood_next_sends(1, retry_after=1)
    started = asyncio.get_running_loop().time()

    await karakana.telegram_update(karakana.telegram.text_update(AKINYI, "Habari"))

    [text] = await eventually(lambda: karakana.telegram_texts(AKINYI)[1:], within=30)
    assert WELCOME in text
    assert asyncio.get_running_loop().time() - started >= 1.0

    async def marked_sent() -> list[OutboxMessage]:
        # The fake records the send a moment before the dispatcher commits SENT.
        return [m for m in await karakana.outbox(str(AKINYI)) if m.status is OutboxStatus.SENT]

    [message] = await eventually(marked_sent)
    assert (message.attempts, message.error_code) == (2, None)
