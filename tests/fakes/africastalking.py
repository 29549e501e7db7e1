"""A fake Africa's Talking: the SMS messaging API Karakana calls, and the callbacks it posts.

It records every SMS sent (``messages``), answers as the real API does
(``SMSMessageData.Recipients[]`` with ``statusCode``, ``status``, ``messageId`` and ``cost``,
charged per segment), can refuse the next sends (an HTTP status, or a recipient statusCode such
as 406 UserInBlacklist), can hold its answer to the next send until the test releases it, and
posts incoming SMS and delivery reports to our callback URLs as Africa's Talking does: plain
forms, unsigned.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from conversations.sms import count_segments
from tests.fakes.server import form_fields, serving

DEFAULT_USERNAME = "sandbox"
DEFAULT_API_KEY = "fake-africastalking-api-key-0123456789"
SHORTCODE = "20880"
COST_PER_SEGMENT_E4 = 8000  # KES 0.8000, the price of one SMS segment in Kenya

# The recipient statuses tests ask for by code.
STATUSES = {
    101: "Success",
    401: "RiskHold",
    403: "InvalidPhoneNumber",
    405: "InsufficientBalance",
    406: "UserInBlacklist",
    407: "CouldNotRoute",
    500: "InternalServerError",
}


@dataclass(frozen=True)
class SentSms:
    message_id: str
    username: str
    to: str
    message: str
    from_: str | None
    segments: int


@dataclass
class _Failure:
    remaining: int
    http_status: int
    recipient_code: int | None


@dataclass
class HeldSend:
    """A send the fake has recorded and not answered yet."""

    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    sms: SentSms | None = None
    _released: asyncio.Event = field(default_factory=asyncio.Event)

    def release(self) -> None:
        self._released.set()


@dataclass
class FakeAfricasTalking:
    username: str = DEFAULT_USERNAME
    api_key: str = DEFAULT_API_KEY
    base_url: str = ""  # set once the server runs
    messages: list[SentSms] = field(default_factory=list)
    refused_auth: int = 0
    _failures: deque[_Failure] = field(default_factory=deque)
    _holds: deque[HeldSend] = field(default_factory=deque)
    _all_holds: list[HeldSend] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.app = Starlette(routes=[Route("/version1/messaging", self._send, methods=["POST"])])

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[FakeAfricasTalking]:
        try:
            async with serving(self.app) as url:
                self.base_url = url
                yield self
        finally:
            for held in self._all_holds:
                held.release()

    # -- what tests arrange -------------------------------------------------------------------

    def fail_next_sends(
        self, count: int = 1, *, http_status: int = 200, recipient_code: int | None = None
    ) -> None:
        """The next ``count`` sends fail: with an HTTP error status, or (``http_status`` 200)
        with a recipient ``statusCode`` such as 406 (UserInBlacklist)."""
        self._failures.append(_Failure(count, http_status, recipient_code))

    def hold_next_send(self) -> HeldSend:
        held = HeldSend()
        self._holds.append(held)
        self._all_holds.append(held)
        return held

    def texts_to(self, number: str) -> list[str]:
        return [sms.message for sms in self.messages if sms.to == number]

    # -- Africa's Talking calling our callbacks -----------------------------------------------

    async def deliver(
        self,
        url: str,
        *,
        from_number: str,
        text: str,
        message_id: str | None = None,
        to: str = SHORTCODE,
    ) -> httpx.Response:
        """POST an incoming SMS to ``url`` as Africa's Talking does."""
        form = {
            "from": from_number,
            "to": to,
            "text": text,
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
            "id": message_id or str(uuid.uuid4()),
            "linkId": str(uuid.uuid4()),
            "networkCode": "63902",
        }
        return await self.post(url, form)

    async def report(
        self,
        url: str,
        *,
        message_id: str,
        status: str,
        phone_number: str,
        failure_reason: str | None = None,
    ) -> httpx.Response:
        """POST a delivery report for one of the SMS we sent."""
        form = {
            "id": message_id,
            "status": status,
            "phoneNumber": phone_number,
            "networkCode": "63902",
            "retryCount": "0",
        }
        if failure_reason is not None:
            form["failureReason"] = failure_reason
        return await self.post(url, form)

    @staticmethod
    async def post(url: str, form: dict[str, str] | bytes) -> httpx.Response:
        async with httpx.AsyncClient(trust_env=False) as client:
            if isinstance(form, bytes):
                return await client.post(
                    url,
                    content=form,
                    headers={"content-type": "application/x-www-form-urlencoded"},
                )
            return await client.post(url, data=form)

    # -- the API ------------------------------------------------------------------------------

    async def _send(self, request: Request) -> Response:
        fields = await form_fields(request)
        if request.headers.get("apikey") != self.api_key or fields.get("username") != self.username:
            self.refused_auth += 1
            return Response("The supplied authentication is invalid", status_code=401)
        if not fields.get("to") or not fields.get("message"):
            return Response("Must have to and message", status_code=400)
        code = 101
        if self._failures:
            failure = self._failures[0]
            failure.remaining -= 1
            if failure.remaining <= 0:
                self._failures.popleft()
            if failure.http_status != 200:
                return Response("Request failed", status_code=failure.http_status)
            code = failure.recipient_code or 101
        segments = count_segments(fields["message"]).count
        sms = SentSms(
            message_id=f"ATXid_{uuid.uuid4().hex}",
            username=fields["username"],
            to=fields["to"],
            message=fields["message"],
            from_=fields.get("from"),
            segments=segments,
        )
        if code == 101:
            self.messages.append(sms)
        if self._holds:
            held = self._holds.popleft()
            held.sms = sms
            held.arrived.set()
            await held._released.wait()
        cost = f"KES {COST_PER_SEGMENT_E4 * segments / 10_000:.4f}" if code == 101 else "0"
        return JSONResponse(
            {
                "SMSMessageData": {
                    "Message": f"Sent to {1 if code == 101 else 0}/1 Total Cost: {cost}",
                    "Recipients": [
                        {
                            "statusCode": code,
                            "number": fields["to"],
                            "status": STATUSES.get(code, "Failed"),
                            "cost": cost,
                            "messageId": sms.message_id if code == 101 else "None",
                        }
                    ],
                }
            },
            status_code=201,
        )
