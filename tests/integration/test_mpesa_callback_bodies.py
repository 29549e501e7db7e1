"""M-Pesa callback bodies over HTTP: one over the webhooks' limit is answered 413 and read no
further, however it comes (its length declared, chunked with none, or a length that lies), and
changes nothing; a callback of the usual size still settles its payout."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import func
from sqlmodel import select
from starlette.applications import Starlette
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.payments.routes import mpesa_routes
from bot.request_body import MAX_WEBHOOK_BYTES
from domain import payouts
from domain.model import OutboxMessage, PayoutStatus, Transfer
from domain.store import Store
from tests.conftest import FakeClock
from tests.fakes.server import serving
from tests.integration.mpesa_harness import (
    CALLBACK_TOKEN,
    LateGateway,
    all_payouts,
    approved_batch,
    notifier,
)

PATHS = ("b2c/result", "b2c/timeout", "status/result?originator=x", "status/timeout")
HUGE = 256 * 1024 * 1024  # far more than a server may hold for one request
CHUNK = 64 * 1024


@dataclass
class BytesRead:
    """Counts the body bytes the app asked the server for, request by request."""

    app: ASGIApp
    counts: list[int]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.counts.append(0)
        index = len(self.counts) - 1

        async def counted() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                self.counts[index] += len(message.get("body", b""))
            return message

        await self.app(scope, counted, send)


@dataclass
class Callbacks:
    url: str
    read: list[int]
    originator: str

    def result(self, padding: int = 0) -> dict[str, Any]:
        """A B2C success for our payout; ``padding`` characters make it as big as wanted."""
        body: dict[str, Any] = {
            "Result": {
                "ResultType": 0,
                "ResultCode": 0,
                "ResultDesc": "The service request is processed successfully.",
                "OriginatorConversationID": self.originator,
                "ConversationID": "AG_20260302_1",
                "TransactionID": "RKL51ZDR4F",
            }
        }
        if padding:
            body["Padding"] = "x" * padding
        return body


@pytest.fixture
async def callbacks(store: Store, clock: FakeClock) -> AsyncIterator[Callbacks]:
    await approved_batch(store, clock.now(), [150_000])
    [payout] = await all_payouts(store)
    async with store.transaction() as session:
        # Sent to M-Pesa: its result is awaited.
        await payouts.mark_sending(
            session, originator_conversation_id=payout.originator_conversation_id, now=clock.now()
        )
    read: list[int] = []
    routes = mpesa_routes(
        store,
        gateway=LateGateway(),
        clock=clock.now,
        notify=notifier(),
        callback_token=CALLBACK_TOKEN,
    )
    async with serving(BytesRead(Starlette(routes=routes), read)) as base:
        yield Callbacks(f"{base}/mpesa/{CALLBACK_TOKEN}", read, payout.originator_conversation_id)


async def _state(store: Store) -> tuple[list[PayoutStatus], int, int]:
    async with store.read() as session:
        transfers = (await session.exec(select(func.count()).select_from(Transfer))).one()
        messages = (await session.exec(select(func.count()).select_from(OutboxMessage))).one()
    return [p.status for p in await all_payouts(store)], transfers, messages


async def _endless(sent: list[int]) -> AsyncIterator[bytes]:
    # A body that would take HUGE bytes to hold, counted as it is handed to the connection.
    while sent[0] < HUGE:
        sent[0] += CHUNK
        yield b"x" * CHUNK


@pytest.mark.parametrize("path", PATHS)
async def test_a_callback_over_the_limit_with_its_length_declared_is_refused_unread(
    callbacks: Callbacks, store: Store, path: str
) -> None:
    before = await _state(store)
    body = json.dumps(callbacks.result(padding=4 * MAX_WEBHOOK_BYTES)).encode()

    async with httpx.AsyncClient(trust_env=False) as client:
        response = await client.post(f"{callbacks.url}/{path}", content=body)

    assert response.status_code == 413
    assert callbacks.read == [0]  # refused by its Content-Length, before a byte was read
    assert await _state(store) == before


@pytest.mark.parametrize("path", PATHS)
async def test_a_chunked_callback_with_no_length_is_refused_once_past_the_limit(
    callbacks: Callbacks, store: Store, path: str
) -> None:
    before = await _state(store)
    sent = [0]

    async with httpx.AsyncClient(trust_env=False) as client:
        request = client.build_request("POST", f"{callbacks.url}/{path}", content=_endless(sent))
        assert "content-length" not in request.headers
        response = await client.send(request)

    assert response.status_code == 413
    [read] = callbacks.read
    # The server hands a body over in pieces of up to a few hundred kilobytes; never whole.
    assert MAX_WEBHOOK_BYTES < read <= 8 * MAX_WEBHOOK_BYTES
    assert await _state(store) == before


async def test_a_callback_whose_length_lies_is_refused_by_what_arrives(
    store: Store, clock: FakeClock
) -> None:
    # A real server never hands an app more than the Content-Length it parsed, so the lie is
    # told straight to the app, as a proxy that passed the header on unchecked would tell it.
    await approved_batch(store, clock.now(), [150_000])
    before = await _state(store)
    app = Starlette(
        routes=mpesa_routes(store, gateway=LateGateway(), clock=clock.now, callback_token="")
    )
    sent = [0]

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://karakana"
    ) as client:
        response = await client.post(
            "/mpesa/b2c/result", content=_endless(sent), headers={"Content-Length": "100"}
        )

    assert response.status_code == 413
    assert sent[0] <= MAX_WEBHOOK_BYTES + CHUNK
    assert await _state(store) == before


async def test_a_callback_of_the_usual_size_still_settles_its_payout(
    callbacks: Callbacks, store: Store
) -> None:
    async with httpx.AsyncClient(trust_env=False) as client:
        refused = await client.post(
            f"{callbacks.url}/b2c/result", json=callbacks.result(padding=MAX_WEBHOOK_BYTES)
        )
        settled = await client.post(f"{callbacks.url}/b2c/result", json=callbacks.result())

    assert refused.status_code == 413
    assert settled.status_code == 200
    assert settled.json() == {"ResultCode": 0, "ResultDesc": "settled"}
    assert [p.status for p in await all_payouts(store)] == [PayoutStatus.SUCCEEDED]
