"""WhatsApp through Twilio: what Twilio posts to us, and what we post to Twilio.

Inbound: Twilio signs every webhook with the account's auth token over the URL it called and every
posted field. Behind a TLS-terminating proxy the URL our server sees is not the one Twilio signed,
so the signature is checked against the configured public base URL plus the request path.

Media: Twilio gives a URL per attachment. We send our Twilio credentials only to the configured
Twilio API host; a URL anywhere else is refused without a request, so a forged or odd webhook
cannot make us hand the auth token to a stranger.

Outbound: twilio's own client, asynchronously (``create_async`` on ``AsyncTwilioHttpClient``), so a
slow send never blocks the event loop. Tests point it at a fake server through
``api_base_url``; only the scheme and host of Twilio's URLs are rewritten.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import httpx
from twilio.base.exceptions import TwilioRestException  # type: ignore[import-untyped]
from twilio.http.async_http_client import AsyncTwilioHttpClient  # type: ignore[import-untyped]
from twilio.http.response import Response as TwilioResponse  # type: ignore[import-untyped]
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]
from twilio.rest import Client  # type: ignore[import-untyped]

from bot.channels.media import (
    ACCEPTED_DOCUMENT_TYPES,
    ACCEPTED_IMAGE_TYPES,
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

TWILIO_API_BASE_URL = "https://api.twilio.com"
ADDRESS_PREFIX = "whatsapp:"
# Twilio attaches at most ten media items to one WhatsApp message.
MAX_MEDIA_PER_MESSAGE = 10
CHANNEL = Channel.WHATSAPP.value


class MalformedInbound(ValueError):
    """The form is not a WhatsApp message as Twilio sends one."""


# ---------------------------------------------------------------------------------------------
# Inbound
# ---------------------------------------------------------------------------------------------


def verify_signature(
    auth_token: str,
    public_base_url: str,
    path: str,
    form: Mapping[str, str],
    signature: str | None,
) -> bool:
    """True when ``signature`` (the X-Twilio-Signature header) is Twilio's for this request.

    ``path`` is the request path as received, including any query string; every posted field
    counts, so a field added or changed in transit breaks the signature.
    """
    if not signature or not auth_token:
        return False
    url = public_base_url.rstrip("/") + path
    return bool(RequestValidator(auth_token).validate(url, dict(form), signature))


def address_of(value: str) -> str:
    """``"whatsapp:+254712345678"`` -> ``"+254712345678"``."""
    if not value.startswith(ADDRESS_PREFIX) or len(value) == len(ADDRESS_PREFIX):
        raise MalformedInbound(f"expected a WhatsApp address like 'whatsapp:+2547…', got {value!r}")
    return value[len(ADDRESS_PREFIX) :]


def _required(form: Mapping[str, str], name: str) -> str:
    value = form.get(name, "").strip()
    if not value:
        raise MalformedInbound(f"the form has no {name}")
    return value


def parse_inbound(
    form: Mapping[str, str],
    *,
    received_at: datetime,
    media: Sequence[MediaItem] = (),
) -> Incoming:
    """Twilio's inbound WhatsApp form as the engine's ``Incoming``.

    Attachments are not downloaded here: pass what ``MediaDownloader.fetch_all(media_links(form))``
    kept as ``media``, so ``Incoming.media`` only ever names files in our own store.
    """
    return Incoming(
        channel=Channel.WHATSAPP,
        address=address_of(_required(form, "From")),
        provider_message_id=_required(form, "MessageSid"),
        text=form.get("Body", "").strip(),
        media=tuple(media),
        button_payload=form.get("ButtonPayload", "").strip() or None,
        received_at=received_at,
    )


def media_links(form: Mapping[str, str]) -> tuple[RemoteMedia, ...]:
    """The attachments Twilio announced: NumMedia, MediaUrl{i} and MediaContentType{i}."""
    raw = form.get("NumMedia", "0").strip() or "0"
    if not raw.isdigit():
        raise MalformedInbound(f"NumMedia must be a whole number, got {raw!r}")
    count = int(raw)
    if count > MAX_MEDIA_PER_MESSAGE:
        raise MalformedInbound(f"NumMedia {count} is more than Twilio ever sends")
    return tuple(
        RemoteMedia(
            locator=_required(form, f"MediaUrl{i}"),
            declared_type=normalise_content_type(form.get(f"MediaContentType{i}")),
        )
        for i in range(count)
    )


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """A status callback: where one of our sent messages has got to."""

    message_sid: str
    status: str  # queued, sent, delivered, read, failed, undelivered, ...
    error_code: int | None


def parse_status_callback(form: Mapping[str, str]) -> StatusUpdate:
    raw_code = form.get("ErrorCode", "").strip()
    return StatusUpdate(
        message_sid=_required(form, "MessageSid"),
        status=_required(form, "MessageStatus").lower(),
        error_code=int(raw_code) if raw_code.isdigit() else None,
    )


# ---------------------------------------------------------------------------------------------
# Media
# ---------------------------------------------------------------------------------------------


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, f"{(parts.hostname or '').lower()}:{port}"


class MediaDownloader:
    """Downloads the photos in an inbound WhatsApp message into the media store.

    Twilio sometimes announces a media URL a moment before it can be fetched, so a 404 is retried
    after each of ``not_found_delays`` seconds before giving up.
    """

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        store: MediaStore,
        api_base_url: str = TWILIO_API_BASE_URL,
        max_bytes: int = DEFAULT_MAX_IMAGE_BYTES,
        not_found_delays: Sequence[float] = (0.5, 1.0, 2.0),
        timeout: float = 20.0,
    ) -> None:
        self._auth = (account_sid, auth_token)
        self._store = store
        self._trusted_origin = _origin(api_base_url)
        self._max_bytes = max_bytes
        self._not_found_delays = tuple(not_found_delays)
        # No environment proxies: credentials go to Twilio's host and nowhere else. Redirects
        # (Twilio answers with one to its CDN) are followed; httpx drops the Authorization
        # header when a redirect leaves the origin.
        self._client = httpx.AsyncClient(timeout=timeout, follow_redirects=True, trust_env=False)

    async def __aenter__(self) -> MediaDownloader:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def fetch_all(
        self, links: Sequence[RemoteMedia], *, documents: bool = False
    ) -> tuple[tuple[MediaItem, ...], tuple[MediaRefused, ...]]:
        """Every link fetched in turn: what was kept, and what was refused (and why).
        ``documents``: the sender is an admin, whose CSV or text files are kept too."""
        kept: list[MediaItem] = []
        refused: list[MediaRefused] = []
        for link in links:
            try:
                kept.append(await self.fetch(link, documents=documents))
            except MediaRefused as refusal:
                log.warning("WhatsApp media refused: %s", refusal)
                refused.append(refusal)
        return tuple(kept), tuple(refused)

    async def fetch(self, link: RemoteMedia, *, documents: bool = False) -> MediaItem:
        if _origin(link.locator) != self._trusted_origin:
            log.warning(
                "refusing to fetch WhatsApp media from %s: not the configured Twilio API host",
                urlsplit(link.locator).netloc,
            )
            raise MediaRefused(
                RefusalReason.UNTRUSTED_HOST,
                f"{urlsplit(link.locator).netloc} is not the configured Twilio API host",
            )
        refuse_unless_accepted_type(link.declared_type, documents=documents)
        for delay in (*self._not_found_delays, None):
            content, content_type = await self._download(link.locator, documents=documents)
            if content is not None:
                return await keep_file(
                    self._store,
                    content,
                    content_type or link.declared_type,
                    self._max_bytes,
                    documents=documents,
                )
            if delay is not None:
                await asyncio.sleep(delay)
        raise MediaRefused(RefusalReason.NOT_FOUND, "Twilio kept answering 404 for the media URL")

    async def _download(
        self, url: str, *, documents: bool = False
    ) -> tuple[bytes | None, str | None]:
        """The body and its content type, or (None, None) for a 404 worth retrying."""
        try:
            async with self._client.stream("GET", url, auth=self._auth) as response:
                if response.status_code == 404:
                    return None, None
                if response.status_code != 200:
                    raise MediaRefused(
                        RefusalReason.FETCH_FAILED,
                        f"Twilio answered HTTP {response.status_code} for the media URL",
                    )
                content_type = normalise_content_type(response.headers.get("content-type"))
                wanted = content_type in ACCEPTED_IMAGE_TYPES or (
                    documents and content_type in ACCEPTED_DOCUMENT_TYPES
                )
                if not wanted:
                    raise MediaRefused(
                        RefusalReason.NOT_AN_IMAGE,
                        f"{content_type or 'an untyped file'} is not accepted; send a photo",
                    )
                declared_length = response.headers.get("content-length", "")
                if declared_length.isdigit():
                    refuse_if_too_large(int(declared_length), self._max_bytes)
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body.extend(chunk)
                    # Counting as it streams: a missing or lying Content-Length cannot make us
                    # hold more than the limit.
                    refuse_if_too_large(len(body), self._max_bytes)
                return bytes(body), content_type
        except httpx.HTTPError as exc:
            raise MediaRefused(
                RefusalReason.FETCH_FAILED, f"could not download the media: {exc!r}"
            ) from exc


# ---------------------------------------------------------------------------------------------
# Outbound
# ---------------------------------------------------------------------------------------------


class RebasedTwilioHttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]
    """twilio's async HTTP client, with Twilio's scheme and host swapped for ``api_base_url``.

    Only the origin changes; paths, query strings and credentials are twilio's own. It also
    applies the client-wide timeout, which the stock client ignores for API calls, and sends
    Basic auth as a header (aiohttp deprecates the ``BasicAuth`` object the stock client uses).
    """

    def __init__(self, api_base_url: str, *, timeout: float) -> None:
        super().__init__(timeout=timeout)
        base = urlsplit(api_base_url)
        self._scheme, self._netloc = base.scheme, base.netloc

    def rebase(self, url: str) -> str:
        parts = urlsplit(url)
        return urlunsplit((self._scheme, self._netloc, parts.path, parts.query, parts.fragment))

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 (twilio's signature)
        allow_redirects: bool = False,
    ) -> TwilioResponse:
        if auth is not None:
            # aiohttp deprecates the BasicAuth object twilio would build: send the header.
            credentials = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            headers = {**(headers or {}), "Authorization": f"Basic {credentials}"}
        response: TwilioResponse = await super().request(
            method,
            self.rebase(url),
            params=params,
            data=data,
            headers=headers,
            auth=None,
            timeout=timeout if timeout is not None else self.timeout,
            allow_redirects=allow_redirects,
        )
        return response


@dataclass(frozen=True, slots=True)
class Template:
    """An approved WhatsApp content template and the values for its ``{{1}}``, ``{{2}}``..."""

    content_sid: str
    variables: Mapping[str, str]


# Twilio error codes that say something the outbox must act on.
_OPTED_OUT = {21610}  # the recipient replied STOP
_WINDOW = {63016}  # outside the 24-hour window: a template is required
# template paused or rejected, unknown for the language, wrong or bad ContentVariables
_TEMPLATE = {63041, 63054, 21656, 63027, 63028, 63029}
_RATE = {63018, 20429, 14107}  # WhatsApp / API / account send rate exceeded
_BAD_RECIPIENT = {21211, 21614, 63003, 63024}  # not a valid or reachable WhatsApp number


def classify_twilio_error(code: int | None, http_status: int | None, message: str) -> SendError:
    """A Twilio error (from the API or a status callback) as a ``SendError``."""
    if code in _OPTED_OUT:
        failure = SendFailure.OPTED_OUT
    elif code in _WINDOW:
        failure = SendFailure.WINDOW_CLOSED
    elif code in _TEMPLATE:
        failure = SendFailure.TEMPLATE_REJECTED
    elif code in _RATE or http_status == 429:
        failure = SendFailure.RATE_LIMITED
    elif code in _BAD_RECIPIENT:
        failure = SendFailure.BAD_RECIPIENT
    elif http_status is not None and http_status >= 500:
        failure = SendFailure.TRANSIENT
    else:
        failure = SendFailure.REJECTED
    return SendError(message, channel=CHANNEL, failure=failure, code=code)


class WhatsAppSender:
    """Sends replies and templates to WhatsApp numbers; returns Twilio's message sid."""

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        from_number: str,
        api_base_url: str = TWILIO_API_BASE_URL,
        status_callback_url: str | None = None,
        media_url_for: Callable[[MediaItem], str] | None = None,
        timeout: float = 15.0,
    ) -> None:
        self._account_sid = account_sid
        self._auth_token = auth_token
        self._from = (
            from_number if from_number.startswith(ADDRESS_PREFIX) else ADDRESS_PREFIX + from_number
        )
        self._api_base_url = api_base_url
        self._status_callback_url = status_callback_url
        self._media_url_for = media_url_for
        self._timeout = timeout
        self._http: RebasedTwilioHttpClient | None = None
        self._client: Client | None = None

    def _twilio(self) -> Client:
        # Built on first use: aiohttp's session must be created inside the running event loop.
        if self._client is None:
            self._http = RebasedTwilioHttpClient(self._api_base_url, timeout=self._timeout)
            self._client = Client(self._account_sid, self._auth_token, http_client=self._http)
        return self._client

    async def __aenter__(self) -> WhatsAppSender:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None
            self._client = None

    async def send(self, address: str, reply: Reply) -> str:
        """A free-form reply (inside the 24-hour window); choices become numbered lines."""
        fields: dict[str, Any] = {"body": reply.as_plain_text()}
        if reply.media:
            if self._media_url_for is None:
                raise SendError(
                    "this reply has media but no public media URL is configured "
                    "(set PUBLIC_BASE_URL so Twilio can fetch our files)",
                    channel=CHANNEL,
                    failure=SendFailure.REJECTED,
                )
            fields["media_url"] = [self._media_url_for(item) for item in reply.media]
        return await self._create(address, fields)

    async def send_template(self, address: str, template: Template) -> str:
        """A business-initiated message outside the window: an approved content template."""
        return await self._create(
            address,
            {
                "content_sid": template.content_sid,
                "content_variables": json.dumps(dict(template.variables), ensure_ascii=False),
            },
        )

    async def _create(self, address: str, fields: dict[str, Any]) -> str:
        if self._status_callback_url is not None:
            fields["status_callback"] = self._status_callback_url
        try:
            message = await self._twilio().messages.create_async(
                to=ADDRESS_PREFIX + address, from_=self._from, **fields
            )
        except TwilioRestException as exc:
            raise classify_twilio_error(
                exc.code, exc.status, f"Twilio refused the message: {exc.msg}"
            ) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SendError(
                f"could not reach Twilio: {exc!r}", channel=CHANNEL, failure=SendFailure.TRANSIENT
            ) from exc
        sid: str = message.sid
        return sid
