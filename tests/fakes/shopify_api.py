"""A fake Shopify Admin API (REST): an order's fulfillment orders, and fulfillments made from them.

Like the real one, ``GET /orders/{id}/fulfillment_orders.json`` lists an order's fulfillment
orders (``open`` until fulfilled, then ``closed``), ``POST /fulfillments.json`` fulfils the ones
named in ``line_items_by_fulfillment_order`` with the ``tracking_info`` given (422 when one is not
open any more), and ``GET /orders/{id}/fulfillments.json`` lists what was made. Every call needs
``X-Shopify-Access-Token``.

Tests script failures of the next fulfillment requests with ``fail_next``: ``Failure.BEFORE``
answers 500 having done nothing; ``Failure.AFTER`` makes the fulfillment and then answers 500,
as when the answer is lost on the way back. ``fulfillments`` is the truth: what Shopify holds.
"""

from __future__ import annotations

import contextlib
import itertools
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.server import serving

ADMIN_TOKEN = "shpat_fake_admin_token_0123456789"
API_VERSION = "2025-01"


class Failure(StrEnum):
    BEFORE = "before"
    AFTER = "after"


@dataclass
class FulfillmentOrder:
    id: int
    order_id: int
    line_items: list[dict[str, Any]]
    status: str = "open"

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "shop_id": 548380009,
            "order_id": self.order_id,
            "assigned_location_id": 24826418,
            "request_status": "unsubmitted",
            "status": self.status,
            "supported_actions": ["create_fulfillment"] if self.status == "open" else [],
            "line_items": self.line_items,
        }


@dataclass
class FakeShopify:
    token: str = ADMIN_TOKEN
    base_url: str = ""
    fulfillment_orders: dict[int, list[FulfillmentOrder]] = field(default_factory=dict)
    fulfillments: list[dict[str, Any]] = field(default_factory=list)
    fulfillment_requests: int = 0
    fail_next: deque[Failure] = field(default_factory=deque)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1046000800))

    @property
    def api_base_url(self) -> str:
        """What ``SHOPIFY_API_BASE_URL`` is set to."""
        return f"{self.base_url}/admin/api/{API_VERSION}"

    def add_order(self, order_id: int, quantities: dict[int, int]) -> None:
        """An order Shopify holds, with one open fulfillment order for its line items."""
        line_items = [
            {
                "id": next(self._ids),
                "shop_id": 548380009,
                "fulfillment_order_id": 0,
                "line_item_id": line_item_id,
                "quantity": quantity,
                "fulfillable_quantity": quantity,
            }
            for line_item_id, quantity in quantities.items()
        ]
        fo = FulfillmentOrder(next(self._ids), order_id, line_items)
        for item in line_items:
            item["fulfillment_order_id"] = fo.id
        self.fulfillment_orders.setdefault(order_id, []).append(fo)

    def for_order(self, order_id: int) -> list[dict[str, Any]]:
        return [f for f in self.fulfillments if f["order_id"] == order_id]

    def _authorised(self, request: Request) -> bool:
        return request.headers.get("x-shopify-access-token") == self.token

    async def _list_fulfillment_orders(self, request: Request) -> Response:
        if not self._authorised(request):
            return JSONResponse({"errors": "[API] Invalid API key or access token"}, 401)
        order_id = int(request.path_params["order_id"])
        if order_id not in self.fulfillment_orders:
            return JSONResponse({"errors": "Not Found"}, 404)
        return JSONResponse(
            {"fulfillment_orders": [fo.as_json() for fo in self.fulfillment_orders[order_id]]}
        )

    async def _list_fulfillments(self, request: Request) -> Response:
        if not self._authorised(request):
            return JSONResponse({"errors": "[API] Invalid API key or access token"}, 401)
        return JSONResponse({"fulfillments": self.for_order(int(request.path_params["order_id"]))})

    async def _create_fulfillment(self, request: Request) -> Response:
        if not self._authorised(request):
            return JSONResponse({"errors": "[API] Invalid API key or access token"}, 401)
        self.fulfillment_requests += 1
        failure = self.fail_next.popleft() if self.fail_next else None
        if failure is Failure.BEFORE:
            return JSONResponse({"errors": "Internal Server Error"}, 500)
        wanted = (await request.json())["fulfillment"]
        by_id = {fo.id: fo for fos in self.fulfillment_orders.values() for fo in fos}
        chosen = []
        for item in wanted["line_items_by_fulfillment_order"]:
            fo = by_id.get(item["fulfillment_order_id"])
            if fo is None or fo.status != "open":
                return JSONResponse(
                    {"errors": ["Fulfillment order has an unfulfillable status= closed."]}, 422
                )
            chosen.append(fo)
        tracking = wanted.get("tracking_info") or {}
        made = {
            "id": next(self._ids),
            "order_id": chosen[0].order_id,
            "status": "success",
            "tracking_company": tracking.get("company"),
            "tracking_number": tracking.get("number"),
            "tracking_numbers": [tracking["number"]] if tracking.get("number") else [],
            "notify_customer": bool(wanted.get("notify_customer")),
            "line_items": [item for fo in chosen for item in fo.line_items],
        }
        for fo in chosen:
            fo.status = "closed"
        self.fulfillments.append(made)
        if failure is Failure.AFTER:
            return JSONResponse({"errors": "Internal Server Error"}, 500)
        return JSONResponse({"fulfillment": made}, 201)

    def app(self) -> Starlette:
        prefix = f"/admin/api/{API_VERSION}"
        return Starlette(
            routes=[
                Route(
                    prefix + "/orders/{order_id}/fulfillment_orders.json",
                    self._list_fulfillment_orders,
                    methods=["GET"],
                ),
                Route(
                    prefix + "/orders/{order_id}/fulfillments.json",
                    self._list_fulfillments,
                    methods=["GET"],
                ),
                Route(prefix + "/fulfillments.json", self._create_fulfillment, methods=["POST"]),
            ]
        )

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[FakeShopify]:
        async with serving(self.app()) as url:
            self.base_url = url
            yield self


@dataclass
class CallbackReceiver:
    """A retailer's server on loopback, taking our order news: every request as received."""

    base_url: str = ""
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    fail_next: int = 0  # answer 503 to this many requests first

    async def _receive(self, request: Request) -> Response:
        body = await request.body()
        if self.fail_next:
            self.fail_next -= 1
            return Response(status_code=503)
        self.received.append((dict(request.headers), body))
        return Response(status_code=204)

    @property
    def url(self) -> str:
        return f"{self.base_url}/karakana/orders"

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[CallbackReceiver]:
        app = Starlette(routes=[Route("/karakana/orders", self._receive, methods=["POST"])])
        async with serving(app) as url:
            self.base_url = url
            yield self
