"""Daraja's callbacks: B2C results, queue timeouts, and transaction status answers.

Every callback is answered 200 with Daraja's acknowledgement body, whatever we made of it,
because Daraja keeps retrying anything else; what we made of it is logged and, for tests and
operators, put in ``ResultDesc``. Only a payout we know (by its OriginatorConversationID) is ever
touched, a repeat changes nothing, and a result that arrives before the request's own answer
settles the payout from the stored originator id alone.

Daraja does not sign callbacks. So every callback URL we give Daraja carries a secret path
token (``DarajaConfig.callback_token``); a callback without it, or with another, is answered 404
as if nothing were there, and logged without the token it came with. Beyond that, nothing here
trusts a callback beyond the originator ids we made ourselves (random UUIDs), and a
contradictory result never moves money: it is logged for a person to check with Safaricom. A body
over the webhooks' limit (bot/request_body.py) is answered 413 and read no further.

Routes (mounted under the public base URL given to Daraja; ``<token>`` only when one is set):

- ``POST /mpesa/<token>/b2c/result``      B2C ResultURL
- ``POST /mpesa/<token>/b2c/timeout``     B2C QueueTimeOutURL
- ``POST /mpesa/<token>/status/result``   transaction status ResultURL (``?originator=<id>``)
- ``POST /mpesa/<token>/status/timeout``  transaction status QueueTimeOutURL
- ``POST /mpesa/<token>/balance/result``  Account Balance ResultURL (``?query=<id>``)
- ``POST /mpesa/<token>/balance/timeout`` Account Balance QueueTimeOutURL (``?query=<id>``)
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from bot.payments.daraja import (
    BalanceResult,
    MalformedCallback,
    PaymentState,
    parse_balance_result,
    parse_payment_result,
    parse_status_result,
)
from bot.payments.runner import Applied, Notifier, PaymentGateway, PayoutRunner, no_notifications
from bot.request_body import BodyTooLarge, limited_body
from domain.store import Store

log = logging.getLogger(__name__)


def _ack(what: str) -> JSONResponse:
    return JSONResponse({"ResultCode": 0, "ResultDesc": what})


async def _body(request: Request) -> dict[str, Any] | None:
    raw = await limited_body(request)
    try:
        body = json.loads(raw)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _bounded(path: str, endpoint: Endpoint) -> Endpoint:
    """``endpoint``, answering 413 to a body over the webhooks' limit (read no further)."""

    async def bounded(request: Request) -> Response:
        try:
            return await endpoint(request)
        except BodyTooLarge as exc:
            client = request.client.host if request.client else "?"
            log.warning("M-Pesa %s callback from %s refused: %s", path, client, exc)
            return PlainTextResponse(str(exc), status_code=413)

    return bounded


