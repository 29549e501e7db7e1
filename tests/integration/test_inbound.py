"""Accepting inbound messages: the one-transaction fast path, the queue behind it, recovery."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from bot.channels.inbound import Inbound, pending_media
from bot.channels.media import MediaRefused, RemoteMedia
from conversations.engine import Engine
from conversations.i18n import t
from conversations.messages import Incoming, MediaItem, Reply
from conversations.registry import REGISTRY
from domain.model import Channel, InboundStatus
from domain.store import Store
from tests.conftest import FakeClock
from tests.integration.conversation_driver import inbound, outbox, seed_catalogue

ADDRESS = "whatsapp:+254711000001"


class HeldFetcher:
    """Downloads nothing until the test lets it go, then hands back one stored photo per link."""

    def __init__(self) -> None:
        self.release = asyncio.Event()

    async def fetch_all(
        self, links: Sequence[RemoteMedia], *, documents: bool = False
    ) -> tuple[tuple[MediaItem, ...], tuple[MediaRefused, ...]]:
        await self.release.wait()
        return tuple(MediaItem("image/jpeg", 10, f"photo-{n}.jpg") for n in range(len(links))), ()


@pytest.fixture
async def engine(store: Store) -> Engine:
    await seed_catalogue(store)
    return Engine(store, registry=REGISTRY)


def inbound_path(
    store: Store, engine: Engine, clock: FakeClock, handled: list[str], fetcher: HeldFetcher
) -> Inbound:
    async def after_handled(incoming: Incoming) -> None:
        handled.append(incoming.provider_message_id)

    return Inbound(
        store,
        engine,
        clock=clock.now,
        fetchers={Channel.WHATSAPP: fetcher},
        max_media_bytes=1 << 20,
        after_handled=after_handled,
    )


def text(sid: str, body: str, clock: FakeClock) -> Incoming:
    return Incoming(Channel.WHATSAPP, ADDRESS, sid, text=body, received_at=clock.now())


async def test_a_text_message_is_handled_and_answered_before_its_webhook_returns(
    store: Store, engine: Engine, clock: FakeClock
) -> None:
    handled: list[str] = []
    path = inbound_path(store, engine, clock, handled, HeldFetcher())

    assert await path.receive(text("SM-1", "hi", clock)) is True

    assert handled == ["SM-1"]
    assert path.in_flight == 0  # nothing left for a background task
    [received] = await inbound(store)
    assert received.status is InboundStatus.PROCESSED
    [reply] = await outbox(store, address=ADDRESS)
    assert t("en", "registration.welcome") in Reply.from_json(reply.body).text
    assert await path.receive(text("SM-1", "hi", clock)) is False  # a redelivery
    assert handled == ["SM-1"]
    assert len(await outbox(store, address=ADDRESS)) == 1


async def test_a_message_behind_one_still_fetching_its_photo_waits_its_turn(
    store: Store, engine: Engine, clock: FakeClock
) -> None:
    handled: list[str] = []
    fetcher = HeldFetcher()
    path = inbound_path(store, engine, clock, handled, fetcher)
    photo = Incoming(
        Channel.WHATSAPP,
        ADDRESS,
        "SM-1",
        media=pending_media([RemoteMedia("https://api.twilio.com/m/1", "image/jpeg", 10)]),
        received_at=clock.now(),
    )

    assert await path.receive(photo) is True
    assert await path.receive(text("SM-2", "hi", clock)) is True
    assert handled == []  # both accepted, neither handled: the photo is still downloading
    assert {row.status for row in await inbound(store)} == {InboundStatus.RECEIVED}

    fetcher.release.set()
    await path.drain(grace=5)

    assert handled == ["SM-1", "SM-2"]
    assert {row.status for row in await inbound(store)} == {InboundStatus.PROCESSED}
    # Handled in arrival order: the photo's answer is queued before the greeting's.
    queued = await outbox(store, address=ADDRESS)
    rows = {row.provider_message_id: row.id for row in await inbound(store)}
    assert queued[0].in_reply_to == rows["SM-1"]
    assert queued[-1].in_reply_to == rows["SM-2"]


async def test_a_message_accepted_before_a_stop_is_handled_by_the_next_start(
    store: Store, engine: Engine, clock: FakeClock
) -> None:
    message = text("SM-1", "hi", clock)
    assert await engine.accept(message, now=clock.now()) is True  # then the process died
    handled: list[str] = []
    restarted = inbound_path(store, Engine(store, registry=REGISTRY), clock, handled, HeldFetcher())

    assert await restarted.recover() == 1
    await restarted.drain(grace=5)

    assert handled == ["SM-1"]
    [received] = await inbound(store)
    assert received.status is InboundStatus.PROCESSED
    assert len(await outbox(store, address=ADDRESS)) == 1
