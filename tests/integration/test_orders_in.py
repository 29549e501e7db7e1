"""Orders in by machine: the retailers' API and Shopify's orders/create webhook, over the real
Starlette routes (in process), with the admins' notices and the customers' outbox rows read back
from the database; the Confirm button pressed through the conversation engine."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import col, func, select
from starlette.applications import Starlette

from bot.intake import HMAC_HEADER, WEBHOOK_ID_HEADER, intake_routes, shopify_signature
from conversations.customers import callback_address
from conversations.i18n import default_catalogue
from conversations.messages import Reply
from conversations.registry import REGISTRY
from domain import events
from domain.model import (
    Channel,
    Customer,
    CustomerKind,
    Order,
    OrderStatus,
    OutboxMessage,
    Product,
)
from domain.services import api_keys
from domain.services.orders import get_or_create_customer
from tests.integration.factory_fixtures import Floor, days_from, retailer

SECRET = "shopify-webhook-secret-for-tests"
PAYLOAD = Path(__file__).parents[1] / "fakes" / "shopify_payloads" / "orders_create.json"


@dataclass
class Api:
    floor: Floor
    client: httpx.AsyncClient
    key: str
    other_key: str

    async def post(self, body: Any, *, key: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key or self.key}"}
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return await self.client.post("/api/orders", content=content, headers=headers)

    async def shopify(
        self, payload: dict[str, Any], *, webhook_id: str, signature: str | None = "computed"
    ) -> httpx.Response:
        body = json.dumps(payload).encode()
        headers = {WEBHOOK_ID_HEADER: webhook_id, "X-Shopify-Topic": "orders/create"}
        if signature is not None:
            headers[HMAC_HEADER] = (
                shopify_signature(SECRET, body) if signature == "computed" else signature
            )
        return await self.client.post("/shop/shopify/orders", content=body, headers=headers)

    async def orders(self) -> list[Order]:
        async with self.floor.store.read() as session:
            found = list(await session.exec(select(Order).order_by(col(Order.id))))
            session.expunge_all()  # kept as read: the snapshot is rolled back when it closes
            return found

    async def admin_told(self) -> list[Reply]:
        return await self.floor.told(self.floor.chat("admin"))

    async def outbox_on(self, channel: Channel) -> list[OutboxMessage]:
        async with self.floor.store.read() as session:
            rows = await session.exec(
                select(OutboxMessage)
                .where(OutboxMessage.channel == channel)
                .order_by(col(OutboxMessage.id))
            )
            found = list(rows)
            session.expunge_all()
            return found


@pytest.fixture
async def api(floor: Floor) -> AsyncIterator[Api]:
    async with floor.store.transaction() as session:
        shop = await retailer(session)
        key = await api_keys.create_key(session, customer_name=shop.name, now=floor.clock.now())
        await get_or_create_customer(session, name="Nyali Gifts", kind=CustomerKind.RETAILER)
        other = await api_keys.create_key(
            session, customer_name="Nyali Gifts", now=floor.clock.now()
        )
    app = Starlette(
        routes=intake_routes(
            floor.store,
            clock=floor.clock.now,
            notify=REGISTRY.notifier(default_catalogue()),
            wake=lambda: None,
            shopify_secret=SECRET,
        )
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://karakana.test") as client:
        yield Api(floor, client, key.token, other.token)


def _order(api: Api, reference: str = "PO-API-1", **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "reference": reference,
        "due_date": days_from(api.floor.clock, 28).isoformat(),
        "lines": [
            {"sku": "NECKLACE-HORN", "quantity": 12},
            {"sku": "BANGLE-BRASS", "quantity": 4, "unit_price_kes": "950.00"},
        ],
    }
    return body | changes


# --- the retailers' API --------------------------------------------------------------------------


async def test_a_retailers_order_is_a_draft_and_every_admin_is_asked_to_confirm_it(
    api: Api,
) -> None:
    answer = await api.post(_order(api))

    assert answer.status_code == 201
    placed = answer.json()
    assert placed["status"] == "draft"
    assert placed["lines"] == [
        {"sku": "NECKLACE-HORN", "quantity": 12},
        {"sku": "BANGLE-BRASS", "quantity": 4},
    ]
    told = await api.admin_told()
    assert len(told) == 1
    assert "PO-API-1" in told[0].text
    assert "16 pieces" in told[0].text
    assert [choice.payload for choice in told[0].choices] == [f"confirm:{placed['id']}"]


async def test_the_same_order_sent_again_is_the_same_order_answered_200_and_told_once(
    api: Api,
) -> None:
    first = await api.post(_order(api))
    again = await api.post(_order(api))

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert len([o for o in await api.orders() if o.reference == "PO-API-1"]) == 1
    assert len(await api.admin_told()) == 1


async def test_a_different_order_under_a_used_reference_is_a_conflict_and_changes_nothing(
    api: Api,
) -> None:
    await api.post(_order(api))
    changed = _order(api, lines=[{"sku": "NECKLACE-HORN", "quantity": 13}])

    answer = await api.post(changed)

    assert answer.status_code == 409
    assert "PO-API-1" in answer.json()["error"]
    [order] = [o for o in await api.orders() if o.reference == "PO-API-1"]
    async with api.floor.store.read() as session:
        from domain.services.orders import order_lines

        quantities = {p.sku: line.quantity for line, p in await order_lines(session, order.id or 0)}
    assert quantities == {"NECKLACE-HORN": 12, "BANGLE-BRASS": 4}


async def test_every_bad_line_is_named_in_its_place_and_nothing_is_stored(api: Api) -> None:
    before = await api.orders()
    answer = await api.post(
        _order(
            api,
            due_date="2020-01-01",
            lines=[
                {"sku": "NECKLACE-HORN", "quantity": 2},
                {"sku": "NO-SUCH-THING", "quantity": 1},
                {"sku": "BANGLE-BRASS", "quantity": 100_001},
                {"sku": "NECKLACE-HORN", "quantity": 1},
            ],
        )
    )

    assert answer.status_code == 422
    errors = answer.json()["errors"]
    assert {error["field"] for error in errors} == {"lines[2].quantity", "lines[3].sku"}
    assert all(error["reason"] for error in errors)
    assert await api.orders() == before
    assert await api.admin_told() == []


async def test_the_catalogue_and_the_date_are_checked_line_by_line_too(api: Api) -> None:
    answer = await api.post(
        _order(
            api,
            due_date="2020-01-01",
            lines=[
                {"sku": "NECKLACE-HORN", "quantity": 2},
                {"sku": "NO-SUCH-THING", "quantity": 1},
                {"sku": "BANGLE-BRASS", "quantity": 90_000},
            ],
        )
    )

    assert answer.status_code == 422
    fields = [error["field"] for error in answer.json()["errors"]]
    assert fields[0] == "due_date"
    assert "lines[1].sku" in fields
    assert "lines[2].quantity" in fields  # 90,000 bangles pay more than one job may


async def test_a_body_that_is_not_json_is_422_and_one_over_the_limit_is_413(api: Api) -> None:
    assert (await api.post(b"reference=PO-1")).status_code == 422
    assert (await api.post(b"[" * 70_000)).status_code == 413
    assert await api.admin_told() == []


@pytest.mark.parametrize(
    "key",
    [
        "",
        "kk_000000000000_" + "A" * 43,
        "not a key at all",
    ],
)
async def test_a_missing_or_wrong_key_is_401_and_nothing_is_stored(api: Api, key: str) -> None:
    before = await api.orders()
    answer = await api.client.post(
        "/api/orders",
        content=json.dumps(_order(api)).encode(),
        headers={"Authorization": f"Bearer {key}"} if key else {},
    )
    assert answer.status_code == 401
    assert await api.orders() == before


async def test_a_key_with_a_wrong_secret_or_revoked_is_refused(api: Api) -> None:
    key_id = api.key.split("_")[1]
    forged = f"kk_{key_id}_" + "B" * 43
    assert (await api.post(_order(api), key=forged)).status_code == 401
    async with api.floor.store.transaction() as session:
        await api_keys.revoke_key(session, key_id, now=api.floor.clock.now())
    assert (await api.post(_order(api))).status_code == 401
    assert (await api.client.get("/api/orders/PO-API-1")).status_code == 401


async def test_a_retailer_sees_its_own_orders_only(api: Api) -> None:
    await api.post(_order(api))

    own = await api.client.get(
        "/api/orders/PO-API-1", headers={"Authorization": f"Bearer {api.key}"}
    )
    theirs = await api.client.get(
        "/api/orders/PO-API-1", headers={"Authorization": f"Bearer {api.other_key}"}
    )

    assert own.status_code == 200
    assert own.json()["status"] == "draft"
    assert theirs.status_code == 404


async def test_the_confirm_button_confirms_the_order_and_a_retailer_with_a_callback_hears_it(
    api: Api,
) -> None:
    async with api.floor.store.transaction() as session:
        shop = await retailer(session)
        shop_id = shop.id
        await api_keys.set_callback(
            session, customer_name=shop.name, url="https://retailer.example/hooks/karakana"
        )
    placed = (await api.post(_order(api))).json()
    [button] = (await api.admin_told())[0].choices

    replies = await api.floor.chat("admin").send(payload=button.payload)

    assert any(f"{placed['id']}" in reply.text for reply in replies)
    [status] = [o.status for o in await api.orders() if o.id == placed["id"]]
    assert status is OrderStatus.CONFIRMED
    [callback] = await api.outbox_on(Channel.RETAILER_CALLBACK)
    news = json.loads(Reply.from_json(callback.body).text)
    assert callback.address == callback_address(shop_id or 0)
    assert news["event"] == "order.confirmed"
    assert news["event_id"] == f"order-{placed['id']}-confirmed"
    assert news["order"]["reference"] == "PO-API-1"
    assert news["expected_date"] == placed["due_date"]


async def test_a_retailer_without_a_callback_url_is_queued_nothing(api: Api) -> None:
    placed = (await api.post(_order(api))).json()
    await api.floor.chat("admin").send(payload=f"confirm:{placed['id']}")

    assert await api.outbox_on(Channel.RETAILER_CALLBACK) == []
    answer = await api.client.get(
        "/api/orders/PO-API-1", headers={"Authorization": f"Bearer {api.key}"}
    )
    assert answer.json()["status"] == "confirmed"


# --- Shopify ------------------------------------------------------------------------------------


def _shopify_payload() -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(PAYLOAD.read_text())
    return payload


async def test_a_signed_shopify_order_with_an_unknown_sku_is_a_draft_and_admins_are_told_why(
    api: Api,
) -> None:
    answer = await api.shopify(_shopify_payload(), webhook_id="b54557e4-1")

    assert answer.status_code == 200
    order = next(o for o in await api.orders() if o.reference == "#9999")
    assert order.status is OrderStatus.DRAFT
    assert order.due_date.isoformat() == "2027-02-15"
    [told] = await api.admin_told()
    assert "IPOD2008PINK" in told.text
    assert [choice.payload for choice in told.choices] == [f"confirm:{order.id}"]
    async with api.floor.store.read() as session:
        customer = await session.get(Customer, order.customer_id)
        assert customer is not None
        assert customer.kind is CustomerKind.WEB_SHOP


async def test_a_shopify_order_delivered_again_or_under_a_new_webhook_id_makes_one_order(
    api: Api,
) -> None:
    before = len(await api.orders())
    for webhook_id in ("b54557e4-1", "b54557e4-1", "b54557e4-2"):
        assert (await api.shopify(_shopify_payload(), webhook_id=webhook_id)).status_code == 200

    assert len(await api.orders()) == before + 1
    assert len(await api.admin_told()) == 1


@pytest.mark.parametrize("signature", [None, "", "bm90IHRoZSBzaWduYXR1cmU="])
async def test_an_unsigned_or_forged_shopify_webhook_is_401_and_stores_nothing(
    api: Api, signature: str | None
) -> None:
    before = await api.orders()
    answer = await api.shopify(_shopify_payload(), webhook_id="b54557e4-9", signature=signature)

    assert answer.status_code == 401
    assert await api.orders() == before
    assert await api.admin_told() == []


async def test_a_product_without_a_bill_of_materials_and_a_past_date_are_named_on_the_draft(
    api: Api,
) -> None:
    async with api.floor.store.transaction() as session:
        session.add(
            Product(
                sku="EARRING-NEW",
                name="New earrings",
                wholesale_price_cents=50_000,
                retail_price_cents=90_000,
                assembly_days=1,
            )
        )
    payload = _shopify_payload()
    payload["id"] = 450789469
    payload["name"] = "#1001"
    payload["note_attributes"] = [{"name": "delivery_date", "value": "2020-01-01"}]
    payload["line_items"] = [payload["line_items"][0] | {"sku": "EARRING-NEW", "quantity": 3}]

    assert (await api.shopify(payload, webhook_id="c1")).status_code == 200

    [told] = await api.admin_told()
    assert "EARRING-NEW has no bill of materials" in told.text
    assert "2020-01-01" in told.text
    async with api.floor.store.read() as session:
        drafts = await session.exec(
            select(func.count()).select_from(Order).where(Order.reference == "#1001")
        )
        assert drafts.one() == 1


async def test_a_retailer_hears_its_order_is_ready_with_the_expected_date_and_then_shipped(
    api: Api,
) -> None:
    async with api.floor.store.transaction() as session:
        shop = await retailer(session)
        await api_keys.set_callback(
            session, customer_name=shop.name, url="https://retailer.example/hooks/karakana"
        )
    placed = (await api.post(_order(api))).json()
    await api.floor.chat("admin").send(payload=f"confirm:{placed['id']}")
    # The last assembly makes the order ready (the assembly flow raises OrderReady).
    async with api.floor.store.transaction() as session:
        order = await session.get(Order, placed["id"])
        assert order is not None
        order.status = OrderStatus.READY
        await REGISTRY.notify(
            session,
            [events.OrderReady(placed["id"])],
            catalogue=default_catalogue(),
            now=api.floor.clock.now(),
        )

    await api.floor.chat("admin").send(f"/ship {placed['id']} G4S KE123456")

    news = [
        json.loads(Reply.from_json(m.body).text)
        for m in await api.outbox_on(Channel.RETAILER_CALLBACK)
    ]
    assert [n["event"] for n in news] == ["order.confirmed", "order.ready", "order.shipped"]
    assert news[1]["expected_date"] == placed["due_date"]
    assert news[1]["order"]["status"] == "ready"
    assert (news[2]["carrier"], news[2]["tracking"]) == ("G4S", "KE123456")
    assert news[2]["order"]["status"] == "shipped"
    assert await api.outbox_on(Channel.SHOPIFY) == []  # not a web-shop order


async def test_the_same_order_sent_twice_at_once_is_made_once(api: Api) -> None:
    first, second = await asyncio.gather(api.post(_order(api)), api.post(_order(api)))

    assert sorted((first.status_code, second.status_code)) == [200, 201]
    assert first.json()["id"] == second.json()["id"]
    assert len(await api.admin_told()) == 1
