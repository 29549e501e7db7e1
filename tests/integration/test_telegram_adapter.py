"""The Telegram adapter, on python-telegram-bot, against a fake Bot API over loopback HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from telegram import Update
from telegram.ext import Application, TypeHandler

from bot.channels.media import LocalMediaStore, MediaRefused, RefusalReason, RemoteMedia
from bot.channels.send_errors import SendError, SendFailure
from bot.channels.telegram import (
    SECRET_TOKEN_HEADER,
    CallbackSigner,
    ForgedCallback,
    TelegramMediaFetcher,
    TelegramSender,
    build_application,
    check_secret_token,
    media_to_fetch,
    parse_update,
    register_webhook,
)
from conversations.messages import Choice, Incoming, MediaItem, Reply
from domain.model import Channel
from tests.fakes.server import serving
from tests.fakes.telegram_api import FakeTelegram

NOW = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
AGENT_CHAT = 7_000_001
SOMEONE_ELSE = 7_000_002
SECRET = "webhook-secret-0123456789"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 8 + b"\xff\xd9"
THUMBNAIL = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00thumb\xff\xd9"
PDF = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\n" + bytes(256)
OFFER = Reply(
    "Review 12 brass hooks from Wanjiku?",
    choices=(Choice("qc:17:start", "Start review"), Choice("qc:17:later", "Later")),
)

Telegram = Application[Any, Any, Any, Any, Any, Any]


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram().running() as fake:
        yield fake


@pytest.fixture
async def application(telegram: FakeTelegram) -> AsyncIterator[Telegram]:
    application = build_application(telegram.token, api_base_url=telegram.base_url)
    async with application:
        yield application


@pytest.fixture
def signer(telegram: FakeTelegram) -> CallbackSigner:
    return CallbackSigner.for_bot_token(telegram.token)


@pytest.fixture
def store(tmp_path: Path) -> LocalMediaStore:
    return LocalMediaStore(tmp_path / "media")


@pytest.fixture
def sender(application: Telegram, signer: CallbackSigner, store: LocalMediaStore) -> TelegramSender:
    return TelegramSender(application.bot, signer=signer, store=store)


@pytest.fixture
def fetcher(application: Telegram, store: LocalMediaStore) -> TelegramMediaFetcher:
    return TelegramMediaFetcher(application.bot, store=store, max_bytes=4096)


def as_update(application: Telegram, data: dict[str, Any]) -> Update:
    update = Update.de_json(data, application.bot)
    assert update is not None
    return update


# -- the application and the webhook ------------------------------------------------------------


async def test_the_application_runs_without_an_updater_against_the_configured_api(
    telegram: FakeTelegram, application: Telegram
) -> None:
    assert application.updater is None
    assert application.bot.base_url == f"{telegram.base_url}/bot{telegram.token}"
    assert [call.method for call in telegram.calls] == ["getMe"]
    assert application.bot.username == "karakana_test_bot"


async def test_registering_the_webhook_gives_telegram_our_url_and_secret(
    telegram: FakeTelegram, application: Telegram
) -> None:
    await register_webhook(
        application.bot, url="https://karakana.example/telegram/webhook", secret_token=SECRET
    )
    assert telegram.webhook is not None
    assert telegram.webhook["url"] == "https://karakana.example/telegram/webhook"
    assert telegram.webhook["secret_token"] == SECRET
    assert telegram.webhook["allowed_updates"] == ["message", "callback_query"]


@pytest.mark.parametrize(
    ("header", "expected", "accepted"),
    [
        (SECRET, SECRET, True),
        (SECRET + "x", SECRET, False),
        ("", SECRET, False),
        (None, SECRET, False),
        ("", "", False),  # an unconfigured secret accepts nothing
    ],
)
def test_the_secret_token_must_match_exactly(
    header: str | None, expected: str, accepted: bool
) -> None:
    assert check_secret_token(header, expected) is accepted


async def test_the_webhook_accepts_updates_with_the_secret_and_refuses_the_rest(
    telegram: FakeTelegram, application: Telegram, signer: CallbackSigner
) -> None:
    accepted: list[Incoming | None] = []

    async def webhook(request: Request) -> Response:
        if not check_secret_token(request.headers.get(SECRET_TOKEN_HEADER), SECRET):
            return PlainTextResponse("forbidden", status_code=403)
        update = as_update(application, await request.json())
        accepted.append(parse_update(update, signer=signer, received_at=NOW))
        return Response()

    app = Starlette(routes=[Route("/telegram/webhook", webhook, methods=["POST"])])
    update = telegram.text_update(AGENT_CHAT, "habari")
    async with serving(app) as base:
        url = f"{base}/telegram/webhook"
        statuses = [
            (await telegram.deliver(url, update, secret_token=SECRET)).status_code,
            (await telegram.deliver(url, update, secret_token="guess")).status_code,
            (await telegram.deliver(url, update, secret_token=None)).status_code,
        ]
    assert statuses == [200, 403, 403]
    assert [i.text for i in accepted if i is not None] == ["habari"]


async def test_without_a_public_url_the_application_long_polls_the_api(
    telegram: FakeTelegram,
) -> None:
    received: asyncio.Queue[Update] = asyncio.Queue()

    async def collect(update: Update, context: Any) -> None:
        await received.put(update)

    application = build_application(telegram.token, api_base_url=telegram.base_url, polling=True)
    application.add_handler(TypeHandler(Update, collect))
    update = telegram.text_update(AGENT_CHAT, "habari")
    async with application:
        assert application.updater is not None
        await application.updater.start_polling(poll_interval=0.0, timeout=1)
        await application.start()
        await telegram.enqueue(update)
        got = await asyncio.wait_for(received.get(), timeout=5)
        await application.updater.stop()
        await application.stop()
    assert got.update_id == update["update_id"]
    assert "deleteWebhook" in [call.method for call in telegram.calls]


# -- parsing ------------------------------------------------------------------------------------


async def test_a_text_message_is_parsed_with_the_chat_as_address_and_update_id_as_provider_id(
    telegram: FakeTelegram, application: Telegram, signer: CallbackSigner
) -> None:
    data = telegram.text_update(AGENT_CHAT, " pass 10 ")
    incoming = parse_update(as_update(application, data), signer=signer, received_at=NOW)
    assert incoming == Incoming(
        channel=Channel.TELEGRAM,
        address=str(AGENT_CHAT),
        provider_message_id=str(data["update_id"]),
        text="pass 10",
        received_at=NOW,
    )


async def test_messages_outside_a_private_chat_are_ignored(
    telegram: FakeTelegram, application: Telegram, signer: CallbackSigner
) -> None:
    data = telegram.text_update(AGENT_CHAT, "hello group")
    data["message"]["chat"] = {"id": -100123, "type": "group", "title": "Workshop"}
    assert parse_update(as_update(application, data), signer=signer, received_at=NOW) is None


async def test_a_photo_is_fetched_at_its_largest_size_with_get_file_and_stored(
    telegram: FakeTelegram,
    application: Telegram,
    signer: CallbackSigner,
    fetcher: TelegramMediaFetcher,
    store: LocalMediaStore,
) -> None:
    sizes = telegram.photo_sizes(JPEG, smaller=(THUMBNAIL,))
    update = as_update(application, telegram.photo_update(AGENT_CHAT, sizes, caption="batch 2"))
    links = media_to_fetch(update)
    assert links == (RemoteMedia(sizes[-1]["file_id"], "image/jpeg", len(JPEG)),)
    kept, refused = await fetcher.fetch_all(links)
    incoming = parse_update(update, signer=signer, received_at=NOW, media=kept)
    assert incoming is not None
    assert refused == ()
    assert incoming.text == "batch 2"
    [photo] = incoming.media
    assert (photo.content_type, photo.size) == ("image/jpeg", len(JPEG))
    assert await store.load(photo.ref) == JPEG
    assert [p["file_id"] for p in telegram.sent("getFile")] == [sizes[-1]["file_id"]]
    assert len(telegram.file_downloads) == 1


async def test_a_pdf_sent_as_a_document_is_refused_without_fetching_it(
    telegram: FakeTelegram, application: Telegram, fetcher: TelegramMediaFetcher
) -> None:
    data = telegram.document_update(
        AGENT_CHAT, PDF, mime_type="application/pdf", file_name="invoice.pdf"
    )
    kept, refused = await fetcher.fetch_all(media_to_fetch(as_update(application, data)))
    assert kept == ()
    assert [r.reason for r in refused] == [RefusalReason.NOT_AN_IMAGE]
    assert telegram.sent("getFile") == []
    assert telegram.file_downloads == []


async def test_a_pdf_disguised_as_a_photo_is_refused_by_its_content(
    telegram: FakeTelegram, fetcher: TelegramMediaFetcher, store: LocalMediaStore
) -> None:
    [size] = telegram.photo_sizes(PDF)
    with pytest.raises(MediaRefused) as refused:
        await fetcher.fetch(RemoteMedia(size["file_id"], "image/jpeg", size["file_size"]))
    assert refused.value.reason is RefusalReason.NOT_AN_IMAGE
    assert not store.root.exists() or list(store.root.iterdir()) == []


async def test_an_oversized_photo_is_refused_before_it_is_downloaded(
    telegram: FakeTelegram, fetcher: TelegramMediaFetcher
) -> None:
    [size] = telegram.photo_sizes(JPEG * 4)
    with pytest.raises(MediaRefused) as announced:
        await fetcher.fetch(RemoteMedia(size["file_id"], "image/jpeg", size["file_size"]))
    with pytest.raises(MediaRefused) as found_by_get_file:
        await fetcher.fetch(RemoteMedia(size["file_id"], "image/jpeg", None))
    assert announced.value.reason is RefusalReason.TOO_LARGE
    assert found_by_get_file.value.reason is RefusalReason.TOO_LARGE
    assert len(telegram.sent("getFile")) == 1
    assert telegram.file_downloads == []


async def test_an_unknown_file_id_is_a_failed_fetch(fetcher: TelegramMediaFetcher) -> None:
    with pytest.raises(MediaRefused) as refused:
        await fetcher.fetch(RemoteMedia("AgACnot-a-file", "image/jpeg", 10))
    assert refused.value.reason is RefusalReason.FETCH_FAILED


# -- buttons ------------------------------------------------------------------------------------


async def test_choices_are_sent_as_an_inline_keyboard_bound_to_the_recipient(
    telegram: FakeTelegram, sender: TelegramSender, signer: CallbackSigner
) -> None:
    message_id = await sender.send(str(AGENT_CHAT), OFFER)
    [sent] = telegram.sent("sendMessage")
    assert sent["chat_id"] == str(AGENT_CHAT)
    assert sent["text"] == OFFER.text
    rows = sent["reply_markup"]["inline_keyboard"]
    assert [[button["text"] for button in row] for row in rows] == [["Start review"], ["Later"]]
    payloads = [signer.verify(row[0]["callback_data"], AGENT_CHAT) for row in rows]
    assert payloads == ["qc:17:start", "qc:17:later"]
    assert [signer.verify(row[0]["callback_data"], SOMEONE_ELSE) for row in rows] == [None, None]
    assert message_id.isdigit()


async def test_a_button_press_by_its_recipient_is_parsed_as_the_payload(
    telegram: FakeTelegram, application: Telegram, sender: TelegramSender, signer: CallbackSigner
) -> None:
    await sender.send(str(AGENT_CHAT), OFFER)
    data = telegram.sent("sendMessage")[0]["reply_markup"]["inline_keyboard"][0][0]
    press = telegram.callback_update(AGENT_CHAT, data["callback_data"])
    incoming = parse_update(as_update(application, press), signer=signer, received_at=NOW)
    assert incoming is not None
    assert (incoming.address, incoming.button_payload, incoming.text) == (
        str(AGENT_CHAT),
        "qc:17:start",
        "",
    )
    assert incoming.provider_message_id == str(press["update_id"])


async def test_a_button_pressed_by_someone_else_is_refused(
    telegram: FakeTelegram, application: Telegram, sender: TelegramSender, signer: CallbackSigner
) -> None:
    await sender.send(str(AGENT_CHAT), OFFER)
    data = telegram.sent("sendMessage")[0]["reply_markup"]["inline_keyboard"][0][0]
    # The keyboard was shown (forwarded, screenshotted, guessed) to another person who presses it.
    press = telegram.callback_update(SOMEONE_ELSE, data["callback_data"])
    with pytest.raises(ForgedCallback):
        parse_update(as_update(application, press), signer=signer, received_at=NOW)


@pytest.mark.parametrize(
    "forge",
    [
        lambda data: data.replace("qc:17", "qc:18"),  # another review, same MAC
        lambda data: data.split("|")[0],  # the MAC stripped
        lambda data: data[:-1] + ("A" if data[-1] != "A" else "B"),  # the MAC altered
        lambda data: "qc:17:start|" + "A" * CallbackSigner.MAC_LENGTH,  # a guessed MAC
    ],
    ids=["other-payload", "no-mac", "altered-mac", "guessed-mac"],
)
async def test_forged_callback_data_is_refused(
    telegram: FakeTelegram,
    application: Telegram,
    signer: CallbackSigner,
    forge: Any,
) -> None:
    genuine = signer.sign("qc:17:start", AGENT_CHAT)
    press = telegram.callback_update(AGENT_CHAT, forge(genuine))
    with pytest.raises(ForgedCallback):
        parse_update(as_update(application, press), signer=signer, received_at=NOW)


async def test_buttons_signed_with_another_key_are_refused(
    telegram: FakeTelegram, application: Telegram, signer: CallbackSigner
) -> None:
    other = CallbackSigner.for_bot_token("987654:another-bot")
    press = telegram.callback_update(AGENT_CHAT, other.sign("qc:17:start", AGENT_CHAT))
    with pytest.raises(ForgedCallback):
        parse_update(as_update(application, press), signer=signer, received_at=NOW)


async def test_a_payload_too_long_for_a_telegram_button_is_refused_before_sending(
    telegram: FakeTelegram, sender: TelegramSender
) -> None:
    long_payload = "offer:" + "a" * 50
    with pytest.raises(SendError) as raised:
        await sender.send(str(AGENT_CHAT), Reply("x", choices=(Choice(long_payload, "Go"),)))
    assert raised.value.failure is SendFailure.REJECTED
    assert telegram.sent("sendMessage") == []


async def test_a_button_press_is_acknowledged_and_its_keyboard_removed(
    telegram: FakeTelegram, sender: TelegramSender
) -> None:
    await sender.acknowledge_button("4242", text="Got it")
    await sender.remove_buttons(str(AGENT_CHAT), 12)
    assert telegram.sent("answerCallbackQuery") == [{"callback_query_id": "4242", "text": "Got it"}]
    [edit] = telegram.sent("editMessageReplyMarkup")
    assert (edit["chat_id"], edit["message_id"]) == (str(AGENT_CHAT), "12")


# -- sending errors and media -------------------------------------------------------------------


async def test_flood_control_surfaces_as_a_retryable_send_error_with_the_delay(
    telegram: FakeTelegram, sender: TelegramSender
) -> None:
    telegram.flood_next_sends(1, retry_after=7)
    with pytest.raises(SendError) as raised:
        await sender.send(str(AGENT_CHAT), OFFER)
    error = raised.value
    assert (error.failure, error.retryable, error.retry_after) == (
        SendFailure.RATE_LIMITED,
        True,
        7.0,
    )
    await sender.send(str(AGENT_CHAT), OFFER)  # after the wait, the same send goes through
    assert len(telegram.sent("sendMessage")) == 2


async def test_a_person_who_blocked_the_bot_is_an_opted_out_send_error(
    telegram: FakeTelegram, sender: TelegramSender
) -> None:
    telegram.blocked_chats.add(str(AGENT_CHAT))
    with pytest.raises(SendError) as raised:
        await sender.send(str(AGENT_CHAT), Reply("Habari"))
    assert (raised.value.failure, raised.value.retryable) == (SendFailure.OPTED_OUT, False)


async def test_a_reply_with_a_stored_photo_uploads_it_before_the_text(
    telegram: FakeTelegram, sender: TelegramSender, store: LocalMediaStore
) -> None:
    ref = await store.save(JPEG, "image/jpeg")
    await sender.send(
        str(AGENT_CHAT), Reply("The sample", media=(MediaItem("image/jpeg", 1, ref),))
    )
    assert [call.method for call in telegram.calls if call.method.startswith("send")] == [
        "sendPhoto",
        "sendMessage",
    ]
    assert telegram.sent("sendPhoto")[0]["photo"] == JPEG


async def test_a_reply_with_a_pdf_sends_it_as_a_document(
    telegram: FakeTelegram, sender: TelegramSender, store: LocalMediaStore
) -> None:
    pdf = b"%PDF-1.4\n% a statement\n%%EOF\n"
    ref = await store.save(pdf, "application/pdf")
    await sender.send(
        str(AGENT_CHAT), Reply("Your statement", media=(MediaItem("application/pdf", 1, ref),))
    )
    assert [call.method for call in telegram.calls if call.method.startswith("send")] == [
        "sendDocument",
        "sendMessage",
    ]
    assert telegram.sent("sendDocument")[0]["document"] == pdf
