"""Telegram through python-telegram-bot: updates in, replies with inline keyboards out.

The PTB ``Application`` is built without an ``Updater``: our own Starlette server receives the
webhook (as in PTB's ``customwebhookbot/starlettebot.py``) and checks Telegram's secret token
header before anything else happens.

Inline buttons carry their choice's payload plus a short HMAC binding it to the chat it was sent
to. Telegram returns callback data verbatim, so without the binding anyone who can craft a
callback (or is shown a forwarded keyboard) could press a button meant for someone else.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import (
    BadRequest,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.ext import Application

from bot.channels.media import (
    DEFAULT_MAX_IMAGE_BYTES,
    MediaRefused,
    MediaStore,
    RefusalReason,
    RemoteMedia,
    keep_file,
    normalise_content_type,
    refuse_if_too_large,
    refuse_unless_accepted_type,
)
from bot.channels.send_errors import SendError, SendFailure
from conversations.messages import Incoming, MediaItem, Reply
from domain.model import Channel

log = logging.getLogger(__name__)

TELEGRAM_API_BASE_URL = "https://api.telegram.org"
SECRET_TOKEN_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
CHANNEL = Channel.TELEGRAM.value
# Only what the engine understands; Telegram then does not bother us with the rest.
ALLOWED_UPDATES = ("message", "callback_query")
MAX_CALLBACK_DATA_BYTES = 64  # Telegram's limit for InlineKeyboardButton.callback_data


def _use_timedelta_periods() -> None:
    # PTB 22 warns (a deprecation) whenever it builds a RetryAfter unless this opt-in to its
    # future behaviour is set; with it, ``RetryAfter.retry_after`` is a timedelta.
    os.environ.setdefault("PTB_TIMEDELTA", "true")


def build_application(
    token: str, *, api_base_url: str = TELEGRAM_API_BASE_URL, polling: bool = False
) -> Application[Any, Any, Any, Any, Any, Any]:
    """The PTB Application talking to ``api_base_url``: in webhook mode (no Updater; our server
    feeds it) unless ``polling``, for when there is no public URL Telegram could call."""
    _use_timedelta_periods()
    base = api_base_url.rstrip("/")
    builder = Application.builder().token(token).base_url(f"{base}/bot")
    builder = builder.base_file_url(f"{base}/file/bot")
    if not polling:
        builder = builder.updater(None)
    return builder.build()


async def register_webhook(bot: Bot, *, url: str, secret_token: str) -> None:
    """Tell Telegram where to post updates, and the secret it must send with each one."""
    await bot.set_webhook(url=url, secret_token=secret_token, allowed_updates=list(ALLOWED_UPDATES))


def check_secret_token(header: str | None, expected: str) -> bool:
    """True when the X-Telegram-Bot-Api-Secret-Token header matches (constant-time)."""
    if not header or not expected:
        return False
    return hmac.compare_digest(header.encode(), expected.encode())


# ---------------------------------------------------------------------------------------------
# Callback data bound to a person
# ---------------------------------------------------------------------------------------------


class ForgedCallback(ValueError):
    """A button press whose data we did not issue to the person pressing it."""


class CallbackSigner:
    """Makes and checks ``"<payload>|<mac>"`` callback data, the MAC covering the chat id."""

    MAC_LENGTH = 12  # base64url characters: 72 bits, far beyond guessing through Telegram

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the callback signing key must be at least 16 bytes")
        self._key = key

    @classmethod
    def for_bot_token(cls, token: str) -> CallbackSigner:
        """A key derived from the bot token, so no extra secret has to be configured."""
        return cls(hmac.new(token.encode(), b"karakana callback data", hashlib.sha256).digest())

    def _mac(self, payload: str, chat_id: str) -> str:
        digest = hmac.new(self._key, f"{chat_id}\n{payload}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode()[: self.MAC_LENGTH]

    def sign(self, payload: str, chat_id: str | int) -> str:
        data = f"{payload}|{self._mac(payload, str(chat_id))}"
        if len(data.encode()) > MAX_CALLBACK_DATA_BYTES:
            longest = MAX_CALLBACK_DATA_BYTES - self.MAC_LENGTH - 1
            raise ValueError(
                f"choice payload {payload!r} is too long for a Telegram button; "
                f"keep it to {longest} characters"
            )
        return data

    def verify(self, data: str | None, chat_id: str | int) -> str | None:
        """The payload if ``data`` was issued to ``chat_id``, else None."""
        if not data or "|" not in data:
            return None
        payload, mac = data.rsplit("|", 1)
        if not hmac.compare_digest(mac.encode(), self._mac(payload, str(chat_id)).encode()):
            return None
        return payload


# ---------------------------------------------------------------------------------------------
# Inbound
# ---------------------------------------------------------------------------------------------


def parse_update(
    update: Update,
    *,
    signer: CallbackSigner,
    received_at: datetime,
    media: Sequence[MediaItem] = (),
) -> Incoming | None:
    """A Telegram update as the engine's ``Incoming``; None for updates the engine ignores.

    Photos are not downloaded here: pass what ``TelegramMediaFetcher.fetch_all(
    media_to_fetch(update))`` kept as ``media``. Raises ForgedCallback for a button press that
    was not issued to the person pressing it.
    """
    provider_id = str(update.update_id)
    query = update.callback_query
    if query is not None:
        # Bound to whoever pressed: in a private chat that is the chat the button was sent to.
        presser = str(query.from_user.id)
        payload = signer.verify(query.data, presser)
        if payload is None:
            raise ForgedCallback(
                f"button data {query.data!r} was not issued to Telegram user {presser}"
            )
        return Incoming(
            channel=Channel.TELEGRAM,
            address=presser,
            provider_message_id=provider_id,
            button_payload=payload,
            received_at=received_at,
        )
    message = update.message
    if message is None or message.chat.type != "private":
        return None  # edits, channel posts, group chatter: Karakana works in private chats
    return Incoming(
        channel=Channel.TELEGRAM,
        address=str(message.chat.id),
        provider_message_id=provider_id,
        text=(message.text or message.caption or "").strip(),
        media=tuple(media),
        received_at=received_at,
    )


def media_to_fetch(update: Update) -> tuple[RemoteMedia, ...]:
    """The files in a message: the largest size of a photo, and any document sent as a file."""
    message = update.message
    if message is None:
        return ()
    found: list[RemoteMedia] = []
    if message.photo:
        largest = max(
            message.photo, key=lambda size: (size.file_size or 0, size.width * size.height)
        )
        # Telegram recompresses every photo to JPEG.
        found.append(RemoteMedia(largest.file_id, "image/jpeg", largest.file_size))
    if message.document is not None:
        document = message.document
        found.append(
            RemoteMedia(
                document.file_id,
                normalise_content_type(document.mime_type) or "application/octet-stream",
                document.file_size,
            )
        )
    return tuple(found)


class TelegramMediaFetcher:
    """Fetches files with getFile and keeps the acceptable images in the media store."""

    def __init__(
        self, bot: Bot, *, store: MediaStore, max_bytes: int = DEFAULT_MAX_IMAGE_BYTES
    ) -> None:
        self._bot = bot
        self._store = store
        self._max_bytes = max_bytes

    async def fetch_all(
        self, links: Sequence[RemoteMedia], *, documents: bool = False
    ) -> tuple[tuple[MediaItem, ...], tuple[MediaRefused, ...]]:
        kept: list[MediaItem] = []
        refused: list[MediaRefused] = []
        for link in links:
            try:
                kept.append(await self.fetch(link, documents=documents))
            except MediaRefused as refusal:
                log.warning("Telegram media refused: %s", refusal)
                refused.append(refusal)
        return tuple(kept), tuple(refused)

    async def fetch(self, link: RemoteMedia, *, documents: bool = False) -> MediaItem:
        """One file; ``documents``: the sender is an admin, whose CSV or text files are kept."""
        refuse_unless_accepted_type(link.declared_type, documents=documents)
        refuse_if_too_large(link.declared_size, self._max_bytes)
        try:
            file = await self._bot.get_file(link.locator)
            # getFile states the size: refuse before downloading anything too big.
            refuse_if_too_large(file.file_size, self._max_bytes)
            content = bytes(await file.download_as_bytearray())
        except TelegramError as exc:
            raise MediaRefused(
                RefusalReason.FETCH_FAILED, f"Telegram could not give us the file: {exc}"
            ) from exc
        return await keep_file(
            self._store, content, link.declared_type, self._max_bytes, documents=documents
        )


# ---------------------------------------------------------------------------------------------
# Outbound
# ---------------------------------------------------------------------------------------------


def _seconds(value: int | float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def classify_telegram_error(exc: TelegramError) -> SendError:
    if isinstance(exc, RetryAfter):
        delay = _seconds(exc.retry_after)
        return SendError(
            f"Telegram flood control: retry in {delay:g} s",
            channel=CHANNEL,
            failure=SendFailure.RATE_LIMITED,
            code=429,
            retry_after=delay,
        )
    if isinstance(exc, Forbidden):
        # The person blocked the bot or deleted their account.
        return SendError(
            f"Telegram refused: {exc.message}",
            channel=CHANNEL,
            failure=SendFailure.OPTED_OUT,
            code=403,
        )
    if isinstance(exc, BadRequest):
        failure = (
            SendFailure.BAD_RECIPIENT
            if "chat not found" in exc.message.lower()
            else SendFailure.REJECTED
        )
        return SendError(
            f"Telegram refused: {exc.message}", channel=CHANNEL, failure=failure, code=400
        )
    if isinstance(exc, NetworkError):  # includes TimedOut
        return SendError(
            f"could not reach Telegram: {exc.message}",
            channel=CHANNEL,
            failure=SendFailure.TRANSIENT,
        )
    return SendError(
        f"Telegram refused: {exc.message}", channel=CHANNEL, failure=SendFailure.REJECTED
    )


class TelegramSender:
    """Sends replies to Telegram chats; choices become inline buttons bound to the chat."""

    def __init__(self, bot: Bot, *, signer: CallbackSigner, store: MediaStore) -> None:
        _use_timedelta_periods()
        self._bot = bot
        self._signer = signer
        self._store = store

    def keyboard(self, reply: Reply, chat_id: str) -> InlineKeyboardMarkup | None:
        if not reply.choices:
            return None
        return InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(
                        choice.label, callback_data=self._signer.sign(choice.payload, chat_id)
                    )
                ]
                for choice in reply.choices
            ]
        )

    async def send(self, address: str, reply: Reply) -> str:
        """Photos first, then the text with its buttons; returns the last message's id."""
        if not (reply.text or reply.media):
            raise SendError("an empty reply", channel=CHANNEL, failure=SendFailure.REJECTED)
        try:
            markup = self.keyboard(reply, address)
        except ValueError as exc:
            raise SendError(str(exc), channel=CHANNEL, failure=SendFailure.REJECTED) from exc
        try:
            for item in reply.media:
                content = await self._store.load(item.ref)
                if item.is_image:
                    message = await self._bot.send_photo(chat_id=address, photo=content)
                else:  # a document we made (an artisan's statement as a PDF)
                    message = await self._bot.send_document(
                        chat_id=address, document=content, filename=item.ref
                    )
            if reply.text:
                message = await self._bot.send_message(
                    chat_id=address, text=reply.text, reply_markup=markup
                )
        except TelegramError as exc:
            raise classify_telegram_error(exc) from exc
        return str(message.message_id)

    async def acknowledge_button(self, callback_query_id: str, text: str | None = None) -> None:
        """Stop the button's spinner; ``text`` shows briefly to the person who pressed it."""
        try:
            await self._bot.answer_callback_query(callback_query_id, text=text)
        except TelegramError as exc:
            raise classify_telegram_error(exc) from exc

    async def remove_buttons(self, chat_id: str, message_id: int) -> None:
        """Take the keyboard off a message once its choice is made, so it is not pressed twice."""
        try:
            await self._bot.edit_message_reply_markup(
                chat_id=chat_id, message_id=message_id, reply_markup=None
            )
        except TelegramError as exc:
            raise classify_telegram_error(exc) from exc
