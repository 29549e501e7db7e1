"""Orders in from the web shop and retailers, and the customer hearing back, over real HTTP:
Karakana as ``karakana run`` wires it (bot.main.build_bot on uvicorn), with the fake Telegram
for the admin, a fake Shopify Admin API and a retailer's callback server, all on loopback."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from bot.intake import HMAC_HEADER, WEBHOOK_ID_HEADER, shopify_signature
from conversations.i18n import t
from domain import events
from domain.model import (
    Channel,
    CustomerKind,
    Order,
    OrderStatus,
    OutboxMessage,
    OutboxStatus,
    Role,
)
from domain.services import api_keys, deliveries, work
from domain.services.orders import get_or_create_customer, jobs_of_order, order_lines
from domain.services.people import add_person
from domain.store import Store
from domain.text import quoted
from tests.e2e.harness import Running, eventually, running_karakana, settle
from tests.fakes.shopify_api import CallbackReceiver, Failure, FakeShopify
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.twilio_api import FakeTwilio
from tests.integration.factory_fixtures import (
    accepted_offer,
    active_artisan,
    arranged_drop_off,
    ident,
    stock_catalogue,
    submitted_work,
)

SECRET = "shopify-webhook-secret-for-e2e-tests"
ADMIN_CHAT = 7301
PAYLOAD = Path(__file__).parents[1] / "fakes" / "shopify_payloads" / "orders_create.json"
SHOP_ORDER_ID = 820982911946154508


@dataclass
class Shop:
    k: Running
    shopify: FakeShopify
    receiver: CallbackReceiver

    async def webhook(
        self, body: bytes, *, webhook_id: str, signature: str | None = "computed"
    ) -> httpx.Response:
        headers = {
            WEBHOOK_ID_HEADER: webhook_id,
            "X-Shopify-Topic": "orders/create",
            "Content-Type": "application/json",
        }
        if signature is not None:
            headers[HMAC_HEADER] = (
                shopify_signature(SECRET, body) if signature == "computed" else signature
            )
        async with httpx.AsyncClient(trust_env=False) as client:
            return await client.post(
                f"{self.k.url}/shop/shopify/orders", content=body, headers=headers
            )

    async def orders(self) -> list[tuple[int, str, OrderStatus]]:
        async with self.k.store.read() as session:
            rows = await session.exec(select(Order).order_by(col(Order.id)))
            return [(o.id or 0, o.reference, o.status) for o in rows]

    def admin_messages(self) -> list[dict[str, Any]]:
        return [
            m
            for m in self.k.telegram.sent("sendMessage")
            if str(m.get("chat_id")) == str(ADMIN_CHAT)
        ]

    async def admin_says(self, text: str) -> None:
        response = await self.k.telegram_update(self.k.telegram.text_update(ADMIN_CHAT, text))
        assert response.status_code == 200

    async def press(self, message: dict[str, Any]) -> None:
        [[button]] = message["reply_markup"]["inline_keyboard"]
        update = self.k.telegram.callback_update(ADMIN_CHAT, button["callback_data"])
        assert (await self.k.telegram_update(update)).status_code == 200

    async def assembled(self, order_id: int) -> None:
        """Every piece of the order is made, passed by QC and counted in at the workshop (set up
        in the store: not what these tests are about), then the admin assembles each line with
        ``/assemble`` in chat, and is told the order is ready to ship."""
        now = datetime.now(UTC)
        async with self.k.store.transaction() as s:
            agent = ident(
                await add_person(
                    s,
                    role=Role.FIELD_AGENT,
                    name="Kamau",
                    channel=Channel.TELEGRAM,
                    address="7302",
                    areas=["Kibera"],
                    now=now,
                )
            )
            maker = ident(
                await active_artisan(
                    s, verified_by=agent, now=now, name="Otieno", channel=Channel.TELEGRAM
                )
            )
            for job in await jobs_of_order(s, order_id):
                lot = ident(
                    await accepted_offer(
                        s, job_id=ident(job), artisan_id=maker, quantity=job.quantity, now=now
                    )
                )
                made = await submitted_work(
                    s, allocation_id=lot, artisan_id=maker, count=job.quantity, now=now
                )
                await work.review_submission(
                    s,
                    submission_id=ident(made),
                    reviewer_id=agent,
                    passed=job.quantity,
                    rejected=0,
                    reasons=[],
                    now=now,
                )
                drop = await arranged_drop_off(
                    s, allocation_id=lot, artisan_id=maker, quantity=job.quantity, now=now
                )
                await deliveries.record_receipt(
                    s,
                    delivery_id=ident(drop),
                    receiver_id=agent,
                    received_quantity=job.quantity,
                    now=now,
                )
            lines = [ident(line) for line, _ in await order_lines(s, order_id)]
            order = await s.get(Order, order_id)
            assert order is not None
            reference = order.reference
            events.drain(s)  # the making of it is told to nobody here
        for line in lines:
            await self.admin_says(f"/assemble {line}")
        # The admin assembling the last line is answered with the Ship button (no notice).
        ready = t("en", "polish.order_complete_ship", id=order_id, order=quoted(reference))
        await eventually(lambda: [m for m in self.admin_messages() if ready in m["text"]])
        async with self.k.store.read() as s:
            order = await s.get(Order, order_id)
            assert order is not None
            assert order.status is OrderStatus.READY

    async def sent_on(self, channel: Channel) -> list[OutboxMessage]:
        async with self.k.store.read() as session:
            rows = list(
                await session.exec(
                    select(OutboxMessage)
                    .where(OutboxMessage.channel == channel)
                    .order_by(col(OutboxMessage.id))
                )
            )
            session.expunge_all()
        return rows if rows and all(m.status is OutboxStatus.SENT for m in rows) else []


@pytest.fixture
async def shop(
    store: Store, tmp_path: Path, twilio: FakeTwilio, telegram: FakeTelegram
) -> AsyncIterator[Shop]:
    async with (
        FakeShopify().running() as shopify,
        CallbackReceiver().running() as receiver,
        running_karakana(
            store,
            tmp_path,
            twilio,
            telegram,
            extra_settings={
                "shopify_webhook_secret": SECRET,
                "shopify_api_base_url": shopify.api_base_url,
                "shopify_admin_token": shopify.token,
            },
        ) as k,
    ):
        async with store.transaction() as session:
            await stock_catalogue(session)
        await k.add_staff(
            "Achieng", channel=Channel.TELEGRAM, address=str(ADMIN_CHAT), role=Role.ADMIN
        )
        yield Shop(k, shopify, receiver)


async def test_a_signed_shopify_order_is_a_draft_and_the_admin_is_asked_with_a_confirm_button(
    shop: Shop,
) -> None:
    answer = await shop.webhook(PAYLOAD.read_bytes(), webhook_id="b54557e4-0001")

    assert answer.status_code == 200
    [(order_id, reference, status)] = await shop.orders()
    assert (reference, status) == ("#9999", OrderStatus.DRAFT)
    [message] = await eventually(shop.admin_messages)
    assert "#9999" in message["text"]
    assert "IPOD2008PINK" in message["text"]  # the unknown SKU, named
    [[button]] = message["reply_markup"]["inline_keyboard"]
    assert button["text"] == f"Confirm order {order_id}"

    await shop.press(message)

    assert await eventually(lambda: _confirmed(shop, order_id))


async def _confirmed(shop: Shop, order_id: int) -> bool:
    return any(o == order_id and s is OrderStatus.CONFIRMED for o, _, s in await shop.orders())


@pytest.mark.parametrize("signature", [None, "forged", "computed-replay"])
async def test_an_unsigned_forged_or_replayed_webhook_changes_nothing(
    shop: Shop, signature: str | None
) -> None:
    body = PAYLOAD.read_bytes()
    if signature == "computed-replay":
        assert (await shop.webhook(body, webhook_id="b54557e4-0002")).status_code == 200
        await eventually(shop.admin_messages)
        before = await shop.orders()
        replay = await shop.webhook(body, webhook_id="b54557e4-0002")
        again = await shop.webhook(body, webhook_id="b54557e4-0003")  # same order, new delivery
        assert (replay.status_code, again.status_code) == (200, 200)
    else:
        before = await shop.orders()
        header = None if signature is None else shopify_signature("not-our-secret", body)
        answer = await shop.webhook(body, webhook_id="b54557e4-0004", signature=header)
        assert answer.status_code == 401
    await settle()
    assert await shop.orders() == before
    assert len(shop.admin_messages()) == (1 if signature == "computed-replay" else 0)


async def test_a_wrong_api_key_is_401_and_nothing_is_stored(shop: Shop) -> None:
    async with httpx.AsyncClient(trust_env=False) as client:
        answer = await client.post(
            f"{shop.k.url}/api/orders",
            json={"reference": "PO-1", "due_date": "2099-01-01", "lines": []},
            headers={"Authorization": "Bearer kk_0123456789ab_" + "A" * 43},
        )
        spec = await client.get(f"{shop.k.url}/api/openapi.json")
    assert answer.status_code == 401
    assert await shop.orders() == []
    assert spec.status_code == 200
    assert spec.json() == json.loads(
        (Path(__file__).parents[2] / "docs" / "openapi.json").read_text()
    )


async def test_a_shipped_shopify_order_is_fulfilled_on_shopify_once_though_the_first_answer_is_lost(
    shop: Shop,
) -> None:
    shop.shopify.add_order(SHOP_ORDER_ID, {866550311766439020: 2, 141249953214522974: 1})
    shop.shopify.fail_next.append(Failure.AFTER)  # Shopify makes it, then the answer is lost
    await shop.webhook(PAYLOAD.read_bytes(), webhook_id="b54557e4-0005")
    [(order_id, _, _)] = await shop.orders()
    await shop.admin_says(f"/confirm {order_id}")
    await eventually(lambda: _confirmed(shop, order_id))
    await shop.assembled(order_id)

    await shop.admin_says(f"/ship {order_id} G4S KE123456")

    [sent] = await eventually(lambda: shop.sent_on(Channel.SHOPIFY))
    assert sent.attempts == 2
    [fulfillment] = shop.shopify.fulfillments
    assert sent.provider_message_id == str(fulfillment["id"])
    assert fulfillment["order_id"] == SHOP_ORDER_ID
    assert (fulfillment["tracking_company"], fulfillment["tracking_number"]) == ("G4S", "KE123456")
    assert shop.shopify.fulfillment_requests == 1  # the retry saw it made and asked no more
    await settle()
    assert len(shop.shopify.fulfillments) == 1


async def test_a_shipped_shopify_order_is_fulfilled_once_when_shopify_fails_the_first_try(
    shop: Shop,
) -> None:
    shop.shopify.add_order(SHOP_ORDER_ID, {866550311766439020: 2})
    shop.shopify.fail_next.append(Failure.BEFORE)
    await shop.webhook(PAYLOAD.read_bytes(), webhook_id="b54557e4-0006")
    [(order_id, _, _)] = await shop.orders()
    await shop.admin_says(f"/confirm {order_id}")
    await eventually(lambda: _confirmed(shop, order_id))
    await shop.assembled(order_id)

    await shop.admin_says(f"/ship {order_id} G4S KE777")

    [sent] = await eventually(lambda: shop.sent_on(Channel.SHOPIFY))
    assert sent.attempts == 2
    assert shop.shopify.fulfillment_requests == 2
    [fulfillment] = shop.shopify.fulfillments
    assert fulfillment["tracking_number"] == "KE777"


async def test_a_retailers_order_news_is_posted_signed_once_to_its_callback(shop: Shop) -> None:
    async with shop.k.store.transaction() as session:
        await get_or_create_customer(
            session, name="Maasai Market Crafts", kind=CustomerKind.RETAILER
        )
        key = await api_keys.create_key(
            session, customer_name="Maasai Market Crafts", now=datetime.now(UTC)
        )
        _, secret = await api_keys.set_callback(
            session, customer_name="Maasai Market Crafts", url=shop.receiver.url
        )
    shop.receiver.fail_next = 1  # the retailer's server is down for the first try
    async with httpx.AsyncClient(trust_env=False) as client:
        placed = await client.post(
            f"{shop.k.url}/api/orders",
            json={
                "reference": "PO-2027-001",
                "due_date": "2099-01-31",
                "lines": [{"sku": "NECKLACE-HORN", "quantity": 5}],
            },
            headers={"Authorization": f"Bearer {key.token}"},
        )
    assert placed.status_code == 201
    order_id = placed.json()["id"]
    [message] = await eventually(shop.admin_messages)
    await shop.press(message)

    [sent] = await eventually(lambda: shop.sent_on(Channel.RETAILER_CALLBACK))
    assert sent.attempts == 2
    [(headers, body)] = shop.receiver.received
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert headers["x-karakana-signature"] == expected
    assert headers["x-karakana-event-id"] == f"order-{order_id}-confirmed"
    news = json.loads(body)
    assert news["event"] == "order.confirmed"
    assert news["order"]["reference"] == "PO-2027-001"
    assert news["order"]["status"] == "confirmed"
    await settle()
    assert len(shop.receiver.received) == 1
