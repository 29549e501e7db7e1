"""Orders in by machine: the retailers' API and Shopify's orders/create webhook, over the real
Starlette routes (in process), with the admins' notices and the customers' outbox rows read back
from the database; the Confirm button pressed through the conversation engine. Tests taking the
``any_api`` fixture run on SQLite and on PostgreSQL: those that store orders, keys and webhook
deliveries in a way a backend could treat differently (idempotency, a race, deduplication)."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.applications import Starlette

from bot.intake import HMAC_HEADER, WEBHOOK_ID_HEADER, intake_routes, shopify_signature
from conversations.customers import callback_address
from conversations.formatting import numeric_date
from conversations.i18n import default_catalogue, t
from conversations.messages import Reply
from conversations.registry import REGISTRY
from domain.explosion import factory_today
from domain.model import (
    Channel,
    Customer,
    CustomerKind,
    Language,
    Order,
    OrderStatus,
    OutboxMessage,
    Person,
    Product,
)
from domain.services import api_keys, deliveries, work
from domain.services.orders import get_or_create_customer, jobs_of_order, order_lines
from domain.store import Store
from tests.conftest import FakeClock
from tests.integration.factory_fixtures import (
    Floor,
    accepted_offer,
    arranged_drop_off,
    days_from,
    ident,
    open_floor,
    retailer,
    submitted_work,
)

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


async def _api(floor: Floor) -> AsyncIterator[Api]:
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


@pytest.fixture
async def api(floor: Floor) -> AsyncIterator[Api]:
    async for ready in _api(floor):
        yield ready


@pytest.fixture
async def any_api(any_store: Store, clock: FakeClock) -> AsyncIterator[Api]:
    """``api`` on SQLite and on PostgreSQL."""
    floor = await open_floor(any_store, clock, lines={"NECKLACE-HORN": 10, "BANGLE-BRASS": 6})
    async for ready in _api(floor):
        yield ready


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


async def _components_in(floor: Floor, order_id: int) -> None:
    """Otieno makes every component of the order, Kamau passes them and counts them in."""
    artisan, agent, now = floor.factory.otieno, floor.factory.agent, floor.clock.now()

    async def make_all(s: AsyncSession) -> None:
        for job in await jobs_of_order(s, order_id):
            lot = ident(
                await accepted_offer(
                    s, job_id=ident(job), artisan_id=artisan, quantity=job.quantity, now=now
                )
            )
            made = await submitted_work(
                s, allocation_id=lot, artisan_id=artisan, count=job.quantity, now=now
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
                s, allocation_id=lot, artisan_id=artisan, quantity=job.quantity, now=now
            )
            await deliveries.record_receipt(
                s,
                delivery_id=ident(drop),
                receiver_id=agent,
                received_quantity=job.quantity,
                now=now,
            )

    await floor.act(make_all)


# --- the retailers' API --------------------------------------------------------------------------


async def test_a_retailers_order_is_a_draft_and_every_admin_is_asked_to_confirm_it(
    any_api: Api,
) -> None:
    answer = await any_api.post(_order(any_api))

    assert answer.status_code == 201
    placed = answer.json()
    assert placed["status"] == "draft"
    assert placed["lines"] == [
        {"sku": "NECKLACE-HORN", "quantity": 12},
        {"sku": "BANGLE-BRASS", "quantity": 4},
    ]
    told = await any_api.admin_told()
    assert len(told) == 1
    assert "PO-API-1" in told[0].text
    assert "16 pieces" in told[0].text
    assert [choice.payload for choice in told[0].choices] == [f"confirm:{placed['id']}"]


async def test_the_same_order_sent_again_is_the_same_order_answered_200_and_told_once(
    any_api: Api,
) -> None:
    first = await any_api.post(_order(any_api))
    again = await any_api.post(_order(any_api))

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert len([o for o in await any_api.orders() if o.reference == "PO-API-1"]) == 1
    assert len(await any_api.admin_told()) == 1


async def test_a_different_order_under_a_used_reference_is_a_conflict_and_changes_nothing(
    any_api: Api,
) -> None:
    await any_api.post(_order(any_api))
    changed = _order(any_api, lines=[{"sku": "NECKLACE-HORN", "quantity": 13}])

    answer = await any_api.post(changed)

    assert answer.status_code == 409
    assert "PO-API-1" in answer.json()["error"]
    [order] = [o for o in await any_api.orders() if o.reference == "PO-API-1"]
    async with any_api.floor.store.read() as session:
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


async def test_a_key_with_a_wrong_secret_or_revoked_is_refused(any_api: Api) -> None:
    key_id = any_api.key.split("_")[1]
    forged = f"kk_{key_id}_" + "B" * 43
    assert (await any_api.post(_order(any_api), key=forged)).status_code == 401
    async with any_api.floor.store.transaction() as session:
        await api_keys.revoke_key(session, key_id, now=any_api.floor.clock.now())
    assert (await any_api.post(_order(any_api))).status_code == 401
    assert (await any_api.client.get("/api/orders/PO-API-1")).status_code == 401


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
    any_api: Api,
) -> None:
    async with any_api.floor.store.transaction() as session:
        shop = await retailer(session)
        shop_id = shop.id
        await api_keys.set_callback(
            session, customer_name=shop.name, url="https://retailer.example/hooks/karakana"
        )
    placed = (await any_api.post(_order(any_api))).json()
    [button] = (await any_api.admin_told())[0].choices

    replies = await any_api.floor.chat("admin").send(payload=button.payload)

    assert any(f"{placed['id']}" in reply.text for reply in replies)
    [status] = [o.status for o in await any_api.orders() if o.id == placed["id"]]
    assert status is OrderStatus.CONFIRMED
    [callback] = await any_api.outbox_on(Channel.RETAILER_CALLBACK)
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
    any_api: Api,
) -> None:
    before = len(await any_api.orders())
    for webhook_id in ("b54557e4-1", "b54557e4-1", "b54557e4-2"):
        assert (await any_api.shopify(_shopify_payload(), webhook_id=webhook_id)).status_code == 200

    assert len(await any_api.orders()) == before + 1
    assert len(await any_api.admin_told()) == 1


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
    any_api: Api,
) -> None:
    async with any_api.floor.store.transaction() as session:
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

    assert (await any_api.shopify(payload, webhook_id="c1")).status_code == 200

    [told] = await any_api.admin_told()
    assert "EARRING-NEW has no bill of materials" in told.text
    assert "2020-01-01" in told.text
    async with any_api.floor.store.read() as session:
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
    admin = api.floor.chat("admin")
    await admin.send(payload=f"confirm:{placed['id']}")
    # Every component made, passed and counted in; the admin assembles each line in chat, and
    # the last assembly makes the order ready (``record_assembly`` raises OrderReady).
    await _components_in(api.floor, placed["id"])
    async with api.floor.store.read() as session:
        lines = [ident(line) for line, _ in await order_lines(session, placed["id"])]
    for line in lines:
        await admin.send(f"/assemble {line}")
    async with api.floor.store.read() as session:
        order = await session.get(Order, placed["id"])
        assert order is not None
        assert order.status is OrderStatus.READY

    await admin.send(f"/ship {placed['id']} G4S KE123456")

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


async def test_the_same_order_sent_twice_at_once_is_made_once(any_api: Api) -> None:
    first, second = await asyncio.gather(
        any_api.post(_order(any_api)), any_api.post(_order(any_api))
    )

    assert sorted((first.status_code, second.status_code)) == [200, 201]
    assert first.json()["id"] == second.json()["id"]
    assert len(await any_api.admin_told()) == 1


async def test_a_kiswahili_admin_reads_every_problem_of_a_shop_order_in_kiswahili(
    any_api: Api,
) -> None:
    """Unknown and missing SKUs, zero and absurd quantities, a product without a bill of
    materials, a line too big for one job and a past date: one draft of what could be matched,
    every problem named in the admin's language."""
    async with any_api.floor.store.transaction() as session:
        admin = await session.get(Person, any_api.floor.factory.admin)
        assert admin is not None
        admin.language = Language.SW
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
    payload["id"] = 450789470
    payload["name"] = "#1002"
    payload["note_attributes"] = [{"name": "due_date", "value": "2020-01-01"}]
    item = payload["line_items"][0]
    payload["line_items"] = [
        item | {"sku": "NECKLACE-HORN", "quantity": 2},
        item | {"sku": "IPOD2008PINK", "quantity": 1},
        item | {"sku": None, "title": "Gift wrap", "quantity": 1},
        item | {"sku": "BANGLE-BRASS", "quantity": 0},
        item | {"sku": "EARRINGS-BEAD", "quantity": 1_000_000},
        item | {"sku": "EARRING-NEW", "quantity": 3},
        item | {"sku": "NECKLACE-HORN", "quantity": 60_000},  # with the first: 120,004 hooks
    ]

    assert (await any_api.shopify(payload, webhook_id="sw-1")).status_code == 200

    [order] = [o for o in await any_api.orders() if o.reference == "#1002"]
    assumed = numeric_date(factory_today(any_api.floor.clock.now()) + timedelta(days=21))
    sw = functools.partial(t, "sw")
    [told] = await any_api.admin_told()
    problems = [
        sw("intake.problem.date_in_past", asked="“2020-01-01”", assumed=assumed),
        sw("intake.problem.no_sku", title="“Gift wrap”", quantity="1"),
        sw("intake.problem.bad_quantity", sku="BANGLE-BRASS", quantity="0", most_pieces="100,000"),
        sw(
            "intake.problem.bad_quantity",
            sku="EARRINGS-BEAD",
            quantity="1,000,000",
            most_pieces="100,000",
        ),
        sw(
            "intake.problem.too_many_pieces",
            sku="NECKLACE-HORN",
            quantity="60,002",
            pieces="120,004",
            most_pieces="100,000",
        ),
        sw("intake.problem.unknown_sku", sku="IPOD2008PINK", quantity="1"),
        sw("intake.problem.no_bom", sku="EARRING-NEW"),
    ]
    assert told.text.split("\n")[1:] == [sw("intake.order_problems")] + [
        f"- {problem}" for problem in problems
    ]
    assert told.text.split("\n")[0] == sw(
        "intake.order_placed",
        id=order.id,
        customer="“Web shop”",
        source=sw("intake.source_shopify"),
        reference="“#1002”",
        pieces=60_005,
        due=assumed,
    )
    async with any_api.floor.store.read() as session:
        lines = {p.sku: line.quantity for line, p in await order_lines(session, order.id or 0)}
    assert lines == {"NECKLACE-HORN": 60_002, "EARRING-NEW": 3}
    assert order.status is OrderStatus.DRAFT


