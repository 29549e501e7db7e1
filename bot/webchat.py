"""The local web chat: try Karakana in a browser, as anyone in the database, with no accounts.

``karakana run`` mounts these routes when no channel credentials are configured. It is the
console channel with a page in front of it: the same engine, store and outbox as WhatsApp and
Telegram, on ``Channel.WEB`` identities. Chatting "as" a person links a web identity to them
(``bot.console.resolve_identity``); a new person gets a fresh ``web-…`` address and registers like
any stranger. The web chat is its own dispatcher: ``GET /webchat/messages`` hands over whatever
the outbox holds for that address, marking it sent, and returns every sent message after the
page's cursor (the outbox ``sequence``), so a poll whose answer was lost is simply asked again.

Photos arrive as the raw request body (``Content-Type`` the file's type, the address in the query
string), so no multipart parser is needed, and pass ``bot.media.keep_image`` like every channel's.

There is no login: anyone who can reach the page can speak as anyone. It is for trying Karakana on
one's own machine and is only ever served on loopback, never beside real channel credentials.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.console import ConsoleIdentity, deliver, resolve_identity
from bot.media import (
    DEFAULT_MAX_IMAGE_BYTES,
    MediaRefused,
    MediaStore,
    checked_image_type,
    keep_image,
    normalise_content_type,
    refuse_if_too_large,
)
from conversations.engine import ConversationBusy, Engine
from conversations.messages import Choice, Incoming, InvalidPayload, MediaItem, Reply, check_payload
from domain.model import (
    ArtisanProfile,
    Channel,
    ChannelIdentity,
    OutboxMessage,
    OutboxStatus,
    Person,
    Role,
)
from domain.store import Store

STATIC_DIR = Path(__file__).parent / "static"

# A new person's address: issued by this page, so a mistyped phone number is refused rather than
# quietly starting a registration under it.
NEW_ADDRESS = re.compile(r"web-[0-9a-f]{12}")
MAX_ADDRESS_LENGTH = 64  # ChannelIdentity.address
MAX_TEXT_CHARS = 2000  # the engine hints above 500; a body far beyond that is not a chat message
MAX_JSON_BYTES = 16 * 1024
_DELIVERED = (OutboxStatus.SENT, OutboxStatus.DELIVERED, OutboxStatus.READ)
# Where to find someone when they have no web identity yet, best first.
_CHANNEL_ORDER = (Channel.WEB, Channel.WHATSAPP, Channel.TELEGRAM, Channel.CONSOLE)
_ROLE_ORDER = (Role.ADMIN, Role.FIELD_AGENT, Role.ARTISAN)

# The page loads nothing from the network, and the browser is told so.
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' blob:; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_ASSETS = {
    "webchat.js": "text/javascript; charset=utf-8",
    "webchat.css": "text/css; charset=utf-8",
}


class BadRequest(Exception):
    """Input the web chat refuses; ``message`` tells the person what to send instead."""

    def __init__(self, message: str, status_code: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


@dataclass(frozen=True, slots=True)
class _Message:
    """What the page sent, checked, before anything is stored."""

    text: str = ""
    payload: str | None = None
    photo: bytes | None = None
    photo_type: str | None = None


def webchat_routes(
    store: Store,
    engine: Engine,
    media_store: MediaStore,
    *,
    clock: Callable[[], datetime],
    max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES,
) -> list[BaseRoute]:
    """``GET /`` (the page), ``GET /webchat/people``, ``POST /webchat/send``,
    ``GET /webchat/messages``, ``GET /webchat/media/{ref}`` and the page's script and style."""
    chat = WebChat(store, engine, media_store, clock=clock, max_image_bytes=max_image_bytes)
    return [
        Route("/", chat.page, methods=["GET"]),
        Route("/webchat/static/{name}", chat.asset, methods=["GET"]),
        Route("/webchat/people", chat.people, methods=["GET"]),
        Route("/webchat/send", chat.send, methods=["POST"]),
        Route("/webchat/messages", chat.messages, methods=["GET"]),
        Route("/webchat/media/{ref}", chat.media, methods=["GET"]),
    ]


