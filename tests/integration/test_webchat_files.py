"""Files and captions on the local web chat, over real HTTP on loopback: photos with a caption,
an admin's documents within the limits the other channels keep, polite refusals in the chat, and
a message sent again under its id taken once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from bot.channels.media import DEFAULT_MAX_DOCUMENT_BYTES, LocalMediaStore, MediaDocuments
from bot.channels.webchat import webchat_routes
from conversations.engine import Engine
from conversations.i18n import t
from conversations.messages import Incoming
from conversations.registry import REGISTRY
from domain.model import InboundMessage, InboundStatus, Order, OutboxMessage
from domain.store import Store
from tests.conftest import FakeClock
from tests.fakes.server import serving
from tests.integration.test_admin_orders_in import GOOD_CSV
from tests.integration.test_webchat_api import (
    ADMIN_PHONE,
    ARTISAN_PHONE,
    PDF,
    kept_files,
    png,
    rows,
    seed_people,
)


class Page:
    """The web chat as its page uses it: send, then read what is new."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self._cursors: dict[str, int] = {}

    async def upload(
        self,
        address: str,
        content: bytes,
        content_type: str,
        *,
        caption: str = "",
        message_id: str | None = None,
    ) -> httpx.Response:
        params = {"address": address}
        if caption:
            params["caption"] = caption
        if message_id is not None:
            params["id"] = message_id
        return await self.client.post(
            "/webchat/send", params=params, content=content, headers={"content-type": content_type}
        )

    async def replies(self, address: str) -> list[str]:
        params = {"address": address, "after": str(self._cursors.get(address, 0))}
        answer = await self.client.get("/webchat/messages", params=params)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        self._cursors[address] = body["cursor"]
        return [str(message["text"]) for message in body["messages"]]


@pytest.fixture
def media_dir(tmp_path: Path) -> Path:
    return tmp_path / "media"


@pytest.fixture
async def page(store: Store, clock: FakeClock, media_dir: Path) -> AsyncIterator[Page]:
    await seed_people(store, clock)
    media = LocalMediaStore(media_dir)
    engine = Engine(store, registry=REGISTRY, documents=MediaDocuments(media))
    app = Starlette(routes=webchat_routes(store, engine, media, clock=clock.now))
    async with serving(app) as base, httpx.AsyncClient(base_url=base) as client:
        yield Page(client)


async def inbound(store: Store) -> list[Incoming]:
    return [Incoming.from_json(row.payload) for row in await rows(store, InboundMessage)]


async def test_a_photo_with_a_caption_reaches_the_engine_as_one_message(
    page: Page, store: Store, media_dir: Path
) -> None:
    photo = png()
    sent = await page.upload(ADMIN_PHONE, photo, "image/png", caption="menu")
    assert sent.status_code == 200, sent.text
    [item] = sent.json()["media"]
    [message] = await inbound(store)
    assert (message.text, [m.ref for m in message.media]) == ("menu", [item["ref"]])
    assert kept_files(media_dir) == {item["ref"]: photo}
    [menu] = await page.replies(ADMIN_PHONE)
    assert menu == t("en", "menu.title", name="Amina Odhiambo")


@pytest.mark.parametrize(
    ("content", "content_type", "refusal"),
    [
        (
            b"customer,sku\n" + b"x" * DEFAULT_MAX_DOCUMENT_BYTES,
            "text/csv",
            t("en", "channels.document_too_large", max_mb=1),
        ),
        (PDF, "application/pdf", t("en", "channels.media_not_image")),
        (
            "customer,sku\nKahawa Café,NECK-1\n".encode("cp1252"),
            "text/csv",
            t("en", "channels.document_not_utf8"),
        ),
    ],
    ids=["a CSV over the document limit", "a PDF", "a CSV not in UTF-8"],
)
async def test_an_admins_file_that_cannot_be_imported_is_refused_politely_and_not_kept(
    page: Page,
    store: Store,
    media_dir: Path,
    content: bytes,
    content_type: str,
    refusal: str,
) -> None:
    sent = await page.upload(ADMIN_PHONE, content, content_type, caption="/import_orders")
    assert sent.status_code == 200, sent.text
    assert sent.json()["media"] == []
    # The refusal first, then the caption on its own: how to send an import, as on WhatsApp.
    said = await page.replies(ADMIN_PHONE)
    assert said == [refusal, t("en", "admin.import_usage")]
    assert kept_files(media_dir) == {}
    assert await rows(store, Order) == []
    [message] = await inbound(store)
    assert (message.text, message.media) == ("/import_orders", ())


async def test_a_file_sent_again_under_its_id_is_kept_and_answered_once(
    page: Page, store: Store, media_dir: Path
) -> None:
    csv = GOOD_CSV.encode()
    first = await page.upload(
        ADMIN_PHONE, csv, "text/csv", caption="/import_orders", message_id="retry-0001"
    )
    [summary] = await page.replies(ADMIN_PHONE)
    again = await page.upload(
        ADMIN_PHONE, csv, "text/csv", caption="/import_orders", message_id="retry-0001"
    )
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == first.json() | {"duplicate": True}
    assert summary.startswith(t("en", "admin.imported", count=2, pieces=43))
    assert await page.replies(ADMIN_PHONE) == []
    assert len(kept_files(media_dir)) == 1
    assert len(await rows(store, Order)) == 2
    assert len(await rows(store, InboundMessage)) == 1


async def test_a_refused_file_sent_again_under_its_id_is_refused_once(
    page: Page, store: Store
) -> None:
    for _ in range(2):
        sent = await page.upload(ARTISAN_PHONE, PDF, "application/pdf", message_id="retry-0002")
        assert sent.status_code == 200, sent.text
    assert await page.replies(ARTISAN_PHONE) == [t("en", "channels.media_not_image")]
    [row] = await rows(store, InboundMessage)
    assert row.status == InboundStatus.PROCESSED


async def test_a_text_sent_again_under_its_id_is_answered_once(page: Page, store: Store) -> None:
    for _ in range(2):
        sent = await page.client.post(
            "/webchat/send", json={"address": ADMIN_PHONE, "text": "menu", "id": "retry-0003"}
        )
        assert sent.status_code == 200, sent.text
    assert await page.replies(ADMIN_PHONE) == [t("en", "menu.title", name="Amina Odhiambo")]
    assert len(await rows(store, OutboxMessage)) == 1


async def test_an_id_someone_else_used_is_refused(page: Page, store: Store) -> None:
    await page.upload(ADMIN_PHONE, png(), "image/png", message_id="shared-0004")
    refused = await page.upload(ARTISAN_PHONE, png(), "image/png", message_id="shared-0004")
    assert refused.status_code == 409
    assert "already used" in refused.json()["error"]
    assert [m.address for m in await inbound(store)] == [ADMIN_PHONE]


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"id": "short"}, "id must be 8 to 64 letters"),
        ({"id": "../../etc/passwd"}, "id must be 8 to 64 letters"),
        ({"caption": "x" * 2001}, "at most 2000 characters"),
    ],
    ids=["an id too short", "an id with slashes", "a caption that is an essay"],
)
async def test_a_file_sent_with_a_bad_id_or_caption_is_refused_before_it_is_kept(
    page: Page, store: Store, media_dir: Path, params: dict[str, str], problem: str
) -> None:
    refused = await page.client.post(
        "/webchat/send",
        params={"address": ADMIN_PHONE, **params},
        content=png(),
        headers={"content-type": "image/png"},
    )
    assert refused.status_code == 400
    assert problem in refused.json()["error"]
    assert kept_files(media_dir) == {}
    assert await rows(store, InboundMessage) == []
