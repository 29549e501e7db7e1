"""Telling customers about their orders: the outbox's senders for the web shop and retailers.

``ShopifySender`` turns a shipped order into a fulfillment through Shopify's Admin API, with its
tracking: it lists the order's fulfillment orders and fulfils the open ones. That makes it safe
to repeat: when a first attempt was taken by Shopify but its answer was lost (the one way the
outbox can send twice, bot/channels/dispatcher.py), the retry finds nothing open, and answers
with the fulfillment already made instead of making another.

``RetailerCallbackSender`` POSTs the JSON of a ``conversations.customers`` notice to the
customer's callback URL, signed ``X-Karakana-Signature: sha256=<hex HMAC-SHA256 of the body with
the customer's callback secret>``, with ``X-Karakana-Event-Id`` for the receiver to drop repeats.

Both answer the dispatcher's way: a 5xx, 429 or network trouble is retried with backoff (then
a dead letter), any other refusal fails at once with the HTTP status recorded.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any

import httpx

from bot.channels.send_errors import SendError, SendFailure
from conversations.customers import customer_of_address
from conversations.messages import Reply
from domain.model import Customer
from domain.store import Store

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Karakana-Signature"
EVENT_ID_HEADER = "X-Karakana-Event-Id"
SHOPIFY_TOKEN_HEADER = "X-Shopify-Access-Token"  # noqa: S105 (a header name)
_OPEN = frozenset({"open", "in_progress"})


def sign_body(secret: str, body: bytes) -> str:
    """The signature header's value for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _refusal(channel: str, response: httpx.Response) -> SendError:
    status = response.status_code
    retryable = status >= 500 or status in (408, 429)
    retry_after = response.headers.get("retry-after", "")
    return SendError(
        f"{channel} answered {status}",
        channel=channel,
        failure=SendFailure.TRANSIENT if retryable else SendFailure.REJECTED,
        code=status,
        retry_after=float(retry_after) if retry_after.isdigit() else None,
    )


def _unreachable(channel: str, exc: Exception) -> SendError:
    return SendError(
        f"{channel} could not be reached: {type(exc).__name__}",
        channel=channel,
        failure=SendFailure.TRANSIENT,
    )


class ShopifySender:
    """The outbox's sender for ``Channel.SHOPIFY``: the address is Shopify's order id."""

    channel = "shopify"

    def __init__(self, *, api_base_url: str, admin_token: str, timeout: float = 10.0) -> None:
        self._base = api_base_url.rstrip("/")
        self._client = httpx.AsyncClient(
            timeout=timeout,
            headers={SHOPIFY_TOKEN_HEADER: admin_token, "Accept": "application/json"},
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        try:
            response = await self._client.request(method, f"{self._base}{path}", json=body)
        except httpx.HTTPError as exc:
            raise _unreachable(self.channel, exc) from exc
        if response.status_code >= 300:
            raise _refusal(self.channel, response)
        return response.json()

    async def send(self, address: str, reply: Reply) -> str:
        news = json.loads(reply.text)
        if not address.isdigit():
            raise SendError(
                "not a Shopify order id", channel=self.channel, failure=SendFailure.BAD_RECIPIENT
            )
        listed = await self._call("GET", f"/orders/{address}/fulfillment_orders.json")
        open_ids = [
            fo["id"] for fo in listed.get("fulfillment_orders", ()) if fo.get("status") in _OPEN
        ]
        if not open_ids:
            # Fulfilled already: by an earlier attempt whose answer was lost, or by hand.
            done = await self._call("GET", f"/orders/{address}/fulfillments.json")
            made = done.get("fulfillments") or []
            if made:
                return str(made[-1]["id"])
            raise SendError(
                f"Shopify order {address} has nothing left to fulfil",
                channel=self.channel,
                failure=SendFailure.REJECTED,
            )
        fulfillment: dict[str, Any] = {
            "line_items_by_fulfillment_order": [{"fulfillment_order_id": i} for i in open_ids],
            "notify_customer": True,
        }
        tracking = {
            key: value
            for key, value in (("number", news.get("tracking")), ("company", news.get("carrier")))
            if value
        }
        if tracking:
            fulfillment["tracking_info"] = tracking
        made = await self._call("POST", "/fulfillments.json", {"fulfillment": fulfillment})
        return str(made["fulfillment"]["id"])


class RetailerCallbackSender:
    """The outbox's sender for ``Channel.RETAILER_CALLBACK``: the address names the customer,
    whose URL and secret are read when sending (a changed URL takes effect at once)."""

    channel = "retailer_callback"

    def __init__(self, store: Store, *, timeout: float = 10.0) -> None:
        self._store = store
        self._client = httpx.AsyncClient(timeout=timeout)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def send(self, address: str, reply: Reply) -> str:
        customer_id = customer_of_address(address)
        async with self._store.read() as session:
            customer = None if customer_id is None else await session.get(Customer, customer_id)
            url, secret = (
                (None, None)
                if customer is None
                else (
                    customer.callback_url,
                    customer.callback_secret,
                )
            )
        if not url or not secret:
            raise SendError(
                "the customer has no callback URL any more",
                channel=self.channel,
                failure=SendFailure.BAD_RECIPIENT,
            )
        body = reply.text.encode()
        event_id = str(json.loads(reply.text).get("event_id", ""))
        try:
            response = await self._client.post(
                url,
                content=body,
                headers={
                    "Content-Type": "application/json",
                    SIGNATURE_HEADER: sign_body(secret, body),
                    EVENT_ID_HEADER: event_id,
                },
            )
        except httpx.HTTPError as exc:
            raise _unreachable(self.channel, exc) from exc
        if response.status_code >= 300:
            raise _refusal(self.channel, response)
        return event_id or str(response.status_code)