@pytest.mark.parametrize("quantity", [0, -3, 100_001, "12", 2.5, True, None])
async def test_a_retailers_zero_absurd_or_non_whole_quantity_is_named_and_nothing_stored(
    api: Api, quantity: object
) -> None:
    before = await api.orders()
    answer = await api.post(_order(api, lines=[{"sku": "NECKLACE-HORN", "quantity": quantity}]))

    assert answer.status_code == 422
    [error] = answer.json()["errors"]
    assert error["field"] == "lines[0].quantity"
    assert "from 1 to 100,000" in error["reason"]
    assert await api.orders() == before
    assert await api.admin_told() == []


async def test_a_retailers_order_for_a_product_without_a_bill_of_materials_is_drafted_with_why(
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
    answer = await api.post(_order(api, lines=[{"sku": "EARRING-NEW", "quantity": 3}]))

    assert answer.status_code == 201
    assert answer.json()["status"] == "draft"
    [told] = await api.admin_told()
    assert told.text.endswith(
        t("en", "intake.order_problems")
        + "\n- "
        + t("en", "intake.problem.no_bom", sku="EARRING-NEW")
    )
    replies = await api.floor.chat("admin").send(payload=f"confirm:{answer.json()['id']}")
    assert any("EARRING-NEW" in reply.text for reply in replies)  # refused, and says why
    [status] = [o.status for o in await api.orders() if o.id == answer.json()["id"]]
    assert status is OrderStatus.DRAFT
    async with api.floor.store.read() as session:
        assert await jobs_of_order(session, answer.json()["id"]) == []  # nothing half-made


@pytest.mark.parametrize(
    "body",
    [
        b"not json at all",
        b"[]",
        b'{"name": "#1003", "line_items": []}',
        b'{"id": 450789471, "line_items": [{"sku": "NECKLACE-HORN", "quantity": "two"}]}',
        b'{"id": 450789472}',
    ],
)
async def test_a_signed_shopify_body_that_is_not_an_order_is_400_and_stores_nothing(
    api: Api, body: bytes
) -> None:
    before = await api.orders()
    headers = {
        WEBHOOK_ID_HEADER: "bad-body",
        "X-Shopify-Topic": "orders/create",
        HMAC_HEADER: shopify_signature(SECRET, body),
    }
    answer = await api.client.post("/shop/shopify/orders", content=body, headers=headers)

    assert answer.status_code == 400
    assert answer.json()["error"].startswith("not an order")
    assert await api.orders() == before
    assert await api.admin_told() == []
    # The delivery was not recorded either: the same id with a good body is still taken.
    assert (await api.shopify(_shopify_payload(), webhook_id="bad-body")).status_code == 200
    assert len(await api.orders()) == len(before) + 1
