"""A photo through the real WhatsApp path with the object store configured (bot/storage), with
two Karakana processes' worth of bots on one database and one bucket: the inbound download on
the first lands in the bucket, not in MEDIA_DIR; the outbox sends it back out as a signed
``/media`` link that the fake Twilio fetches, and the second bot serves the same photo from the
bucket, though it never saw it arrive."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from bot.channels.gateways import MediaLinks
from bot.storage.objects import ObjectStore
from conversations.messages import MediaItem, Reply
from conversations.outbox import enqueue
from domain.model import Channel, OutboxKind
from domain.store import Store
from tests.e2e.harness import eventually, running_karakana
from tests.fakes.object_store_server import S3Server, s3_server
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.twilio_api import FakeTwilio

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 8
AGENT = "+254700000019"


def _now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with s3_server() as server:
        yield server


async def test_a_photo_received_is_kept_in_the_bucket_and_sent_back_from_it(
    s3: S3Server, store: Store, tmp_path: Path, twilio: FakeTwilio, telegram: FakeTelegram
) -> None:
    bucket = s3.new_bucket()
    objects = ObjectStore(s3.config(bucket, "e2e"))
    (tmp_path / "b").mkdir()
    shared = s3.settings(bucket, "e2e")
    async with (
        running_karakana(store, tmp_path, twilio, telegram, extra_settings=shared) as karakana,
        running_karakana(store, tmp_path / "b", twilio, telegram, extra_settings=shared) as other,
    ):
        agent = await karakana.add_staff("Juma", channel=Channel.WHATSAPP, address=AGENT)
        url = twilio.add_media(JPEG, "image/jpeg")
        await karakana.whatsapp(AGENT, media={url: "image/jpeg"})
        await eventually(lambda: karakana.texts_to(AGENT))

        [kept] = await eventually(lambda: list(objects.list("media/")))
        assert kept.key.endswith(".jpg")
        assert objects.get(kept.key) == JPEG
        for folder in (tmp_path / "media", tmp_path / "b" / "media"):
            assert not folder.exists() or not any(folder.iterdir())

        ref = kept.key.removeprefix("media/")
        async with karakana.store.transaction() as session:
            await enqueue(
                session,
                channel=Channel.WHATSAPP,
                address=AGENT,
                reply=Reply("Submission #7", media=(MediaItem("image/jpeg", len(JPEG), ref),)),
                kind=OutboxKind.BUSINESS,
                now=datetime.now(UTC),
                person_id=agent.id,
            )
        karakana.bot.dispatcher.wake()
        [sent] = await eventually(lambda: [m for m in twilio.messages if m.media_urls])
        [link] = sent.media_urls  # from whichever bot's dispatcher claimed the message
        assert link.startswith((f"{karakana.url}/media/{ref}?", f"{other.url}/media/{ref}?"))
        by_other = MediaLinks.for_auth_token(twilio.auth_token, other.url, clock=_now)
        async with httpx.AsyncClient(trust_env=False) as client:
            fetched = await client.get(link)
            from_other = await client.get(by_other.url_for(MediaItem("image/jpeg", 0, ref)))
        assert (fetched.status_code, fetched.content) == (200, JPEG)
        assert (from_other.status_code, from_other.content) == (200, JPEG)
    objects.close()
