"""Messages for a channel nobody sends on (the local demo: no WhatsApp, no Telegram) are held, and
said to be: ``/healthz`` counts them, ``/deadletters`` lists them, and the web chat shows them to
whoever chats as their addressee, marked "held". The real ``karakana run`` on a loopback port."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import col, func, select

from bot.demo import demo_people
from conversations.i18n import t
from domain.model import (
    ArtisanProfile,
    ArtisanStatus,
    Channel,
    ChannelIdentity,
    OutboxMessage,
    OutboxStatus,
    Role,
)
from domain.store import Store
from tests.e2e.harness import eventually
from tests.e2e.server_process import ServerProcess

ADMIN = next(member.whatsapp for member in demo_people()[0] if member.role is Role.ADMIN)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ServerProcess]:
    process = ServerProcess(
        tmp_path, {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'karakana.db'}"}
    )
    try:
        yield process
    finally:
        await process.stop()


async def _pending_whatsapp_artisan(database_url: str) -> tuple[int, str]:
    store = Store.from_url(database_url)
    try:
        async with store.read() as session:
            found = (
                await session.exec(
                    select(ArtisanProfile.person_id, ChannelIdentity.address)
                    .join(
                        ChannelIdentity,
                        col(ChannelIdentity.person_id) == col(ArtisanProfile.person_id),
                    )
                    .where(
                        ArtisanProfile.status == ArtisanStatus.PENDING,
                        ChannelIdentity.channel == Channel.WHATSAPP,
                    )
                    .order_by(col(ArtisanProfile.person_id))
                )
            ).first()
            assert found is not None
            return found
    finally:
        await store.close()


async def _waiting_for_whatsapp(database_url: str) -> int:
    store = Store.from_url(database_url)
    try:
        async with store.read() as session:
            count = await session.exec(
                select(func.count())
                .select_from(OutboxMessage)
                .where(
                    OutboxMessage.channel == Channel.WHATSAPP,
                    OutboxMessage.status == OutboxStatus.QUEUED,
                )
            )
            return int(count.one())
    finally:
        await store.close()


_cursors: dict[str, int] = {}


async def _say(client: httpx.AsyncClient, base: str, address: str, text: str) -> list[str]:
    """Send one message; the replies since the last ones read."""
    sent = await client.post(
        f"{base}/webchat/send", json={"address": address, "text": text, "id": uuid.uuid4().hex}
    )
    assert sent.status_code == 200, sent.text
    params = {"address": address, "after": str(_cursors.get(address, 0))}
    answer = (await client.get(f"{base}/webchat/messages", params=params)).json()
    _cursors[address] = answer["cursor"]
    return [message["text"] for message in answer["messages"]]


async def test_messages_for_whatsapp_with_no_whatsapp_configured_are_counted_listed_and_shown(
    server: ServerProcess,
) -> None:
    await server.start()
    database = server.settings["DATABASE_URL"]
    artisan_id, artisan_address = await _pending_whatsapp_artisan(database)
    async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
        # The admin verifies a WhatsApp artisan: the artisan's notice waits for WhatsApp.
        await _say(client, server.url, ADMIN, f"/verify {artisan_id}")
        waiting = await _waiting_for_whatsapp(database)
        assert waiting >= 1

        async def held_in_health() -> dict[str, Any] | None:
            body = (await client.get(f"{server.url}/healthz")).json()
            outbox: dict[str, Any] = body["checks"]["outbox"]
            return outbox if outbox["held"] == waiting else None

        outbox = await eventually(held_in_health)
        assert outbox["held"] == waiting == await _waiting_for_whatsapp(database)

        [deadletters, *_] = await _say(client, server.url, ADMIN, "/deadletters")
        assert deadletters.startswith(t("en", "admin.deadletters_title", count=waiting))
        assert t("en", "admin.deadletters_held", count=waiting) in deadletters
        # Each held message says why in words, never the code "no_channel".
        assert t("en", "plain.held_no_channel", channel="WhatsApp") in deadletters
        assert "no_channel" not in deadletters

        shown = await client.get(
            f"{server.url}/webchat/messages",
            params={"address": artisan_address, "history": "1"},
        )
    body = shown.json()
    assert len(body["held"]) >= 1
    assert all(m["held"] and m["channel"] == "whatsapp" for m in body["held"])
    assert {m["key"] for m in body["held"]} <= {m["key"] for m in body["history"]}
    assert body["messages"] == []  # nothing of theirs was on the web chat yet
