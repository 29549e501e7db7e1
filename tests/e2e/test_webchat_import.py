"""An admin imports orders from the local web chat, as `karakana run` serves it with no channel
accounts: the real composition root (engine, media store and document reader as main.py wires
them) behind uvicorn on loopback, the CSV uploaded with the caption /import_orders."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlmodel import col, select

from bot.demo import seed_demo
from bot.main import Factory, build_bot
from bot.settings import Settings
from conversations.i18n import t
from domain.explosion import factory_today
from domain.model import (
    Channel,
    ChannelIdentity,
    Customer,
    InboundMessage,
    Language,
    Order,
    OrderStatus,
    Person,
    Product,
    Role,
)
from domain.store import Store


@dataclass
class WebChat:
    """The page's side of the web chat API: send, and read the replies not read yet."""

    client: httpx.AsyncClient
    cursors: dict[str, int] = field(default_factory=dict)

    async def upload(
        self,
        address: str,
        content: bytes,
        content_type: str,
        caption: str = "",
        message_id: str | None = None,
    ) -> httpx.Response:
        params = {"address": address, "id": message_id or uuid.uuid4().hex}
        if caption:
            params["caption"] = caption
        return await self.client.post(
            "/webchat/send", params=params, content=content, headers={"content-type": content_type}
        )

    async def replies(self, address: str) -> list[str]:
        answer = await self.client.get(
            "/webchat/messages",
            params={"address": address, "after": str(self.cursors.get(address, 0))},
        )
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        self.cursors[address] = body["cursor"]
        return [str(message["text"]) for message in body["messages"]]


@dataclass(frozen=True)
class Demo:
    """The demo factory: whom to chat as, two products to order, where files are kept."""

    admin: str  # the admin's address, as the page lists it
    artisan: str
    artisan_language: Language
    skus: tuple[str, str]
    media_dir: Path


@pytest.fixture
async def demo(store: Store, tmp_path: Path) -> Demo:
    async with store.transaction() as session:
        await seed_demo(session, now=datetime.now(UTC))
        skus = tuple((await session.exec(select(Product.sku).order_by(col(Product.sku)))).all())
        first: dict[Role, tuple[str, Language]] = {}
        for role in (Role.ADMIN, Role.ARTISAN):
            found = (
                await session.exec(
                    select(ChannelIdentity.address, Person.language)
                    .join(Person, col(Person.id) == col(ChannelIdentity.person_id))
                    .where(Person.role == role)
                    .order_by(col(Person.id))
                )
            ).first()
            assert found is not None
            first[role] = (found[0], Language(found[1]))
    assert len(skus) >= 2
    return Demo(
        admin=first[Role.ADMIN][0],
        artisan=first[Role.ARTISAN][0],
        artisan_language=first[Role.ARTISAN][1],
        skus=(skus[0], skus[1]),
        media_dir=tmp_path / "media",
    )


