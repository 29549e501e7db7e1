"""A fake M-Pesa Daraja API: OAuth, B2C payment requests, transaction status queries, callbacks.

Like the real one it answers a payment request at once (accepted, refused, or a duplicate of an
earlier request with the same OriginatorConversationID) and reports the payment's outcome later
by POSTing to the request's ResultURL. Tests script what happens to the next requests with
:class:`Plan`: a result code, a lost or hanging answer, and whether the callback comes before the
answer, after it, late, twice, out of order (a queue timeout after the result) or never.

``payee_names`` is who owns each M-Pesa number (keyed ``2547XXXXXXXX``): a paid result carries
it as ``ReceiverPartyPublicName`` (``"2547XXXXXXXX - JANE DOE"``), as Daraja's does; a number
not in it comes back with the number alone (no name to compare).

Account Balance queries are answered by callback with ``float_cents`` as the Utility Account's
available amount (less what it has paid since); ``lose_balance_callbacks`` drops the next that
many of those callbacks (a lost callback), and ``balance_callbacks`` keeps those delivered.

It keeps the truth about money: ``paid`` maps each originator id to the payment M-Pesa made for
it, and ``accepted`` counts the requests it accepted per originator id, which must never be more
than one.

For load: ``latency`` delays every API answer (the round trip to Safaricom), and
``requests_per_second`` refuses calls above that rate with HTTP 429 and ``Retry-After``, as an
API gateway does above a shortcode's granted rate; ``throttled`` counts those refusals and
``most_in_flight`` the most payment requests it held at once.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import time
import uuid
from collections import Counter, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.server import serving

CONSUMER_KEY = "fake-consumer-key"
CONSUMER_SECRET = "fake-consumer-secret"
NOT_FOUND_DESC = "The transaction could not be found"


class Answer(StrEnum):
    NORMAL = "normal"  # the usual immediate answer
    HANG = "hang"  # process the payment, then answer too late for the client's timeout
    LOST = "lost"  # 503 before anything is processed: M-Pesa never had it
    SERVER_ERROR_AFTER = "server_error_after"  # process the payment, then answer 500


class Callback(StrEnum):
    BEFORE = "before"  # the result arrives before the request's answer
    AFTER = "after"
    LATE = "late"  # after ``late_seconds``
    TWICE = "twice"
    NEVER = "never"
    TIMEOUT_THEN_RESULT = "timeout_then_result"  # a queue timeout, then the real result
    RESULT_THEN_TIMEOUT = "result_then_timeout"  # out of order: a stale timeout after the result


@dataclass(frozen=True)
class Plan:
    result_code: int = 0
    answer: Answer = Answer.NORMAL
    callback: Callback = Callback.AFTER


@dataclass(frozen=True)
class Payment:
    originator_conversation_id: str
    conversation_id: str
    msisdn: str
    amount: int
    result_code: int
    receipt: str | None
    completed_at: datetime


@dataclass(frozen=True)
class SentCallback:
    url: str
    body: dict[str, Any]
    status: int | None
    answer: dict[str, Any] | None


@dataclass
class FakeDaraja:
    consumer_key: str = CONSUMER_KEY
    consumer_secret: str = CONSUMER_SECRET
    token_lifetime: int = 3599
    hang_seconds: float = 2.0
    late_seconds: float = 0.3
    answer_status_queries: bool = True
    latency: float = 0.0
    requests_per_second: float | None = None
    callback_transport: httpx.AsyncBaseTransport | None = None  # None: real HTTP to ResultURL
    base_url: str = ""
    default: Plan = field(default_factory=Plan)
    payee_names: dict[str, str] = field(default_factory=dict)
    float_cents: int = 5_000_000_000  # KES 50 million: more than any test pays
    lose_balance_callbacks: int = 0
    balance_requests: list[dict[str, Any]] = field(default_factory=list)
    balance_callbacks: list[SentCallback] = field(default_factory=list)
    tokens_issued: int = 0
    b2c_requests: list[dict[str, Any]] = field(default_factory=list)
    status_requests: list[dict[str, Any]] = field(default_factory=list)
    accepted: Counter[str] = field(default_factory=Counter)
    paid: dict[str, Payment] = field(default_factory=dict)
    payments: dict[str, Payment] = field(default_factory=dict)
    callbacks: list[SentCallback] = field(default_factory=list)
    throttled: int = 0
    most_in_flight: int = 0
    _in_flight: int = 0
    _allowance: float = 0.0
    _allowance_at: float = 0.0
    _plans: deque[Plan] = field(default_factory=deque)
    _tokens: set[str] = field(default_factory=set)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _receipts: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self.app = Starlette(
            routes=[
                Route("/oauth/v1/generate", self._token, methods=["GET"]),
                Route("/mpesa/b2c/v3/paymentrequest", self._b2c, methods=["POST"]),
                Route("/mpesa/transactionstatus/v1/query", self._status, methods=["POST"]),
                Route("/mpesa/accountbalance/v1/query", self._balance, methods=["POST"]),
            ]
        )
        self._http = httpx.AsyncClient(timeout=10, transport=self.callback_transport)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[FakeDaraja]:
        async with serving(self.app) as url:
            self.base_url = url
            try:
                yield self
            finally:
                await self.drain()
                await self._http.aclose()

    @contextlib.asynccontextmanager
    async def in_process(self, base_url: str = "http://daraja.test") -> AsyncIterator[FakeDaraja]:
        """Without a socket: a client reaches it through ``httpx.ASGITransport(app=self.app)``
        and its callbacks go through ``callback_transport``."""
        self.base_url = base_url
        try:
            yield self
        finally:
            await self.drain()
            await self._http.aclose()

    # -- what tests arrange ---------------------------------------------------------------------

    def plan(self, *plans: Plan) -> None:
        """What happens to the next requests, one plan each; then ``default``."""
        self._plans.extend(plans)

    def revoke_tokens(self) -> None:
        self._tokens.clear()

    async def drain(self) -> None:
        """Wait until every callback scheduled so far has been delivered."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def callbacks_to(self, suffix: str) -> list[SentCallback]:
        return [c for c in self.callbacks if c.url.split("?")[0].endswith(suffix)]

    # -- OAuth ------------------------------------------------------------------------------

    async def _token(self, request: Request) -> Response:
        expected = base64.b64encode(f"{self.consumer_key}:{self.consumer_secret}".encode())
        if (
            request.query_params.get("grant_type") != "client_credentials"
            or request.headers.get("authorization") != f"Basic {expected.decode()}"
        ):
            return JSONResponse(
                {"errorCode": "400.008.01", "errorMessage": "Invalid Authentication passed"},
                status_code=400,
            )
        token = uuid.uuid4().hex
        self._tokens.add(token)
        self.tokens_issued += 1
        return JSONResponse({"access_token": token, "expires_in": str(self.token_lifetime)})

    def _over_rate(self) -> bool:
        """A token bucket of one second's worth of calls: True when this call is one too many."""
        if self.requests_per_second is None:
            return False
        now = time.monotonic()
        if not self._allowance_at:
            self._allowance = self.requests_per_second
        else:
            elapsed = now - self._allowance_at
            self._allowance = min(
                self.requests_per_second, self._allowance + elapsed * self.requests_per_second
            )
        self._allowance_at = now
        if self._allowance < 1:
            self.throttled += 1
            return True
        self._allowance -= 1
        return False

    @staticmethod
    def _too_many() -> Response:
        return JSONResponse(
            {"errorMessage": "Too many requests"},
            status_code=429,
            headers={"Retry-After": "1"},
        )

    def _authorised(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        return header.startswith("Bearer ") and header.removeprefix("Bearer ") in self._tokens

    @staticmethod
    def _invalid_token() -> Response:
        return JSONResponse(
            {"errorCode": "404.001.04", "errorMessage": "Invalid Access Token"}, status_code=401
        )

    # -- B2C ------------------------------------------------------------------------------------

    async def _b2c(self, request: Request) -> Response:
        self._in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self._in_flight)
        try:
            if self.latency:
                await asyncio.sleep(self.latency)
            return await self._b2c_answer(request)
        finally:
            self._in_flight -= 1

    async def _b2c_answer(self, request: Request) -> Response:
        if self._over_rate():
            return self._too_many()
        if not self._authorised(request):
            return self._invalid_token()
        body = await request.json()
        self.b2c_requests.append(body)
        plan = self._plans.popleft() if self._plans else self.default
        originator = str(body["OriginatorConversationID"])
        if plan.answer is Answer.LOST:
            return JSONResponse({"errorMessage": "Service Unavailable"}, status_code=503)
        if originator in self.payments:
            return JSONResponse(
                {
                    "requestId": uuid.uuid4().hex,
                    "errorCode": "409.001.01",
                    "errorMessage": "Duplicate OriginatorConversationID",
                },
                status_code=409,
            )
        payment = self._process(body, plan.result_code)
        answer = {
            "ConversationID": payment.conversation_id,
            "OriginatorConversationID": originator,
            "ResponseCode": "0",
            "ResponseDescription": "Accept the service request successfully.",
        }
        result = self._result_body(payment, self.payee_names.get(payment.msisdn, ""))
        timeout = self._timeout_body(payment)
        result_url, timeout_url = str(body["ResultURL"]), str(body["QueueTimeOutURL"])
        if plan.callback is Callback.BEFORE:
            await self._post(result_url, result)
        elif plan.callback is Callback.TIMEOUT_THEN_RESULT:
            await self._post(timeout_url, timeout)
            self._later(self.late_seconds, (result_url, result))
        elif plan.callback is not Callback.NEVER:
            delay = self.late_seconds if plan.callback is Callback.LATE else 0.05
            posts = [(result_url, result)]
            if plan.callback is Callback.TWICE:
                posts.append((result_url, result))
            if plan.callback is Callback.RESULT_THEN_TIMEOUT:
                posts.append((timeout_url, timeout))
            self._later(delay, *posts)
        if plan.answer is Answer.HANG:
            await asyncio.sleep(self.hang_seconds)
        if plan.answer is Answer.SERVER_ERROR_AFTER:
            return JSONResponse({"errorMessage": "Internal Server Error"}, status_code=500)
        return JSONResponse(answer)

    def _process(self, body: dict[str, Any], result_code: int) -> Payment:
        originator = str(body["OriginatorConversationID"])
        self.accepted[originator] += 1
        receipt = f"SBX{next(self._receipts):07d}" if result_code == 0 else None
        payment = Payment(
            originator_conversation_id=originator,
            conversation_id=f"AG_{uuid.uuid4().hex[:20]}",
            msisdn=str(body["PartyB"]),
            amount=int(body["Amount"]),
            result_code=result_code,
            receipt=receipt,
            completed_at=datetime.now(UTC),
        )
        self.payments[originator] = payment
        if receipt is not None:
            self.paid[originator] = payment
        return payment

    @staticmethod
    def _result_body(payment: Payment, payee_name: str = "") -> dict[str, Any]:
        result: dict[str, Any] = {
            "ResultType": 0,
            "ResultCode": payment.result_code,
            "ResultDesc": "The service request is processed successfully."
            if payment.result_code == 0
            else f"The request failed with result code {payment.result_code}.",
            "OriginatorConversationID": payment.originator_conversation_id,
            "ConversationID": payment.conversation_id,
            "TransactionID": payment.receipt or "0000000000",
        }
        if payment.receipt is not None:
            result["ResultParameters"] = {
                "ResultParameter": [
                    {"Key": "TransactionAmount", "Value": payment.amount},
                    {"Key": "TransactionReceipt", "Value": payment.receipt},
                    {
                        "Key": "ReceiverPartyPublicName",
                        "Value": f"{payment.msisdn} - {payee_name}"
                        if payee_name
                        else payment.msisdn,
                    },
                    {
                        "Key": "TransactionCompletedDateTime",
                        "Value": payment.completed_at.strftime("%d.%m.%Y %H:%M:%S"),
                    },
                ]
            }
        return {"Result": result}

    @staticmethod
    def _timeout_body(payment: Payment) -> dict[str, Any]:
        return {
            "Result": {
                "ResultType": 1,
                "ResultCode": "1037",
                "ResultDesc": "The request timed out in the queue.",
                "OriginatorConversationID": payment.originator_conversation_id,
                "ConversationID": payment.conversation_id,
                "TransactionID": "",
            }
        }

    # -- transaction status -------------------------------------------------------------------

    async def _status(self, request: Request) -> Response:
        if self.latency:
            await asyncio.sleep(self.latency)
        if self._over_rate():
            return self._too_many()
        if not self._authorised(request):
            return self._invalid_token()
        body = await request.json()
        self.status_requests.append(body)
        originator = str(body.get("OriginalConversationID") or "")
        payment = self.payments.get(originator)
        if payment is None:
            result: dict[str, Any] = {"ResultCode": 1, "ResultDesc": NOT_FOUND_DESC}
        else:
            result = {
                "ResultCode": 0,
                "ResultDesc": "The service request is processed successfully.",
                "ResultParameters": {
                    "ResultParameter": [
                        {"Key": "OriginatorConversationID", "Value": originator},
                        {
                            "Key": "TransactionStatus",
                            "Value": "Completed" if payment.receipt else "Failed",
                        },
                        {"Key": "ReceiptNo", "Value": payment.receipt or ""},
                        {"Key": "Amount", "Value": payment.amount},
                        {"Key": "ReasonType", "Value": "Salary Payment via API"},
                        {"Key": "ResultCode", "Value": payment.result_code},
                    ]
                },
            }
        query_id = f"AG_{uuid.uuid4().hex[:20]}"
        result |= {
            "ResultType": 0,
            "OriginatorConversationID": query_id,
            "ConversationID": query_id,
        }
        if self.answer_status_queries:
            self._later(0.02, (str(body["ResultURL"]), {"Result": result}))
        return JSONResponse(
            {
                "OriginatorConversationID": query_id,
                "ConversationID": query_id,
                "ResponseCode": "0",
                "ResponseDescription": "Accept the service request successfully.",
            }
        )

    # -- account balance ------------------------------------------------------------------------

    def available_cents(self) -> int:
        """The float now: what it started with, less every payment made from it."""
        return self.float_cents - sum(p.amount * 100 for p in self.paid.values())

    async def _balance(self, request: Request) -> Response:
        if self._over_rate():
            return self._too_many()
        if not self._authorised(request):
            return self._invalid_token()
        body = await request.json()
        self.balance_requests.append(body)
        query_id = f"AG_{uuid.uuid4().hex[:20]}"
        available = f"{self.available_cents() / 100:.2f}"
        accounts = "&".join(
            [
                "Working Account|KES|0.00|0.00|0.00|0.00",
                f"Utility Account|KES|{available}|{available}|0.00|0.00",
                "Charges Paid Account|KES|-540.00|-540.00|0.00|0.00",
            ]
        )
        result = {
            "Result": {
                "ResultType": 0,
                "ResultCode": 0,
                "ResultDesc": "The service request is processed successfully.",
                "OriginatorConversationID": query_id,
                "ConversationID": query_id,
                "TransactionID": "OA90000000",
                "ResultParameters": {
                    "ResultParameter": [
                        {"Key": "AccountBalance", "Value": accounts},
                        {"Key": "BOCompletedTime", "Value": 20261208120000},
                    ]
                },
            }
        }
        if self.lose_balance_callbacks > 0:
            self.lose_balance_callbacks -= 1
        else:
            self._later(0.02, (str(body["ResultURL"]), result))
        return JSONResponse(
            {
                "OriginatorConversationID": query_id,
                "ConversationID": query_id,
                "ResponseCode": "0",
                "ResponseDescription": "Accept the service request successfully.",
            }
        )

    # -- callbacks ----------------------------------------------------------------------------

    def _later(self, delay: float, *posts: tuple[str, dict[str, Any]]) -> None:
        async def deliver() -> None:
            await asyncio.sleep(delay)
            for url, body in posts:
                await self._post(url, body)

        task = asyncio.get_running_loop().create_task(deliver())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _post(self, url: str, body: dict[str, Any]) -> None:
        kept = self.balance_callbacks if "/balance/" in url else self.callbacks
        try:
            response = await self._http.post(url, json=body)
        except httpx.HTTPError:
            kept.append(SentCallback(url, body, None, None))
            return
        answer = response.json() if response.content else None
        kept.append(SentCallback(url, body, response.status_code, answer))
