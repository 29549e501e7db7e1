"""From a provider's request to an accepted message: the thin part of each webhook.

Each gateway checks what the provider signed, turns the payload into the engine's ``Incoming``
(attachments as pending media, see bot/channels/inbound.py) and hands it to ``Inbound.receive``,
which persists it before the HTTP answer goes back. Nothing here decides anything about a
conversation.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode

from sqlalchemy.exc import SQLAlchemyError
from telegram import Bot, Update
from telegram.error import TelegramError

from bot.channels.dispatcher import apply_status
from bot.channels.inbound import Inbound, pending_media
from bot.channels.sms_identity import link_same_number
from bot.channels.telegram import (
    CallbackSigner,
    ForgedCallback,
    check_secret_token,
    media_to_fetch,
    parse_update,
)
from bot.channels.whatsapp import (
    MalformedInbound,
    media_links,
    parse_inbound,
    parse_status_callback,
    verify_signature,
)
from conversations.i18n import Catalogue
from conversations.messages import MediaItem
from conversations.refusals import button_refused
from domain.model import Channel, Language
from domain.services.people import person_by_identity
from domain.store import Store

log = logging.getLogger(__name__)

_UNKNOWN_SID_DELAYS = (0.1, 0.3, 1.0)


class BadWebhook(ValueError):
    """The request is not what the provider sends: answered 400, nothing changed."""


class Forbidden(PermissionError):
    """The request is not signed by the provider: answered 403, nothing changed."""


def parse_form(body: bytes) -> dict[str, str]:
    """An urlencoded body as a dict (python-multipart is not needed for Twilio's forms)."""
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True))
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadWebhook(f"the body is not a urlencoded form: {exc}") from exc


MEDIA_PATH = "/media"
DEFAULT_MEDIA_LINK_TTL = timedelta(hours=1)  # Twilio fetches a message's media within seconds


