"""Chat with Karakana in a terminal, as anyone in the database: the console channel.

Same engine, same store, same outbox as WhatsApp and Telegram. Each line typed is one message;
``photo: /path/to/file.jpg`` sends a photo (copied into the media folder under our own id, its
content type read from the file's first bytes, never trusted from the name). The console is its
own dispatcher: after each message it prints and marks sent whatever the outbox holds for this
console address, including business messages that arrived meanwhile (an agent's verification).
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from sqlmodel import col, select

from conversations.engine import Engine
from conversations.messages import Incoming, MediaItem, Reply
from conversations.outbox import queued_for
from conversations.registry import REGISTRY
from domain.model import OUTBOX_TRANSITIONS, Channel, ChannelIdentity, OutboxStatus, Person
from domain.phone import InvalidPhoneNumber, normalise_kenyan_mobile
from domain.services.people import link_identity
from domain.store import Store

PHOTO_PREFIX = "photo:"
QUIT_WORDS = frozenset({"/quit", "/exit", "quit", "exit"})
MAX_MEDIA_BYTES = 10 * 1024 * 1024

# First bytes of the formats people send, so a renamed PDF is not taken for a photo.
_SIGNATURES: tuple[tuple[bytes, int, str, str], ...] = (
    (b"\xff\xd8\xff", 0, "image/jpeg", ".jpg"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png", ".png"),
    (b"GIF87a", 0, "image/gif", ".gif"),
    (b"GIF89a", 0, "image/gif", ".gif"),
    (b"WEBP", 8, "image/webp", ".webp"),
    (b"ftypheic", 4, "image/heic", ".heic"),
    (b"%PDF-", 0, "application/pdf", ".pdf"),
    (b"OggS", 0, "audio/ogg", ".ogg"),
)


def sniff_content_type(head: bytes) -> tuple[str, str]:
    """``(content type, file extension)`` from a file's first bytes."""
    for signature, offset, content_type, extension in _SIGNATURES:
        if head[offset : offset + len(signature)] == signature:
            return content_type, extension
    return "application/octet-stream", ".bin"


class MediaProblem(Exception):
    """A ``photo:`` line we cannot send; the message says what to do."""


def store_media(path: str | Path, media_dir: Path) -> MediaItem:
    """Copy a file into ``media_dir`` under a new id; the file name the user gave is dropped."""
    source = Path(path).expanduser()
    if not source.is_file():
        raise MediaProblem(f"no file at {source}")
    size = source.stat().st_size
    if size == 0 or size > MAX_MEDIA_BYTES:
        raise MediaProblem(f"{source} is {size} bytes; send a file of 1 byte to 10 MB")
    with source.open("rb") as handle:
        content_type, extension = sniff_content_type(handle.read(16))
    media_dir.mkdir(parents=True, exist_ok=True)
    ref = f"{uuid.uuid4().hex}{extension}"
    shutil.copyfile(source, media_dir / ref)
    return MediaItem(content_type=content_type, size=size, ref=ref)


@dataclass(frozen=True, slots=True)
class ConsoleIdentity:
    address: str
    person: Person | None


def _candidates(address: str) -> list[str]:
    """Ways the same person may be written down: as typed, E.164, WhatsApp's form."""
    found = [address]
    try:
        e164 = normalise_kenyan_mobile(address.removeprefix("whatsapp:"))
    except InvalidPhoneNumber:
        return found
    return [*found, e164, f"whatsapp:{e164}"]


async def resolve_identity(
    store: Store, address: str, *, channel: Channel = Channel.CONSOLE
) -> ConsoleIdentity:
    """The person behind ``address`` on any channel, linked to an identity of that address on
    ``channel`` (the console, or the local web chat, which chats "as" someone the same way).

    An address nobody has is a stranger on that channel: they are offered registration.
    """
    address = address.strip()
    async with store.transaction() as session:
        rows = await session.exec(
            select(ChannelIdentity)
            .where(col(ChannelIdentity.address).in_(_candidates(address)))
            .order_by(col(ChannelIdentity.id))
        )
        # The address exactly as given wins over its phone-number readings: a Telegram chat id
        # such as 712345678 also reads as a Kenyan mobile, which may be somebody else's.
        identities = sorted(rows, key=lambda identity: identity.address != address)
        owner = identities[0].person_id if identities else None
        console = next(
            (i for i in identities if i.channel is channel and i.person_id == owner), None
        )
        if console is None and identities:
            console = await link_identity(
                session, person_id=identities[0].person_id, channel=channel, address=address
            )
        if console is None:
            return ConsoleIdentity(address, None)
        return ConsoleIdentity(console.address, await session.get(Person, console.person_id))


async def deliver(store: Store, address: str, *, channel: Channel = Channel.CONSOLE) -> list[Reply]:
    """Everything queued for this address on a self-dispatching channel (the console, the local
    web chat), oldest first, marked sent."""
    async with store.transaction() as session:
        messages = await queued_for(session, channel, address)
        replies = []
        for message in messages:
            OUTBOX_TRANSITIONS.check(message.status, OutboxStatus.SENDING)
            message.status = OUTBOX_TRANSITIONS.check(OutboxStatus.SENDING, OutboxStatus.SENT)
            message.attempts += 1
            message.provider_message_id = f"{channel}-{message.id}"
            replies.append(Reply.from_json(message.body))
        return replies


def render(reply: Reply) -> str:
    lines = reply.as_plain_text().splitlines() or [""]
    media = [f"[{item.content_type} {item.ref}]" for item in reply.media]
    return "\n".join(f"karakana> {line}" for line in [*lines, *media])


async def run_console(
    store: Store,
    *,
    channel_address: str,
    engine: Engine | None = None,
    input_stream: TextIO | None = None,
    output: TextIO | None = None,
    media_dir: Path = Path("media"),
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    prompt: str = "you> ",
) -> None:
    """Read lines until end of input (or ``/quit``), printing every reply as it is delivered."""
    source = input_stream or sys.stdin
    sink = output or sys.stdout
    engine = engine or Engine(store, registry=REGISTRY)
    identity = await resolve_identity(store, channel_address)

    def say(text: str) -> None:
        sink.write(text + "\n")
        sink.flush()

    if identity.person is None:
        say(f"(chatting as a new sender at {identity.address}; say hello to register)")
    else:
        say(f"(chatting as {identity.person.name}, {identity.person.role}; /quit to leave)")
    for reply in await deliver(store, identity.address):
        say(render(reply))

    interactive = source.isatty()
    while True:
        if interactive:
            sink.write(prompt)
            sink.flush()
        line = await asyncio.to_thread(source.readline)
        if not line:
            break
        text = line.strip()
        if not text:
            continue
        if not interactive:  # a transcript reads better with what was said
            say(prompt + text)
        if text.casefold() in QUIT_WORDS:
            break
        media: tuple[MediaItem, ...] = ()
        if text.casefold().startswith(PHOTO_PREFIX):
            path = text[len(PHOTO_PREFIX) :].strip()
            try:
                media = (await asyncio.to_thread(store_media, path, media_dir),)
            except MediaProblem as problem:
                say(f"(not sent: {problem})")
                continue
            text = ""
        now = clock()
        await engine.handle(
            Incoming(
                channel=Channel.CONSOLE,
                address=identity.address,
                provider_message_id=f"console-{uuid.uuid4().hex}",
                text=text,
                media=media,
                received_at=now,
            ),
            now=now,
        )
        for reply in await deliver(store, identity.address):
            say(render(reply))
