"""A fake Twilio REST API (the parts Karakana uses) and a fake Twilio that calls our webhooks.

It records every message sent, can refuse the next sends with a chosen Twilio error, can hold its
answer to the next send until the test lets it go (so a test can act, a crash say, while a send is
surely in flight, whatever the machine's load), serves media behind Basic auth (optionally 404-ing
the first fetches, as Twilio does for a moment after an inbound message), and posts inbound
messages and status callbacks signed exactly as Twilio signs them.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import uuid
from collections import deque
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route
from twilio.request_validator import RequestValidator

from tests.fakes.server import form_pairs, serving

API_VERSION = "2010-04-01"
DEFAULT_ACCOUNT_SID = "AC" + "a1" * 16
DEFAULT_AUTH_TOKEN = "fake-twilio-auth-token-0123456789"
DEFAULT_WHATSAPP_FROM = "whatsapp:+14155238886"  # Twilio's WhatsApp sandbox number

# Twilio's own wording for the errors tests ask for by code.
ERROR_MESSAGES = {
    20003: "Authenticate",
    20429: "Too Many Requests",
    21211: "The 'To' number is not a valid phone number.",
    21604: "A 'To' phone number is required.",
    21610: "Attempt to send to unsubscribed recipient",
    21619: "A text message body or media urls must be specified.",
    21656: "The ContentVariables Parameter is invalid.",
    63016: "Failed to send freeform message because you are outside the allowed window. "
    "If you want to send messages outside this window, please use a Template.",
    63018: "Rate limit exceeded for Channel",
    63041: "Message failed to send because the template has been paused.",
}


def sid(prefix: str) -> str:
    return prefix + uuid.uuid4().hex


def error_body(code: int, status: int, message: str | None = None) -> dict[str, object]:
    return {
        "code": code,
        "message": message or ERROR_MESSAGES.get(code, "Error"),
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


@dataclass(frozen=True)
class SentMessage:
    sid: str
    account_sid: str
    to: str
    from_: str
    body: str | None
    content_sid: str | None
    content_variables: str | None
    status_callback: str | None
    media_urls: tuple[str, ...]
    fields: dict[str, str]


@dataclass
class _Failure:
    remaining: int
    code: int
    status: int
    message: str | None


@dataclass
class _Media:
    content: bytes
    content_type: str
    missing_for: int  # how many more fetches answer 404
    cdn_base_url: str | None
    chunked: bool


@dataclass(frozen=True)
class MediaFetch:
    path: str
    authorization: str | None
    status: int


@dataclass
class HeldSend:
    """A message creation the fake has accepted (recorded) and not answered yet."""

    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    message: SentMessage | None = None  # set when it arrives
    _released: asyncio.Event = field(default_factory=asyncio.Event)

    def release(self) -> None:
        """Answer it now (to nobody, if the sender died meanwhile)."""
        self._released.set()


@dataclass
class FakeTwilio:
    account_sid: str = DEFAULT_ACCOUNT_SID
    auth_token: str = DEFAULT_AUTH_TOKEN
    whatsapp_from: str = DEFAULT_WHATSAPP_FROM
    base_url: str = ""  # set once the server runs
    messages: list[SentMessage] = field(default_factory=list)
    media_fetches: list[MediaFetch] = field(default_factory=list)
    refused_auth: int = 0
    _failures: deque[_Failure] = field(default_factory=deque)
    _media: dict[str, _Media] = field(default_factory=dict)
    _cdn: dict[str, str] = field(default_factory=dict)
    _holds: deque[HeldSend] = field(default_factory=deque)
    _all_holds: list[HeldSend] = field(default_factory=list)

    def __post_init__(self) -> None:
        prefix = f"/{API_VERSION}/Accounts/{{account}}"
        self.app = Starlette(
            routes=[
                Route(f"{prefix}/Messages.json", self._create_message, methods=["POST"]),
                Route(
                    f"{prefix}/Messages/{{message}}/Media/{{media}}",
                    self._get_media,
                    methods=["GET"],
                ),
                Route("/cdn/{token}", self._get_cdn, methods=["GET"]),
            ]
        )

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[FakeTwilio]:
        try:
            async with serving(self.app) as url:
                self.base_url = url
                yield self
        finally:
            for held in self._all_holds:  # or the server's shutdown would wait on them
                held.release()

    # -- what tests arrange -------------------------------------------------------------------

    def fail_next_sends(
        self, count: int = 1, *, code: int, status: int = 400, message: str | None = None
    ) -> None:
        """The next ``count`` message creations fail with Twilio error ``code``."""
        self._failures.append(_Failure(count, code, status, message))

    def hold_next_send(self) -> HeldSend:
        """The next message creation is recorded as usual, then sets ``arrived`` and gets no
        answer until ``release``. Later sends are answered at once (unless held too)."""
        held = HeldSend()
        self._holds.append(held)
        self._all_holds.append(held)
        return held

    def add_media(
        self,
        content: bytes,
        content_type: str,
        *,
        missing_for: int = 0,
        cdn_base_url: str | None = None,
        chunked: bool = False,
        message_sid: str | None = None,
    ) -> str:
        """Store a media file and return its full URL, as Twilio puts it in ``MediaUrl{i}``.

        ``missing_for``: answer 404 to that many fetches first. ``cdn_base_url``: answer with a
        redirect to an unauthenticated CDN URL there, as the real API does. ``chunked``: stream
        the file without a Content-Length.
        """
        path = (
            f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/"
            f"{message_sid or sid('MM')}/Media/{sid('ME')}"
        )
        self._media[path] = _Media(content, content_type, missing_for, cdn_base_url, chunked)
        return self.base_url + path

    def inbound_form(
        self,
        *,
        from_number: str,
        body: str = "",
        media: Mapping[str, str] | None = None,
        button_payload: str | None = None,
        message_sid: str | None = None,
        profile_name: str = "Wanjiku",
    ) -> dict[str, str]:
        """The fields Twilio posts for an inbound WhatsApp message; ``media`` maps URL -> type."""
        message_sid = message_sid or sid("SM")
        form = {
            "SmsMessageSid": message_sid,
            "NumMedia": str(len(media or {})),
            "ProfileName": profile_name,
            "MessageType": "image" if media else ("button" if button_payload else "text"),
            "SmsSid": message_sid,
            "WaId": from_number.lstrip("+"),
            "SmsStatus": "received",
            "Body": body,
            "To": self.whatsapp_from,
            "NumSegments": "1",
            "ReferralNumMedia": "0",
            "MessageSid": message_sid,
            "AccountSid": self.account_sid,
            "From": f"whatsapp:{from_number}",
            "ApiVersion": API_VERSION,
        }
        for i, (url, content_type) in enumerate((media or {}).items()):
            form[f"MediaUrl{i}"] = url
            form[f"MediaContentType{i}"] = content_type
        if button_payload is not None:
            form["ButtonPayload"] = button_payload
            form["ButtonText"] = button_payload
        return form

    def status_form(
        self, *, message_sid: str, status: str, to_number: str, error_code: int | None = None
    ) -> dict[str, str]:
        form = {
            "ChannelPrefix": "whatsapp",
            "ApiVersion": API_VERSION,
            "MessageStatus": status,
            "SmsSid": message_sid,
            "SmsStatus": status,
            "To": f"whatsapp:{to_number}",
            "From": self.whatsapp_from,
            "MessageSid": message_sid,
            "AccountSid": self.account_sid,
        }
        if error_code is not None:
            form["ErrorCode"] = str(error_code)
        return form

    # -- Twilio calling our webhooks ----------------------------------------------------------

    def sign(self, url: str, form: Mapping[str, str]) -> str:
        return str(RequestValidator(self.auth_token).compute_signature(url, dict(form)))

    async def post_webhook(
        self,
        url: str,
        form: Mapping[str, str],
        *,
        signed_url: str | None = None,
        signature: str | None = "computed",
    ) -> httpx.Response:
        """POST ``form`` to ``url`` as Twilio does. The signature covers ``signed_url`` (the
        public URL, when a proxy sits in front) or ``url``; pass ``signature`` to forge one, or
        None to send none."""
        headers = {"User-Agent": "TwilioProxy/1.1"}
        if signature == "computed":
            headers["X-Twilio-Signature"] = self.sign(signed_url or url, form)
        elif signature is not None:
            headers["X-Twilio-Signature"] = signature
        async with httpx.AsyncClient(trust_env=False) as client:
            return await client.post(url, data=dict(form), headers=headers)

    async def post_status_callback(
        self,
        url: str,
        *,
        message_sid: str,
        status: str,
        to_number: str,
        error_code: int | None = None,
    ) -> httpx.Response:
        """POST a signed status callback for one of the messages we sent."""
        form = self.status_form(
            message_sid=message_sid, status=status, to_number=to_number, error_code=error_code
        )
        return await self.post_webhook(url, form)

    # -- the REST API -------------------------------------------------------------------------

    def _authorised(self, request: Request) -> bool:
        if request.path_params.get("account") != self.account_sid:
            return False
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return (user, password) == (self.account_sid, self.auth_token)

    def _unauthorised(self) -> JSONResponse:
        self.refused_auth += 1
        return JSONResponse(
            error_body(20003, 401), status_code=401, headers={"WWW-Authenticate": "Basic"}
        )

    async def _create_message(self, request: Request) -> Response:
        if not self._authorised(request):
            return self._unauthorised()
        pairs = await form_pairs(request)
        fields = dict(pairs)
        if self._failures:
            failure = self._failures[0]
            failure.remaining -= 1
            if failure.remaining <= 0:
                self._failures.popleft()
            body = error_body(failure.code, failure.status, failure.message)
            return JSONResponse(body, status_code=failure.status)
        if not fields.get("To"):
            return JSONResponse(error_body(21604, 400), status_code=400)
        if not (fields.get("Body") or fields.get("ContentSid") or fields.get("MediaUrl")):
            return JSONResponse(error_body(21619, 400), status_code=400)
        message_sid = sid("SM")
        now = format_datetime(datetime.now(UTC), usegmt=True)
        media_urls = tuple(value for key, value in pairs if key == "MediaUrl")
        message = SentMessage(
            sid=message_sid,
            account_sid=self.account_sid,
            to=fields["To"],
            from_=fields.get("From", ""),
            body=fields.get("Body"),
            content_sid=fields.get("ContentSid"),
            content_variables=fields.get("ContentVariables"),
            status_callback=fields.get("StatusCallback"),
            media_urls=media_urls,
            fields=fields,
        )
        self.messages.append(message)
        if self._holds:
            held = self._holds.popleft()
            held.message = message
            held.arrived.set()
            await held._released.wait()
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{message_sid}"
        return JSONResponse(
            {
                "account_sid": self.account_sid,
                "api_version": API_VERSION,
                "body": fields.get("Body", ""),
                "date_created": now,
                "date_sent": None,
                "date_updated": now,
                "direction": "outbound-api",
                "error_code": None,
                "error_message": None,
                "from": fields.get("From"),
                "messaging_service_sid": None,
                "num_media": str(len(media_urls)),
                "num_segments": "1",
                "price": None,
                "price_unit": "USD",
                "sid": message_sid,
                "status": "queued",
                "subresource_uris": {"media": f"{uri}/Media.json"},
                "to": fields["To"],
                "uri": f"{uri}.json",
            },
            status_code=201,
        )

    async def _get_media(self, request: Request) -> Response:
        authorization = request.headers.get("authorization")
        if not self._authorised(request):
            self.media_fetches.append(MediaFetch(request.url.path, authorization, 401))
            return self._unauthorised()
        media = self._media.get(request.url.path)
        if media is None or media.missing_for > 0:
            if media is not None:
                media.missing_for -= 1
            self.media_fetches.append(MediaFetch(request.url.path, authorization, 404))
            return JSONResponse(error_body(20404, 404, "The requested resource was not found"), 404)
        self.media_fetches.append(MediaFetch(request.url.path, authorization, 200))
        if media.cdn_base_url is not None:
            token = uuid.uuid4().hex
            self._cdn[token] = request.url.path
            return RedirectResponse(f"{media.cdn_base_url}/cdn/{token}", status_code=307)
        return _serve(media)

    async def _get_cdn(self, request: Request) -> Response:
        path = self._cdn.pop(request.path_params["token"], None)
        authorization = request.headers.get("authorization")
        self.media_fetches.append(MediaFetch(request.url.path, authorization, 200 if path else 404))
        if path is None:
            return Response(status_code=404)
        return _serve(self._media[path])


def _serve(media: _Media) -> Response:
    if not media.chunked:
        return Response(media.content, media_type=media.content_type)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(media.content), 1024):
            yield media.content[start : start + 1024]

    return StreamingResponse(chunks(), media_type=media.content_type)
