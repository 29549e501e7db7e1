"""The console channel, driven through StringIO on the real engine and store."""

from __future__ import annotations

import io
from pathlib import Path

from sqlmodel import select

from bot.channels.console import (
    deliver,
    resolve_identity,
    run_console,
    sniff_content_type,
    store_media,
)
from conversations.i18n import t
from domain.model import Channel, ChannelIdentity, OutboxStatus
from domain.store import Store
from tests.conftest import FakeClock
from tests.integration.conversation_driver import add_staff, outbox, seed_catalogue

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64
PDF = b"%PDF-1.7\n" + b"\x00" * 64


async def _chat(store: Store, clock: FakeClock, address: str, lines: str, media: Path) -> str:
    output = io.StringIO()
    await run_console(
        store,
        channel_address=address,
        input_stream=io.StringIO(lines),
        output=output,
        media_dir=media,
        clock=clock.now,
    )
    return output.getvalue()


async def test_a_stranger_registers_from_the_console_with_numbered_choices(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    await seed_catalogue(store)
    transcript = await _chat(
        store,
        clock,
        "+254712345678",
        "hello\n2\nAchieng\nPembe Group\n3\nKariobangi\n30\n1\nndiyo\n",
        tmp_path / "media",
    )
    assert "karakana> 1. English\nkarakana> 2. Kiswahili" in transcript
    assert "karakana> 1. Tumia 0712 345 678" in transcript
    assert f"karakana> {t('sw', 'registration.received', name='Achieng')}" in transcript
    assert "you> Pembe Group" in transcript
    async with store.transaction() as session:
        identity = (await session.exec(select(ChannelIdentity))).one()
    assert (identity.channel, identity.address) == (Channel.CONSOLE, "+254712345678")
    assert {m.status for m in await outbox(store)} == {OutboxStatus.SENT}


async def test_a_photo_line_sends_a_copy_under_our_own_id_with_its_sniffed_type(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    photo = tmp_path / "IMG 0001.jpg"
    photo.write_bytes(JPEG)
    media = tmp_path / "media"
    transcript = await _chat(store, clock, "someone", f"hi\n1\nphoto: {photo}\n", media)
    [copy] = list(media.iterdir())
    assert copy.name != photo.name
    assert copy.suffix == ".jpg"
    assert copy.read_bytes() == JPEG
    # Registration asks for a name, so the photo gets the polite hint, in the console too.
    assert f"karakana> {t('en', 'engine.photo_not_expected')}" in transcript


async def test_a_pdf_named_like_a_photo_is_not_taken_for_one(tmp_path: Path) -> None:
    fake = tmp_path / "receipt.jpg"
    fake.write_bytes(PDF)
    item = store_media(fake, tmp_path / "media")
    assert item.content_type == "application/pdf"
    assert item.ref.endswith(".pdf")
    assert sniff_content_type(JPEG) == ("image/jpeg", ".jpg")


async def test_a_missing_photo_file_is_reported_locally_and_nothing_is_sent(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    transcript = await _chat(
        store, clock, "someone", "photo: /no/such/file.jpg\n", tmp_path / "media"
    )
    assert "(not sent: no file at /no/such/file.jpg)" in transcript
    assert await outbox(store) == []


async def test_an_existing_person_is_found_by_any_of_their_addresses(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    agent = await add_staff(
        store,
        clock,
        name="Otieno",
        address="whatsapp:+254722000111",
        channel=Channel.WHATSAPP,
    )
    identity = await resolve_identity(store, "0722 000 111")
    assert identity.person is not None
    assert identity.person.id == agent.id

    transcript = await _chat(store, clock, "0722 000 111", "hi\n/quit\nhi\n", tmp_path / "m")
    assert "(chatting as Otieno, field_agent" in transcript
    assert transcript.count(t("en", "menu.title", name="Otieno")) == 1


async def test_business_messages_that_arrived_meanwhile_are_shown_on_arrival(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    await seed_catalogue(store)
    await add_staff(store, clock, name="Otieno", address="agent", channel=Channel.CONSOLE)
    await _chat(
        store,
        clock,
        "artisan",
        "hi\n1\nWanjiru\nKazi\n1\nKibera\n40\n0712345678\nyes\n",
        tmp_path / "m",
    )
    transcript = await _chat(store, clock, "agent", "/quit\n", tmp_path / "m")
    assert "karakana> New artisan to verify: #2 “Wanjiru”" in transcript
    assert "karakana> 1. Verify" in transcript
    assert await deliver(store, "agent") == []