def mpesa_routes(
    store: Store,
    *,
    gateway: PaymentGateway,
    clock: Callable[[], datetime],
    notify: Notifier = no_notifications,
    callback_token: str = "",
) -> list[BaseRoute]:
    """The callback endpoints. ``gateway`` (the Daraja client) is needed to resend a request
    M-Pesa never got; ``notify`` queues the messages about a settlement in its transaction;
    ``callback_token`` is the secret in the callback URLs (the same as the client's
    ``DarajaConfig.callback_token``)."""
    runner = PayoutRunner(store, gateway, clock=clock, notify=notify)

    async def b2c_result(request: Request) -> JSONResponse:
        body = await _body(request)
        try:
            result = parse_payment_result(body or {})
        except MalformedCallback as exc:
            log.warning("B2C result callback ignored: %s", exc)
            return _ack(f"ignored: {exc}")
        applied = await runner.apply_payment_result(result)
        if applied is Applied.UNKNOWN_ID:
            log.warning(
                "B2C result for unknown OriginatorConversationID %s ignored",
                result.originator_conversation_id,
            )
            return _ack("ignored: unknown OriginatorConversationID")
        return _ack(applied.value)

    async def b2c_timeout(request: Request) -> JSONResponse:
        body = await _body(request)
        try:
            result = parse_payment_result(body or {})
        except MalformedCallback as exc:
            log.warning("B2C queue timeout callback ignored: %s", exc)
            return _ack(f"ignored: {exc}")
        applied = await runner.apply_queue_timeout(result.originator_conversation_id)
        if applied is Applied.UNKNOWN_ID:
            log.warning(
                "B2C queue timeout for unknown OriginatorConversationID %s ignored",
                result.originator_conversation_id,
            )
            return _ack("ignored: unknown OriginatorConversationID")
        return _ack(applied.value)

    async def status_result(request: Request) -> JSONResponse:
        originator = request.query_params.get("originator", "")
        body = await _body(request)
        try:
            status = parse_status_result(body or {})
        except MalformedCallback as exc:
            log.warning("status result callback ignored: %s", exc)
            return _ack(f"ignored: {exc}")
        if not originator:
            return _ack("ignored: no originator in the URL")
        if status.state is PaymentState.MISSING:
            # The resend is a network call: answer Daraja first, then send.
            return JSONResponse(
                {"ResultCode": 0, "ResultDesc": "resending"},
                background=BackgroundTask(runner.apply_status_result, originator, status),
            )
        applied = await runner.apply_status_result(originator, status)
        if applied is Applied.UNKNOWN_ID:
            log.warning("status result for unknown OriginatorConversationID %s ignored", originator)
            return _ack("ignored: unknown OriginatorConversationID")
        return _ack(applied.value)

    async def status_timeout(request: Request) -> JSONResponse:
        await limited_body(request)  # nothing in it is needed, but an oversized one is refused
        # The query itself timed out in M-Pesa's queue; the next in-doubt sweep asks again.
        log.info("status query timed out for %s", request.query_params.get("originator", "?"))
        return _ack("noted")

    def balance_query_id(request: Request) -> int | None:
        text = request.query_params.get("query", "")
        return int(text) if text.isdigit() and len(text) < 12 else None

    async def balance_result(request: Request) -> JSONResponse:
        body = await _body(request)
        query_id = balance_query_id(request)
        try:
            result = parse_balance_result(body or {})
        except MalformedCallback as exc:
            log.warning("balance result callback ignored: %s", exc)
            return _ack(f"ignored: {exc}")
        if query_id is None:
            return _ack("ignored: no query in the URL")
        applied = await runner.apply_balance_result(query_id, result)
        if applied is Applied.UNKNOWN_ID:
            log.warning("balance result for unknown query %s ignored", query_id)
            return _ack("ignored: unknown query")
        return _ack(applied.value)

    async def balance_timeout(request: Request) -> JSONResponse:
        await limited_body(request)
        query_id = balance_query_id(request)
        if query_id is None:
            return _ack("ignored: no query in the URL")
        # The query timed out in M-Pesa's queue: the float stays as last known; the next send
        # run asks again.
        timed_out = BalanceResult(None, -1, "the balance query timed out in M-Pesa's queue")
        applied = await runner.apply_balance_result(query_id, timed_out)
        return _ack("ignored: unknown query" if applied is Applied.UNKNOWN_ID else applied.value)

    endpoints: dict[str, Endpoint] = {
        path: _bounded(path, endpoint)
        for path, endpoint in {
            "b2c/result": b2c_result,
            "b2c/timeout": b2c_timeout,
            "status/result": status_result,
            "status/timeout": status_timeout,
            "balance/result": balance_result,
            "balance/timeout": balance_timeout,
        }.items()
    }
    if not callback_token:
        return [
            Route(f"/mpesa/{path}", endpoint, methods=["POST"])
            for path, endpoint in endpoints.items()
        ]
    expected = callback_token.encode()

    def guarded(path: str, endpoint: Endpoint) -> Endpoint:
        async def checked(request: Request) -> Response:
            given = str(request.path_params.get("token", "")).encode()
            if not hmac.compare_digest(given, expected):
                return _refuse(request, path, "a wrong path token")
            return await endpoint(request)

        return checked

    async def tokenless(request: Request) -> Response:
        return _refuse(request, request.url.path.removeprefix("/mpesa/"), "no path token")

    return [
        *(
            Route(f"/mpesa/{{token}}/{path}", guarded(path, endpoint), methods=["POST"])
            for path, endpoint in endpoints.items()
        ),
        *(Route(f"/mpesa/{path}", tokenless, methods=["POST"]) for path in endpoints),
    ]


Endpoint = Callable[[Request], Awaitable[Response]]


def _refuse(request: Request, path: str, why: str) -> Response:
    # Never the token it came with: a near miss may be the real one mistyped somewhere.
    client = request.client.host if request.client else "?"
    log.warning("M-Pesa %s callback from %s refused: %s", path, client, why)
    return PlainTextResponse("Not Found", status_code=404)
