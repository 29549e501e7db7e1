"""Outbound WhatsApp photos over real HTTP: the sender gives Twilio a signed, expiring URL of our
media route, the fake Twilio records it and can fetch the photo; a tampered, expired or foreign
link is a 404 that says nothing about what exists."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest

from bot.channels.gateways import MediaLinks
from bot.channels.media import LocalMediaStore
from bot.channels.whatsapp import WhatsAppSender
from bot.server import Health, create_app, media_routes
from conversations.messages import MediaItem, Reply
from domain.store import Store
from tests.fakes.server import serving
from tests.fakes.twilio_api import FakeTwilio

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 8
AGENT = "+254700000002"


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Served:
    url: str
    links: MediaLinks
    clock: Clock
    photo: MediaItem
    twilio: FakeTwilio


@pytest.fixture
async def served(store: Store, tmp_path: Path, twilio: FakeTwilio) -> AsyncIterator[Served]:
    media = LocalMediaStore(tmp_path / "media")
    ref = await media.save(JPEG, "image/jpeg")
    clock = Clock(datetime(2026, 3, 2, 7, 0, tzinfo=UTC))
    # The route only checks signatures, so the base URL it was built with does not matter.
    checking = MediaLinks.for_auth_token(twilio.auth_token, "http://unused", clock=clock)
    app = create_app(health=Health(store), extra_routes=media_routes(checking, media))
    async with serving(app) as url:
        links = MediaLinks.for_auth_token(twilio.auth_token, url, clock=clock)
        yield Served(url, links, clock, MediaItem("image/jpeg", len(JPEG), ref), twilio)


async def _get(url: str) -> httpx.Response:
    async with httpx.AsyncClient(trust_env=False) as client:
        return await client.get(url)


def _with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query)) | changes
    return parts._replace(query=urlencode(query)).geturl()


async def test_a_photo_sent_on_whatsapp_is_a_signed_media_url_twilio_can_fetch(
    served: Served,
) -> None:
    sender = WhatsAppSender(
        account_sid=served.twilio.account_sid,
        auth_token=served.twilio.auth_token,
        from_number=served.twilio.whatsapp_from,
        api_base_url=served.twilio.base_url,
        media_url_for=served.links.url_for,
    )
    async with sender:
        await sender.send(AGENT, Reply("Submission #4: 10 × Horn pendant", media=(served.photo,)))

    [message] = served.twilio.messages
    assert message.to == f"whatsapp:{AGENT}"
    [url] = message.media_urls
    assert url.startswith(f"{served.url}/media/{served.photo.ref}?")
    fetched = await _get(url)
    assert fetched.status_code == 200
    assert fetched.headers["content-type"] == "image/jpeg"
    assert fetched.content == JPEG


async def test_a_tampered_signature_is_refused(served: Served) -> None:
    url = served.links.url_for(served.photo)
    signature = dict(parse_qsl(urlsplit(url).query))["signature"]
    forged = signature[:-1] + ("A" if signature[-1] != "A" else "B")

    assert (await _get(_with_query(url, signature=forged))).status_code == 404
    assert (await _get(url.split("?")[0])).status_code == 404


async def test_a_later_expiry_on_a_signed_link_is_refused(served: Served) -> None:
    url = served.links.url_for(served.photo)
    expires = int(dict(parse_qsl(urlsplit(url).query))["expires"])

    assert (await _get(_with_query(url, expires=str(expires + 3600)))).status_code == 404


async def test_an_expired_link_is_refused(served: Served) -> None:
    url = served.links.url_for(served.photo)
    assert (await _get(url)).status_code == 200

    served.clock.now += timedelta(hours=2)

    assert (await _get(url)).status_code == 404


async def test_a_link_signed_for_one_file_does_not_open_another(served: Served) -> None:
    url = served.links.url_for(served.photo)
    other = "0" * 32 + ".jpg"

    assert (await _get(url.replace(served.photo.ref, other))).status_code == 404


async def test_only_refs_the_media_store_issues_are_served(served: Served) -> None:
    for ref in ("../../etc/passwd", "notes.txt", "0" * 32 + ".csv"):
        signed = served.links.url_for(MediaItem("image/jpeg", 1, ref))
        assert (await _get(signed)).status_code == 404