class MediaLinks:
    """Signed, expiring public URLs for files in our media store, for Twilio to fetch.

    WhatsApp cannot carry an upload: an outbound photo is a URL Twilio downloads. The URL is
    ``<public base>/media/<ref>?expires=<unix time>&signature=<HMAC>``: the HMAC-SHA256 covers
    the ref and the expiry, so a link cannot be pointed at another file or kept alive, and
    ``check`` compares in constant time. Only the media store's own refs are served (the route
    refuses anything else before touching the disk).
    """

    def __init__(
        self,
        key: bytes,
        public_base_url: str,
        *,
        clock: Callable[[], datetime],
        ttl: timedelta = DEFAULT_MEDIA_LINK_TTL,
    ) -> None:
        if len(key) < 16:
            raise ValueError("the media link signing key must be at least 16 bytes")
        if ttl <= timedelta(0):
            raise ValueError("media links need a positive time to live")
        self._key = key
        self._base = public_base_url.rstrip("/")
        self._clock = clock
        self._ttl = ttl

    @classmethod
    def for_auth_token(
        cls,
        auth_token: str,
        public_base_url: str,
        *,
        clock: Callable[[], datetime],
        ttl: timedelta = DEFAULT_MEDIA_LINK_TTL,
    ) -> MediaLinks:
        """A key derived from the Twilio auth token, so no extra secret has to be configured
        (and a rotated token retires every link issued with the old one)."""
        key = hmac.new(auth_token.encode(), b"karakana media links", hashlib.sha256).digest()
        return cls(key, public_base_url, clock=clock, ttl=ttl)

    def _signature(self, ref: str, expires: int) -> str:
        digest = hmac.new(self._key, f"{ref}\n{expires}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def url_for(self, item: MediaItem) -> str:
        """The public URL of ``item``, valid for the links' time to live from now."""
        expires = int((self._clock() + self._ttl).timestamp())
        query = urlencode({"expires": expires, "signature": self._signature(item.ref, expires)})
        return f"{self._base}{MEDIA_PATH}/{item.ref}?{query}"

    def check(self, ref: str, expires: str | None, signature: str | None) -> bool:
        """True when the link was issued by us for ``ref`` and has not expired."""
        if not expires or not signature or not expires.isdigit() or len(expires) > 12:
            return False
        expected = self._signature(ref, int(expires))
        if not hmac.compare_digest(signature.encode(), expected.encode()):
            return False
        return self._clock().timestamp() < int(expires)


@dataclass
class WhatsAppGateway:
    auth_token: str
    public_base_url: str
    inbound: Inbound
    store: Store
    clock: Callable[[], datetime]

    def _verified(self, path: str, form: Mapping[str, str], signature: str | None) -> None:
        if not verify_signature(self.auth_token, self.public_base_url, path, form, signature):
            raise Forbidden(
                "missing or bad X-Twilio-Signature"
                if signature
                else "no X-Twilio-Signature: not from Twilio"
            )

    async def message(self, path: str, body: bytes, signature: str | None) -> bool:
        """An inbound WhatsApp message; True if new, False if a redelivery."""
        form = parse_form(body)
        self._verified(path, form, signature)
        try:
            links = media_links(form)
            incoming = parse_inbound(form, received_at=self.clock(), media=pending_media(links))
        except MalformedInbound as exc:
            raise BadWebhook(str(exc)) from exc
        # An artisan who registered by SMS and now writes on WhatsApp from the same number.
        await link_same_number(self.store, Channel.WHATSAPP, incoming.address)
        return await self.inbound.receive(incoming)

    async def status(self, path: str, body: bytes, signature: str | None) -> None:
        form = parse_form(body)
        self._verified(path, form, signature)
        try:
            update = parse_status_callback(form)
        except MalformedInbound as exc:
            raise BadWebhook(str(exc)) from exc
        for delay in (*_UNKNOWN_SID_DELAYS, None):
            found = await apply_status(
                self.store,
                provider_message_id=update.message_sid,
                status=update.status,
                error_code=update.error_code,
            )
            if found is not None or delay is None:
                return
            # Twilio can call back before we have committed the sid it gave us: wait a moment.
            await asyncio.sleep(delay)


@dataclass
class TelegramGateway:
    bot: Bot
    signer: CallbackSigner
    inbound: Inbound
    store: Store
    catalogue: Catalogue
    clock: Callable[[], datetime]
    webhook_secret: str | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def check_secret(self, header: str | None) -> None:
        if self.webhook_secret is None or not check_secret_token(header, self.webhook_secret):
            raise Forbidden("missing or wrong X-Telegram-Bot-Api-Secret-Token")

    def update_from_json(self, data: object) -> Update:
        if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
            raise BadWebhook("a Telegram update is a JSON object with an integer update_id")
        try:
            update = Update.de_json(data, self.bot)
        except (KeyError, TypeError, ValueError) as exc:
            raise BadWebhook(f"not a Telegram update: {exc!r}") from exc
        if update is None:
            raise BadWebhook("an empty Telegram update")
        return update

    async def receive(self, update: Update) -> bool:
        """One update, from the webhook or long polling; True if it was new and accepted.

        A button press is always answered, so its spinner stops, whatever became of it.
        """
        query = update.callback_query
        try:
            incoming = parse_update(
                update,
                signer=self.signer,
                received_at=self.clock(),
                media=pending_media(media_to_fetch(update)),
            )
        except ForgedCallback as forged:
            log.warning("refused a Telegram button press: %s", forged)
            assert query is not None
            self._later(self._refuse_button(query.id, str(query.from_user.id)))
            return False
        if incoming is None:
            return False
        if query is None:
            return await self.inbound.receive(incoming)
        try:
            accepted = await self.inbound.receive(incoming)
        finally:
            # Also for a redelivered press, and for one we could not store: Telegram delivers
            # that again, and we answer it again then (harmlessly refused as already answered).
            self._later(self._answer(query.id, None))
        if accepted and query.message is not None:
            # Its choice is made: take the keyboard off, so it cannot be pressed twice.
            self._later(self._remove_buttons(query.message.chat.id, query.message.message_id))
        return accepted

    async def _remove_buttons(self, chat_id: int, message_id: int) -> None:
        try:
            await self.bot.edit_message_reply_markup(
                chat_id=chat_id, message_id=message_id, reply_markup=None
            )
        except TelegramError as exc:
            # Too old to edit (48 hours), or already edited: the press itself still counts.
            log.info("could not remove a message's buttons: %s", exc)

    async def _refuse_button(self, query_id: str, presser: str) -> None:
        await self._answer(query_id, button_refused(self.catalogue, await self._language(presser)))

    async def _language(self, presser: str) -> Language:
        """The presser's language; English for a stranger, or when the database cannot say (a
        refusal in English beats a spinner that never stops)."""
        try:
            async with self.store.read() as session:
                person = await person_by_identity(session, Channel.TELEGRAM, presser)
                # Read inside the snapshot: closing it expires the row, detached from any session.
                return person.language if person is not None else Language.EN
        except (SQLAlchemyError, OSError) as exc:
            log.warning("could not look up who pressed a refused Telegram button: %r", exc)
            return Language.EN

    async def _answer(self, query_id: str, text: str | None) -> None:
        try:
            await self.bot.answer_callback_query(query_id, text=text)
        except TelegramError as exc:
            log.info("could not answer a Telegram button press: %s", exc)

    def _later(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        # Nobody awaits these calls: a failure is logged here, once, with its traceback, rather
        # than as "Task exception was never retrieved" whenever the task happens to be collected.
        if not task.cancelled() and (failure := task.exception()) is not None:
            log.error("a Telegram call after a webhook failed", exc_info=failure)

    async def drain(self, *, grace: float) -> None:
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=grace)