@contextlib.asynccontextmanager
async def running(store: Store, tmp_path: Path) -> AsyncIterator[WebChat]:
    """The app `karakana run` builds with no accounts (so with the web chat), on a free port."""
    settings = Settings(
        _env_file=None,
        database_url="sqlite+aiosqlite:///unused.db",
        media_dir=tmp_path / "media",
        models_dir=tmp_path / "models",
    )
    bot = build_bot(Factory(settings=settings, store=store), poll_interval=0.05)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(
        uvicorn.Config(bot.app, lifespan="on", log_config=None, log_level="warning")
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()  # uvicorn failed to start: raise why
            await asyncio.sleep(0.01)
        async with httpx.AsyncClient(base_url=url, trust_env=False) as client:
            yield WebChat(client)
    finally:
        server.should_exit = True
        await task
        sock.close()


def orders_csv(*rows: tuple[str, str, str, str, str, int]) -> bytes:
    """An orders CSV as docs/csv-formats.md describes it; a row's blank due date is 30 factory
    days from today."""
    due = (factory_today(datetime.now(UTC)) + timedelta(days=30)).isoformat()
    lines = ["customer,customer_kind,reference,due_date,sku,quantity"]
    lines += [f"{c},{kind},{ref},{when or due},{sku},{n}" for c, kind, ref, when, sku, n in rows]
    return ("\n".join(lines) + "\n").encode()


async def orders(store: Store) -> list[tuple[str, str, OrderStatus]]:
    async with store.read() as session:
        found = await session.exec(
            select(Customer.name, Order.reference, Order.status)
            .join(Customer, col(Customer.id) == col(Order.customer_id))
            .where(col(Order.reference).startswith("WEB-CHAT-"))
            .order_by(col(Order.id))
        )
        return [(name, reference, OrderStatus(status)) for name, reference, status in found]


async def test_an_admin_imports_an_orders_csv_from_the_web_chat_and_a_retry_imports_nothing_twice(
    store: Store, tmp_path: Path, demo: Demo
) -> None:
    first, second = demo.skus
    csv = orders_csv(
        ("Maasai Market Crafts", "retailer", "WEB-CHAT-1", "", first, 12),
        ("Maasai Market Crafts", "retailer", "WEB-CHAT-1", "", second, 3),
        ("Karakana web shop", "web_shop", "WEB-CHAT-2", "", first, 1),
    )
    async with running(store, tmp_path) as page:
        sent = await page.upload(demo.admin, csv, "text/csv", "/import_orders", "upload-0001")
        assert sent.status_code == 200, sent.text
        [kept] = sent.json()["media"]
        assert kept["content_type"] == "text/csv"
        [summary] = await page.replies(demo.admin)
        again = await page.upload(demo.admin, csv, "text/csv", "/import_orders", "upload-0001")
        assert again.status_code == 200, again.text
        assert again.json() == sent.json() | {"duplicate": True}
        assert await page.replies(demo.admin) == []
        downloaded = await page.client.get(kept["url"])

    assert summary.startswith(t("en", "admin.imported", count=2, pieces=16))
    assert "“Maasai Market Crafts” · “WEB-CHAT-1”" in summary
    assert await orders(store) == [
        ("Maasai Market Crafts", "WEB-CHAT-1", OrderStatus.DRAFT),
        ("Karakana web shop", "WEB-CHAT-2", OrderStatus.DRAFT),
    ]
    assert {path.name: path.read_bytes() for path in demo.media_dir.iterdir()} == {kept["ref"]: csv}
    assert downloaded.headers["content-disposition"].startswith("attachment")
    assert downloaded.content == csv
    async with store.read() as session:
        inbound = (
            await session.exec(select(InboundMessage).where(InboundMessage.channel == Channel.WEB))
        ).all()
    assert len(inbound) == 1


async def test_a_bad_orders_csv_gets_every_problem_listed_and_imports_nothing(
    store: Store, tmp_path: Path, demo: Demo
) -> None:
    first, _ = demo.skus
    csv = orders_csv(
        ("Maasai Market Crafts", "retailer", "WEB-CHAT-3", "", first, 12),
        ("Maasai Market Crafts", "retailer", "WEB-CHAT-4", "2020-01-01", first, 5),
        ("Zuri Web", "web_shop", "WEB-CHAT-5", "", "NO-SUCH-SKU", 3),
    )
    async with running(store, tmp_path) as page:
        sent = await page.upload(demo.admin, csv, "text/csv", "/import_orders")
        assert sent.status_code == 200, sent.text
        [rejected] = await page.replies(demo.admin)

    assert rejected.startswith(t("en", "admin.import_rejected", count=2))
    # Each problem on its own line, named by line and column, in the admin's words.
    [past] = [line for line in rejected.splitlines() if line.startswith("• line 3, due_date:")]
    assert "1 January" in past
    assert "has already passed" in past
    assert "• line 4, sku: there is no product with SKU NO-SUCH-SKU" in rejected
    assert await orders(store) == []


async def test_an_artisans_csv_is_refused_politely_and_their_import_command_is_not_allowed(
    store: Store, tmp_path: Path, demo: Demo
) -> None:
    first, _ = demo.skus
    csv = orders_csv(("Maasai Market Crafts", "retailer", "WEB-CHAT-6", "", first, 12))
    async with running(store, tmp_path) as page:
        sent = await page.upload(demo.artisan, csv, "text/csv", "/import_orders")
        assert sent.status_code == 200, sent.text
        assert sent.json()["media"] == []
        said = await page.replies(demo.artisan)

    # In the artisan's own language, as WhatsApp and Telegram would say it.
    language = demo.artisan_language
    assert said == [t(language, "channels.media_not_image"), t(language, "command.forbidden")]
    assert await orders(store) == []
    assert not demo.media_dir.exists() or not list(demo.media_dir.iterdir())