class WebChat:
    def __init__(
        self,
        store: Store,
        engine: Engine,
        media_store: MediaStore,
        *,
        clock: Callable[[], datetime],
        max_image_bytes: int,
    ) -> None:
        self._store = store
        self._engine = engine
        self._media = media_store
        self._clock = clock
        self._max_image_bytes = max_image_bytes

    # --- the page -----------------------------------------------------------------------------

    async def page(self, request: Request) -> Response:
        return _static("webchat.html", "text/html; charset=utf-8")

    async def asset(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in _ASSETS:
            return _error(f"no such file {name!r}", 404)
        return _static(name, _ASSETS[name])

    async def media(self, request: Request) -> Response:
        """A photo in the media store, for the page to show; only refs the store issued."""
        ref = request.path_params["ref"]
        content_type = _type_of_ref(ref)
        try:
            content = await self._media.load(ref)
        except (ValueError, FileNotFoundError):
            return _error("no such photo", 404)
        return Response(content, media_type=content_type, headers=_SECURITY_HEADERS)

    # --- the API ------------------------------------------------------------------------------

    async def people(self, request: Request) -> Response:
        """Everyone one can chat as, admins first, and a fresh address for a new person."""
        async with self._store.transaction() as session:
            people = list(await session.exec(select(Person).order_by(col(Person.name))))
            identities = list(
                await session.exec(select(ChannelIdentity).order_by(col(ChannelIdentity.id)))
            )
            profiles = {p.person_id: p for p in await session.exec(select(ArtisanProfile))}
        addresses = _addresses(identities)
        listed = [
            {
                **_person_json(person, profiles.get(person.id or 0)),
                "address": addresses[person.id],
            }
            for person in sorted(people, key=lambda p: _ROLE_ORDER.index(p.role))
            if person.id in addresses  # nobody reachable at no address can be chatted as
        ]
        return _json({"people": listed, "new_person": {"address": f"web-{uuid.uuid4().hex[:12]}"}})

    async def send(self, request: Request) -> Response:
        """One message from the page: JSON ``{address, text}`` or ``{address, payload}`` (a
        button), or a photo as the raw body with ``?address=``. Handled before answering."""
        try:
            address, message = await self._read(request)
            identity = await self._identity(address)
            media: tuple[MediaItem, ...] = ()
            if message.photo is not None:
                media = (
                    await keep_image(
                        self._media, message.photo, message.photo_type, self._max_image_bytes
                    ),
                )
        except BadRequest as problem:
            return _error(problem.message, problem.status_code)
        except MediaRefused as refused:
            return _error(f"that file was not sent: {refused.detail}")
        now = self._clock()
        incoming = Incoming(
            channel=Channel.WEB,
            address=identity.address,
            provider_message_id=f"web-{uuid.uuid4().hex}",
            text=message.text,
            media=media,
            button_payload=message.payload,
            received_at=now,
        )
        try:
            await self._engine.handle(incoming, now=now)
        except ConversationBusy:
            return _error("this conversation is busy; send that again in a moment", 503)
        return _json(
            {
                "address": identity.address,
                "media": [_media_json(item) for item in media],
            }
        )

    async def messages(self, request: Request) -> Response:
        """Replies for one web address after the cursor ``after`` (a sequence number), oldest
        first; whatever was still queued is handed over (marked sent) first."""
        try:
            after = _cursor(request.query_params.get("after", "0"))
            identity = await self._identity(request.query_params.get("address"))
        except BadRequest as problem:
            return _error(problem.message, problem.status_code)
        await deliver(self._store, identity.address, channel=Channel.WEB)
        async with self._store.transaction() as session:
            rows = list(
                await session.exec(
                    select(OutboxMessage)
                    .where(
                        OutboxMessage.channel == Channel.WEB,
                        OutboxMessage.address == identity.address,
                        col(OutboxMessage.status).in_(_DELIVERED),
                        OutboxMessage.sequence > after,
                    )
                    .order_by(col(OutboxMessage.sequence))
                )
            )
            # Looked up afresh: a new person may have registered since the page last asked.
            person = await _person_at(session, identity.address)
            profile = None if person is None else await session.get(ArtisanProfile, person.id)
        return _json(
            {
                "address": identity.address,
                "person": None if person is None else _person_json(person, profile),
                "messages": [_outbox_json(row) for row in rows],
                "cursor": rows[-1].sequence if rows else after,
            }
        )

    # --- checking input -----------------------------------------------------------------------

    async def _read(self, request: Request) -> tuple[str | None, _Message]:
        content_type = normalise_content_type(request.headers.get("content-type"))
        if content_type == "application/json":
            body = await _body(request, MAX_JSON_BYTES)
            return _json_message(body)
        # Anything else is a photo upload: the raw file, its type in the header.
        _refuse_long_upload(request, self._max_image_bytes)
        photo = await _body(request, self._max_image_bytes)
        if not photo:
            raise BadRequest("the upload was empty; choose a photo to send")
        declared = None if content_type == "application/octet-stream" else content_type
        try:
            refuse_if_too_large(len(photo), self._max_image_bytes)
            actual = checked_image_type(photo, declared)
        except MediaRefused as refused:
            raise BadRequest(f"that file was not sent: {refused.detail}") from refused
        return request.query_params.get("address"), _Message(photo=photo, photo_type=actual)

    async def _identity(self, raw: object) -> ConsoleIdentity:
        """Who ``raw`` is, linked to a web identity; a stranger only at an address we issued."""
        if not isinstance(raw, str) or not raw.strip():
            raise BadRequest("say who is chatting: give an address from /webchat/people")
        address = raw.strip()
        if len(address) > MAX_ADDRESS_LENGTH or not address.isprintable():
            raise BadRequest(f"an address is at most {MAX_ADDRESS_LENGTH} printable characters")
        identity = await resolve_identity(self._store, address, channel=Channel.WEB)
        if identity.person is None and not NEW_ADDRESS.fullmatch(identity.address):
            raise BadRequest(
                f"nobody in the database chats as {address!r}; pick someone from "
                "/webchat/people, or chat as the new person it offers"
            )
        return identity


def _refuse_long_upload(request: Request, max_bytes: int) -> None:
    """Refuse an upload by its declared length before reading a byte of it."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise BadRequest(f"that file is over the {max_bytes // (1024 * 1024)} MB limit", 413)


async def _body(request: Request, limit: int) -> bytes:
    """The request body, refused as soon as it grows past ``limit`` (the length header may lie
    or be absent)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BadRequest(f"the request is over the {limit}-byte limit", 413)
        chunks.append(chunk)
    return b"".join(chunks)


def _json_message(body: bytes) -> tuple[str | None, _Message]:
    try:
        raw: Any = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise BadRequest('send a JSON object: {"address": "...", "text": "..."}')
    text, payload = raw.get("text", ""), raw.get("payload")
    if not isinstance(text, str):
        raise BadRequest("text must be a string")
    if len(text) > MAX_TEXT_CHARS:
        raise BadRequest(f"a message is at most {MAX_TEXT_CHARS} characters")
    if payload is not None:
        if not isinstance(payload, str):
            raise BadRequest("payload must be a string: the payload of a choice button")
        try:
            check_payload(payload)
        except InvalidPayload as exc:
            raise BadRequest(str(exc)) from exc
        return raw.get("address"), _Message(text=text, payload=payload)
    if not text.strip():
        raise BadRequest("the message is empty; type something to send")
    return raw.get("address"), _Message(text=text)


def _cursor(raw: str) -> int:
    if not raw.isdigit() or len(raw) > 12:
        raise BadRequest("after must be a whole number: the cursor of the last messages seen")
    return int(raw)


async def _person_at(session: AsyncSession, address: str) -> Person | None:
    return (
        await session.exec(
            select(Person)
            .join(ChannelIdentity, col(ChannelIdentity.person_id) == Person.id)
            .where(ChannelIdentity.channel == Channel.WEB, ChannelIdentity.address == address)
        )
    ).first()


def _addresses(identities: list[ChannelIdentity]) -> dict[int, str]:
    """For each person, the address to chat as: their web one, else where they chat most."""
    best: dict[int, ChannelIdentity] = {}
    for identity in identities:
        current = best.get(identity.person_id)
        if current is None or _CHANNEL_ORDER.index(identity.channel) < _CHANNEL_ORDER.index(
            current.channel
        ):
            best[identity.person_id] = identity
    return {person_id: identity.address for person_id, identity in best.items()}


def _person_json(person: Person, profile: ArtisanProfile | None) -> dict[str, Any]:
    return {
        "id": person.id,
        "name": person.name,
        "role": str(person.role),
        "area": person.area,
        "status": None if profile is None else str(profile.status),
    }


def _outbox_json(row: OutboxMessage) -> dict[str, Any]:
    reply = Reply.from_json(row.body)
    return {
        "sequence": row.sequence,
        "kind": str(row.kind),
        "at": row.created_at.isoformat(),
        "text": reply.text,
        "choices": [_choice_json(choice) for choice in reply.choices],
        "media": [_media_json(item) for item in reply.media],
    }


def _choice_json(choice: Choice) -> dict[str, str]:
    return {"payload": choice.payload, "label": choice.label}


def _media_json(item: MediaItem) -> dict[str, Any]:
    return {
        "content_type": item.content_type,
        "size": item.size,
        "ref": item.ref,
        "url": f"/webchat/media/{item.ref}",
    }


def _type_of_ref(ref: str) -> str:
    suffix = ref.rsplit(".", 1)[-1]
    return {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}.get(
        suffix, "application/octet-stream"
    )


@cache
def _asset(name: str) -> bytes:
    return (STATIC_DIR / name).read_bytes()


def _static(name: str, media_type: str) -> Response:
    return Response(_asset(name), media_type=media_type, headers=_SECURITY_HEADERS)


def _json(content: dict[str, Any], status_code: int = 200) -> JSONResponse:
    return JSONResponse(content, status_code=status_code, headers=_SECURITY_HEADERS)


def _error(message: str, status_code: int = 400) -> JSONResponse:
    return _json({"error": message}, status_code)


__all__ = ["MAX_TEXT_CHARS", "NEW_ADDRESS", "BadRequest", "WebChat", "webchat_routes"]
