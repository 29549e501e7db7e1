"""The local web chat has no login, so it is served only as a local demo: never beside a real
channel, never on a HOST other than loopback. Each case runs the real ``karakana run`` process on
a loopback port (with the fake providers for the channels) and asks over HTTP."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import func, select

from bot.demo import demo_people
from bot.main import Factory, build_bot
from bot.settings import Settings
from domain.model import InboundMessage, Role
from domain.store import Store
from tests.e2e.harness import WEBHOOK_SECRET
from tests.e2e.server_process import ServerProcess
from tests.fakes.daraja_api import FakeDaraja
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.twilio_api import FakeTwilio
from tests.integration.mpesa_harness import INITIATOR_PASSWORD, certificate
from tests.integration.test_webchat_api import png

RULE = (
    "it is served only when no channel (WhatsApp, Telegram, M-Pesa) is configured and HOST is a "
    "loopback address such as 127.0.0.1."
)
ADMIN = next(member.whatsapp for member in demo_people()[0] if member.role is Role.ADMIN)


@dataclass(frozen=True)
class Ask:
    """One request a stranger could make to the web chat."""

    method: str
    path: str
    options: dict[str, Any]

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def web_chat_requests(admin: str) -> list[Ask]:
    """Every web chat route: the page, its static files, the people list, a text and a file
    sent as the admin, the replies, a kept file."""
    return [
        Ask("GET", "/", {}),
        Ask("GET", "/webchat/static/webchat.js", {}),
        Ask("GET", "/webchat/static/webchat.css", {}),
        Ask("GET", "/webchat/people", {}),
        Ask(
            "POST",
            "/webchat/send",
            {"json": {"address": admin, "text": "/pause 5", "id": uuid.uuid4().hex}},
        ),
        Ask(
            "POST",
            "/webchat/send",
            {
                "params": {"address": admin, "id": uuid.uuid4().hex, "caption": "/pause 5"},
                "content": png(),
                "headers": {"content-type": "image/png"},
            },
        ),
        Ask("GET", "/webchat/messages", {"params": {"address": admin}}),
        Ask("GET", "/webchat/media/0123456789abcdef0123456789abcdef.png", {}),
    ]


async def answers(
    client: httpx.AsyncClient, base: str, asks: list[Ask], host: str | None = None
) -> dict[str, list[httpx.Response]]:
    found: dict[str, list[httpx.Response]] = {}
    for ask in asks:
        options = dict(ask.options)
        if host is not None:
            options["headers"] = {**options.get("headers", {}), "Host": host}
        response = await client.request(ask.method, base + ask.path, **options)
        found.setdefault(str(ask), []).append(response)
    return found


async def inbound_count(database_url: str) -> int:
    store = Store.from_url(database_url)
    try:
        async with store.read() as session:
            return int((await session.exec(select(func.count()).select_from(InboundMessage))).one())
    finally:
        await store.close()


def output(server: ServerProcess) -> tuple[list[str], list[str]]:
    """What ``karakana run`` printed for a person, and the messages it logged (JSON lines)."""
    lines = (server.workdir / f"karakana-{server.starts}.log").read_text().splitlines()
    logged = [json.loads(line)["message"] for line in lines if line.startswith("{")]
    return [line for line in lines if not line.startswith("{")], logged


@pytest.fixture
async def providers(tmp_path: Path) -> AsyncIterator[dict[str, str]]:
    """WhatsApp, Telegram (webhook) and M-Pesa, all configured against the fake providers."""
    pem = tmp_path / "mpesa.cer"
    pem.write_bytes(certificate()[0])
    twilio, telegram, daraja = FakeTwilio(), FakeTelegram(), FakeDaraja()
    async with twilio.running(), telegram.running(), daraja.running():
        yield {
            "TWILIO_ACCOUNT_SID": twilio.account_sid,
            "TWILIO_AUTH_TOKEN": twilio.auth_token,
            "TWILIO_WHATSAPP_FROM": twilio.whatsapp_from,
            "TWILIO_API_BASE_URL": twilio.base_url,
            "TELEGRAM_BOT_TOKEN": telegram.token,
            "TELEGRAM_API_BASE_URL": telegram.base_url,
            "TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "MPESA_API_BASE_URL": daraja.base_url,
            "MPESA_CONSUMER_KEY": daraja.consumer_key,
            "MPESA_CONSUMER_SECRET": daraja.consumer_secret,
            "MPESA_SHORTCODE": "600999",
            "MPESA_INITIATOR_NAME": "karakana_api",
            "MPESA_INITIATOR_PASSWORD": INITIATOR_PASSWORD,
            "MPESA_CERTIFICATE_PATH": str(pem),
        }


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ServerProcess]:
    process = ServerProcess(
        tmp_path, {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'karakana.db'}"}
    )
    try:
        yield process
    finally:
        await process.stop()


async def test_beside_whatsapp_telegram_and_mpesa_every_web_chat_route_is_404_whatever_the_host(
    server: ServerProcess, providers: dict[str, str]
) -> None:
    server.settings |= providers | {"PUBLIC_BASE_URL": server.url}
    await server.start()
    asks = web_chat_requests(ADMIN)
    async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
        found = await answers(client, server.url, asks)
        for forged in ("127.0.0.1", "localhost", f"127.0.0.1:{server.port}"):
            for route, responses in (await answers(client, server.url, asks, forged)).items():
                found[route] += responses
        health = await client.get(f"{server.url}/healthz")

    assert health.status_code == 200  # the process itself is up and serving
    assert {route: {r.status_code for r in rs} for route, rs in found.items()} == {
        str(ask): {404} for ask in asks
    }
    assert not any(ADMIN in r.text or "Admin" in r.text for rs in found.values() for r in rs)
    assert await inbound_count(server.settings["DATABASE_URL"]) == 0  # nothing was obeyed
    await server.stop()
    printed, logged = output(server)
    refusal = "The local web chat is off: WhatsApp, Telegram and M-Pesa are configured; " + RULE
    assert refusal in printed
    assert refusal in logged
    assert not any("web chat at" in line or "to chat as anyone" in line for line in printed)


async def test_the_local_demo_on_loopback_with_no_channel_serves_every_web_chat_route(
    server: ServerProcess,
) -> None:
    await server.start()
    async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
        people = await client.get(f"{server.url}/webchat/people")
        found = await answers(
            client,
            server.url,
            [
                Ask("GET", "/", {}),
                Ask("GET", "/webchat/static/webchat.js", {}),
                Ask("GET", "/webchat/static/webchat.css", {}),
                Ask("POST", "/webchat/send", {"json": {"address": ADMIN, "text": "menu"}}),
                Ask(
                    "POST",
                    "/webchat/send",
                    {
                        "params": {"address": ADMIN, "id": uuid.uuid4().hex},
                        "content": png(),
                        "headers": {"content-type": "image/png"},
                    },
                ),
                Ask("GET", "/webchat/messages", {"params": {"address": ADMIN}}),
            ],
        )

    assert people.status_code == 200
    assert ADMIN in {person["address"] for person in people.json()["people"]}
    assert {route: {r.status_code for r in rs} for route, rs in found.items()} == {
        route: {200} for route in found
    }
    await server.stop()
    printed, logged = output(server)
    assert not any("web chat is off" in line for line in [*printed, *logged])


async def test_the_demo_on_a_host_other_than_loopback_serves_no_web_chat_and_says_why_at_start(
    server: ServerProcess,
) -> None:
    # Listening on every interface; the test itself only ever connects to 127.0.0.1.
    server.settings |= {"HOST": "0.0.0.0"}
    await server.start()
    asks = web_chat_requests(ADMIN)
    async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
        found = await answers(client, server.url, asks)
        for route, responses in (await answers(client, server.url, asks, "127.0.0.1")).items():
            found[route] += responses

    assert {route: {r.status_code for r in rs} for route, rs in found.items()} == {
        str(ask): {404} for ask in asks
    }
    assert await inbound_count(server.settings["DATABASE_URL"]) == 0
    await server.stop()
    printed, logged = output(server)
    refusal = "The local web chat is off: HOST '0.0.0.0' is not a loopback address; " + RULE
    assert refusal in printed
    assert refusal in logged
    assert "Karakana is starting: no chat channel. Stop with Ctrl+C." in printed
    assert not any("to chat as anyone" in line for line in printed)


async def test_no_caller_of_build_bot_can_ask_for_the_web_chat_beside_a_channel(
    store: Store, tmp_path: Path
) -> None:
    settings = Settings(
        _env_file=None,
        database_url="sqlite+aiosqlite:///unused.db",
        media_dir=tmp_path / "media",
        host="127.0.0.1",
        telegram_bot_token="123456:a-real-looking-bot-token",  # long polling: nothing is public
    )
    bot = build_bot(Factory(settings=settings, store=store), webchat=True)
    transport = httpx.ASGITransport(app=bot.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        found = await answers(client, "", web_chat_requests(ADMIN))
    assert {route: {r.status_code for r in rs} for route, rs in found.items()} == {
        route: {404} for route in found
    }
