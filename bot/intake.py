"""Orders coming in over HTTP: retailers' orders API and Shopify's ``orders/create`` webhook.

- ``POST /api/orders``, ``GET /api/orders/{ref}``: ``Authorization: Bearer kk_<id>_<secret>``,
  a per-customer key (``karakana api-keys create``); a customer sees only its own orders.
- ``POST /shop/shopify/orders``: ``X-Shopify-Hmac-Sha256``, the base64 HMAC-SHA256 of the raw
  body with ``SHOPIFY_WEBHOOK_SECRET``; deduplicated on the order id and the webhook id.
- ``GET /api/openapi.json``: open; the description of the routes above.

Bodies are read with ``bot.request_body.limited_body`` (413 beyond it). A wrong key is 401 and a
bad signature 401, before anything is stored. Accepted orders are drafts that raise
``OrderPlaced``; the registry's notices (the admins' Confirm button) are queued in the same
transaction, and the dispatcher woken after it commits.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.openapi import OPENAPI
from bot.request_body import BodyTooLarge, limited_body
from conversations.notices import Notify
from domain import events
from domain.model import Customer
from domain.services.api_keys import authenticate
from domain.services.intake import (
    SHOPIFY,
    BadPayload,
    FieldError,
    Placed,
    ReferenceConflict,
    RequestRejected,
    find_order,
    order_status,
    parse_order_request,
    parse_shopify_order,
    place_api_order,
    place_shopify_order,
    seen_delivery,
)
from domain.store import Store

log = logging.getLogger(__name__)

HMAC_HEADER = "X-Shopify-Hmac-Sha256"
WEBHOOK_ID_HEADER = "X-Shopify-Webhook-Id"
TOPIC_HEADER = "X-Shopify-Topic"


def shopify_signature(secret: str, body: bytes) -> str:
    """What Shopify puts in ``X-Shopify-Hmac-Sha256`` for ``body``."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def shopify_verified(secret: str | None, body: bytes, header: str | None) -> bool:
    """Whether ``header`` is Shopify's signature of the raw ``body``; never without a secret."""
    if not secret or not header:
        return False
    return hmac.compare_digest(shopify_signature(secret, body).encode(), header.strip().encode())


def _problem(status: int, title: str, errors: list[FieldError] | None = None) -> JSONResponse:
    content: dict[str, Any] = {"error": title}
    if errors is not None:
        content["errors"] = [error.as_json() for error in errors]
    return JSONResponse(content, status_code=status)


def intake_routes(
    store: Store,
    *,
    clock: Callable[[], datetime],
    notify: Notify,
    wake: Callable[[], None],
    shopify_secret: str | None,
    shopify_customer: str = "Web shop",
    shopify_lead_days: int = 21,
) -> list[BaseRoute]:
    async def customer_of(request: Request) -> int | None:
        """The id of the customer whose live key the request carries."""
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.casefold() != "bearer" or not token:
            return None
        async with store.read() as session:
            customer = await authenticate(session, token)
            return None if customer is None else customer.id

    def unauthorised() -> JSONResponse:
        log.warning("refused an orders API call: missing or wrong API key")
        return JSONResponse(
            {"error": "a valid API key is needed: Authorization: Bearer <key>"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )

    async def post_order(request: Request) -> Response:
        customer = await customer_of(request)
        if customer is None:
            return unauthorised()
        try:
            body = await limited_body(request)
        except BodyTooLarge as exc:
            return _problem(413, str(exc))
        try:
            data = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return _problem(422, "the body is not JSON", [FieldError("body", str(exc))])
        try:
            wanted = parse_order_request(data)
            placed = await _place_once(customer, wanted)
        except RequestRejected as rejected:
            return _problem(422, "the order was not taken", list(rejected.errors))
        except ReferenceConflict as conflict:
            return _problem(409, str(conflict))
        if placed[1]:
            wake()
        return JSONResponse(placed[0], status_code=201 if placed[1] else 200)

    async def _place_once(customer_id: int, wanted: Any) -> tuple[dict[str, Any], bool]:
        # Two identical requests at once: the second's insert conflicts, and on the second try
        # it finds the first's order.
        for attempt in (1, 2):
            try:
                async with store.transaction() as session:
                    now = clock()
                    customer = await session.get(Customer, customer_id)
                    assert customer is not None
                    placed: Placed = await place_api_order(session, customer, wanted, now=now)
                    status = await order_status(session, placed.order)
                    await notify(session, events.drain(session), now)
                    return status, placed.created
            except IntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def get_order(request: Request) -> Response:
        customer = await customer_of(request)
        if customer is None:
            return unauthorised()
        reference = request.path_params["reference"]
        async with store.read() as session:
            order = await find_order(session, customer, reference)
            if order is None:
                return _problem(404, f"you have no order {reference}")
            return JSONResponse(await order_status(session, order))

    async def openapi(request: Request) -> Response:
        return JSONResponse(OPENAPI)

    async def shopify_order(request: Request) -> Response:
        try:
            body = await limited_body(request)
        except BodyTooLarge as exc:
            return _problem(413, str(exc))
        if not shopify_verified(shopify_secret, body, request.headers.get(HMAC_HEADER)):
            log.warning("refused a Shopify webhook: missing or wrong signature")
            return _problem(401, "the webhook signature does not match")
        topic = request.headers.get(TOPIC_HEADER)
        if topic is not None and topic != "orders/create":
            return Response(status_code=200)  # a topic we do not take: nothing to do
        try:
            shop = parse_shopify_order(json.loads(body))
        except (UnicodeDecodeError, json.JSONDecodeError, BadPayload) as exc:
            return _problem(400, f"not an order: {exc}")
        delivery = request.headers.get(WEBHOOK_ID_HEADER)
        for attempt in (1, 2):
            try:
                async with store.transaction() as session:
                    if await seen_delivery(session, SHOPIFY, delivery):
                        return Response(status_code=200)
                    now = clock()
                    placed = await place_shopify_order(
                        session,
                        shop,
                        customer_name=shopify_customer,
                        delivery_id=delivery,
                        default_lead_days=shopify_lead_days,
                        now=now,
                    )
                    await notify(session, events.drain(session), now)
                break
            except IntegrityError:
                if attempt == 2:
                    raise
        if placed.created:
            wake()
        return JSONResponse({"order": placed.order.id}, status_code=200)

    return [
        Route("/api/orders", post_order, methods=["POST"]),
        Route("/api/orders/{reference}", get_order, methods=["GET"]),
        Route("/api/openapi.json", openapi, methods=["GET"]),
        Route("/shop/shopify/orders", shopify_order, methods=["POST"]),
    ]
