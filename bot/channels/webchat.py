"""The local web chat: try Karakana in a browser, as anyone in the database, with no accounts.

``karakana run`` mounts these routes only as a local demo: when no channel (WhatsApp, Telegram,
M-Pesa) is configured and ``HOST`` is a loopback address (``bot.settings.webchat_refusal`` decides,
and ``bot.main.build_bot`` is the only place that mounts them). It is the console channel with
a page in front of it: the same engine, store and outbox as WhatsApp and Telegram, on
``Channel.WEB`` identities. Chatting "as" a person links a web identity to them
(``bot.channels.console.resolve_identity``); a new person gets a fresh ``web-…`` address and
registers like any stranger. The web chat is its own dispatcher: ``GET /webchat/messages`` hands
over whatever the outbox holds for that address, marking it sent, and returns every sent message
after the page's cursor (the outbox ``sequence``), so a poll whose answer was lost is simply asked
again. With ``history=1`` (the page asks so when a person is chosen) it also returns the whole
conversation so far, on every channel the person uses: what they said and what Karakana said,
in order. Every poll also lists the person's messages *held* on another channel: the web chat is
only served when no channel is configured, so an offer queued for a WhatsApp-only artisan waits in
the outbox; the page shows it, marked "held: would go by WhatsApp", without sending or marking it.

A file arrives as the raw request body (``Content-Type`` the file's type; the address, an optional
caption and the page's message id in the query string), so no multipart parser is needed. It
passes ``bot.channels.media.keep_file`` like every channel's: photos from anyone, and from an admin
also a CSV or text document (the orders CSV that ``/import_orders``, as its caption, reads back).
A file refused for its type or size is answered in the chat with the same polite words the other
channels use, and its caption still reaches the engine; only an upload past the hard size limit,
or an empty one, is refused over HTTP, before anything is kept.

Every message the page sends carries an id the page chose; it is the provider message id, so a
retry after a lost answer is recognised as the message already accepted: the file is not kept a
second time and nothing is answered twice.

There is no login: anyone who can reach the page can list everyone (name, role, phone) and speak
as anyone, an admin included. That is why it is for trying Karakana on one's own machine only:
anywhere else ``/`` and ``/webchat/...`` answer 404 and start-up says why the web chat is off.
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

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.channels.console import ConsoleIdentity, deliver, resolve_identity
from bot.channels.inbound import answer_refused_files
from bot.channels.media import (
    ACCEPTED_DOCUMENT_TYPES,
    DEFAULT_MAX_DOCUMENT_BYTES,
    DEFAULT_MAX_IMAGE_BYTES,
    MediaRefused,
    MediaStore,
    keep_file,
    normalise_content_type,
)
from conversations.engine import ConversationBusy, Engine
from conversations.locks import KeyedLocks
from conversations.messages import Choice, Incoming, InvalidPayload, MediaItem, Reply, check_payload
from domain.model import (
    ArtisanProfile,
    Channel,
    ChannelIdentity,
    InboundMessage,
    InboundStatus,
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
# The id the page gives a message (random, so two tabs never collide), its dedupe key on retry.
MESSAGE_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
MAX_ADDRESS_LENGTH = 64  # ChannelIdentity.address
MAX_TEXT_CHARS = 2000  # the engine hints above 500; a body far beyond that is not a chat message
MAX_JSON_BYTES = 16 * 1024
_DELIVERED = (OutboxStatus.SENT, OutboxStatus.DELIVERED, OutboxStatus.READ)
_WAITING = (OutboxStatus.QUEUED, OutboxStatus.SENDING)
# Channels that read their own outbox: nothing queued for them is ever held.
_SELF_DISPATCHED = (Channel.WEB, Channel.CONSOLE)
MAX_HELD_SHOWN = 200
MAX_HISTORY = 500  # the newest this many messages each way; a demo conversation is far shorter
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
_REF_TYPES = {
    "jpg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "csv": "text/csv; charset=utf-8",
    "pdf": "application/pdf",  # an artisan's statement (bot/statements), as a download
    "txt": "text/plain; charset=utf-8",
}


class BadRequest(Exception):
    """Input the web chat refuses; ``message`` tells the person what to send instead."""

    def __init__(self, message: str, status_code: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


@dataclass(frozen=True, slots=True)
class _Upload:
    """A file as the page sent it: its bytes and the type the page declared (None: unknown)."""

    content: bytes
    declared_type: str | None


@dataclass(frozen=True, slots=True)
class _Message:
    """What the page sent, checked, before anything is stored. ``text`` is a file's caption."""

    text: str = ""
    payload: str | None = None
    upload: _Upload | None = None
    message_id: str | None = None


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
        # One attempt at a time per message id, so a retry racing the first attempt waits for
        # it and then finds the message accepted, rather than keeping the file a second time.
        self._attempts: KeyedLocks[str] = KeyedLocks()

    # --- the page -----------------------------------------------------------------------------

    async def page(self, request: Request) -> Response:
        return _static("webchat.html", "text/html; charset=utf-8")

    async def asset(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in _ASSETS:
            return _error(f"no such file {name!r}", 404)
        return _static(name, _ASSETS[name])

    async def media(self, request: Request) -> Response:
        """A file in the media store, for the page to show; only refs the store issued. A
        document is offered as a download, never rendered by the browser."""
        ref = request.path_params["ref"]
        content_type = _type_of_ref(ref)
        try:
            content = await self._media.load(ref)
        except (ValueError, FileNotFoundError):
            return _error("no such file", 404)
        headers = dict(_SECURITY_HEADERS)
        if not content_type.startswith("image/"):
            headers["Content-Disposition"] = f'attachment; filename="{ref}"'
        return Response(content, media_type=content_type, headers=headers)

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
        """One message from the page: JSON ``{address, text, id}`` or ``{address, payload, id}``
        (a button), or a file as the raw body with ``?address=&caption=&id=``. Handled before
        answering; the same ``id`` sent again is answered as the message already handled."""
        try:
            address, message = await self._read(request)
            identity = await self._identity(address)
        except BadRequest as problem:
            return _error(problem.message, problem.status_code)
        provider_id = f"web-{message.message_id or uuid.uuid4().hex}"
        async with self._attempts.hold(provider_id):
            try:
                earlier = await self._earlier(provider_id, identity.address)
            except BadRequest as problem:
                return _error(problem.message, problem.status_code)
            if earlier is not None:
                return _sent(identity.address, earlier.media, duplicate=True)
            now = self._clock()
            media, refused = await self._keep(identity, message.upload)
            incoming = Incoming(
                channel=Channel.WEB,
                address=identity.address,
                provider_message_id=provider_id,
                text=message.text,
                media=media,
                button_payload=message.payload,
                received_at=now,
            )
            try:
                if refused is None or not await self._refuse(
                    identity, incoming, refused, now, max_bytes=self._limit_for(identity, message)
                ):
                    await self._engine.handle(incoming, now=now)
            except ConversationBusy:
                return _error("this conversation is busy; send that again in a moment", 503)
        return _sent(identity.address, media, duplicate=False)

    async def messages(self, request: Request) -> Response:
        """Replies for one web address after the cursor ``after`` (a sequence number), oldest
        first; whatever was still queued is handed over (marked sent) first."""
        try:
            after = _cursor(request.query_params.get("after", "0"))
            history = _flag(request.query_params.get("history", "0"), "history")
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
            addresses = await _addresses_of(session, identity.address, person)
            held = await _held(session, addresses)
            timeline = await _history(session, addresses) if history else None
        answer: dict[str, Any] = {
            "address": identity.address,
            "person": None if person is None else _person_json(person, profile),
            "messages": [_outbox_json(row) for row in rows],
            "held": [_outbox_json(row) for row in held],
            "cursor": rows[-1].sequence if rows else after,
        }
        if timeline is not None:
            answer["history"] = timeline
        return _json(answer)

    # --- a file: kept, or refused politely in the chat ----------------------------------------

    async def _earlier(self, provider_id: str, address: str) -> Incoming | None:
        """The message already handled under this id (a retry), or None to handle it now. One
        accepted but not finished (the process stopped half-way) is finished now."""
        async with self._store.read() as session:
            found = (
                await session.exec(
                    select(
                        InboundMessage.address, InboundMessage.status, InboundMessage.payload
                    ).where(
                        InboundMessage.channel == Channel.WEB,
                        InboundMessage.provider_message_id == provider_id,
                    )
                )
            ).first()
        if found is None:
            return None
        sender, status, payload = found
        if sender != address:
            raise BadRequest("that message id was already used by someone else; send anew", 409)
        if status is InboundStatus.RECEIVED:
            return None
        return Incoming.from_json(payload)

    async def _keep(
        self, identity: ConsoleIdentity, upload: _Upload | None
    ) -> tuple[tuple[MediaItem, ...], MediaRefused | None]:
        """The file kept in the media store, or why it was not. Admins may send a CSV or text
        document too, as on WhatsApp and Telegram; everyone else photos only."""
        if upload is None:
            return (), None
        try:
            item = await keep_file(
                self._media,
                upload.content,
                upload.declared_type,
                self._max_image_bytes,
                documents=_is_admin(identity),
            )
        except MediaRefused as refused:
            return (), refused
        return (item,), None

    async def _refuse(
        self,
        identity: ConsoleIdentity,
        incoming: Incoming,
        refused: MediaRefused,
        now: datetime,
        *,
        max_bytes: int,
    ) -> bool:
        """Accept ``incoming`` (its file dropped) and queue the polite refusal as its answer,
        once; True when that is the whole answer (no caption for the engine to handle)."""
        finished = not incoming.text.strip()
        await self._engine.accept(incoming, now=now)  # False on a retry: it was accepted before
        waiting = await answer_refused_files(
            self._store,
            self._engine.catalogue,
            incoming,
            [refused.reason.value],
            now=now,
            max_bytes=max_bytes,
            finish=finished,
        )
        return finished or not waiting  # not waiting: handled meanwhile (another process)

    def _limit_for(self, identity: ConsoleIdentity, message: _Message) -> int:
        """The size limit a refusal names: that of an admin's document, else of a photo."""
        declared = None if message.upload is None else message.upload.declared_type
        if _is_admin(identity) and declared in ACCEPTED_DOCUMENT_TYPES:
            return min(self._max_image_bytes, DEFAULT_MAX_DOCUMENT_BYTES)
        return self._max_image_bytes

    # --- checking input -----------------------------------------------------------------------

    async def _read(self, request: Request) -> tuple[str | None, _Message]:
        content_type = normalise_content_type(request.headers.get("content-type"))
        if content_type == "application/json":
            body = await _body(request, MAX_JSON_BYTES)
            return _json_message(body)
        # Anything else is a file: the raw bytes, its type in the header, the rest in the query.
        query = request.query_params
        caption = _text(query.get("caption", ""))
        message_id = _message_id(query.get("id"))
        _refuse_long_upload(request, self._max_image_bytes)
        content = await _body(request, self._max_image_bytes, _too_large(self._max_image_bytes))
        if not content:
            raise BadRequest("the upload was empty; choose a photo or file to send")
        declared = None if content_type == "application/octet-stream" else content_type
        return query.get("address"), _Message(
            text=caption, upload=_Upload(content, declared), message_id=message_id
        )

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


def _is_admin(identity: ConsoleIdentity) -> bool:
    return identity.person is not None and identity.person.role is Role.ADMIN


def _sent(address: str, media: tuple[MediaItem, ...], *, duplicate: bool) -> JSONResponse:
    return _json(
        {
            "address": address,
            "media": [_media_json(item) for item in media],
            "duplicate": duplicate,
        }
    )


def _too_large(max_bytes: int) -> str:
    for unit, size in (("MB", 1024 * 1024), ("KB", 1024)):
        if max_bytes >= size:
            return f"that file is over the {max_bytes / size:.3g} {unit} limit; send a smaller one"
    return f"that file is over the {max_bytes}-byte limit; send a smaller one"


def _refuse_long_upload(request: Request, max_bytes: int) -> None:
    """Refuse an upload by its declared length before reading a byte of it."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise BadRequest(_too_large(max_bytes), 413)


async def _body(request: Request, limit: int, too_large: str | None = None) -> bytes:
    """The request body, refused as soon as it grows past ``limit`` (the length header may lie
    or be absent)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BadRequest(too_large or f"the request is over the {limit}-byte limit", 413)
        chunks.append(chunk)
    return b"".join(chunks)


def _text(text: object) -> str:
    if not isinstance(text, str):
        raise BadRequest("text must be a string")
    if len(text) > MAX_TEXT_CHARS:
        raise BadRequest(f"a message is at most {MAX_TEXT_CHARS} characters")
    return text


def _message_id(raw: object) -> str | None:
    """The page's id for a message; None (an older page) gets a fresh one, never deduped."""
    if raw is None:
        return None
    if not isinstance(raw, str) or not MESSAGE_ID.fullmatch(raw):
        raise BadRequest("id must be 8 to 64 letters, digits, '-' or '_': the message's own id")
    return raw


def _json_message(body: bytes) -> tuple[str | None, _Message]:
    try:
        raw: Any = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise BadRequest('send a JSON object: {"address": "...", "text": "..."}')
    text, payload = _text(raw.get("text", "")), raw.get("payload")
    message_id = _message_id(raw.get("id"))
    if payload is not None:
        if not isinstance(payload, str):
            raise BadRequest("payload must be a string: the payload of a choice button")
        try:
            check_payload(payload)
        except InvalidPayload as exc:
            raise BadRequest(str(exc)) from exc
        return raw.get("address"), _Message(text=text, payload=payload, message_id=message_id)
    if not text.strip():
        raise BadRequest("the message is empty; type something to send")
    return raw.get("address"), _Message(text=text, message_id=message_id)


def _flag(raw: str, name: str) -> bool:
    if raw not in ("0", "1"):
        raise BadRequest(f"{name} must be 0 or 1")
    return raw == "1"


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


async def _addresses_of(
    session: AsyncSession, address: str, person: Person | None
) -> list[tuple[Channel, str]]:
    """Every (channel, address) the person chats at; a stranger only at this web address."""
    found = [(Channel.WEB, address)]
    if person is not None:
        identities = await session.exec(
            select(ChannelIdentity.channel, ChannelIdentity.address).where(
                ChannelIdentity.person_id == person.id
            )
        )
        found += [(Channel(c), at) for c, at in identities if (Channel(c), at) not in found]
    return found


def _at_any(table: Any, addresses: list[tuple[Channel, str]]) -> Any:
    return sa.or_(*(sa.and_(table.channel == c, table.address == a) for c, a in addresses))


async def _held(session: AsyncSession, addresses: list[tuple[Channel, str]]) -> list[OutboxMessage]:
    """What waits for the person on a channel nobody sends on (none is configured beside the web
    chat), oldest first."""
    others = [(c, a) for c, a in addresses if c not in _SELF_DISPATCHED]
    if not others:
        return []
    rows = await session.exec(
        select(OutboxMessage)
        .where(_at_any(OutboxMessage, others), col(OutboxMessage.status).in_(_WAITING))
        .order_by(col(OutboxMessage.id))
        .limit(MAX_HELD_SHOWN)
    )
    return list(rows)


async def _history(
    session: AsyncSession, addresses: list[tuple[Channel, str]]
) -> list[dict[str, Any]]:
    """The conversation so far on all the person's addresses: what they sent, and what Karakana
    sent or holds for them, in order. A reply follows the message it answers; a business message
    follows the last message the person had sent by the time it was queued."""
    inbound = list(
        await session.exec(
            select(InboundMessage)
            .where(_at_any(InboundMessage, addresses))
            .order_by(col(InboundMessage.id).desc())
            .limit(MAX_HISTORY)
        )
    )
    inbound.reverse()
    web_delivered = sa.and_(
        col(OutboxMessage.channel).in_(_SELF_DISPATCHED), col(OutboxMessage.status).in_(_DELIVERED)
    )
    outbound = list(
        await session.exec(
            select(OutboxMessage)
            .where(
                _at_any(OutboxMessage, addresses),
                sa.or_(web_delivered, col(OutboxMessage.channel).not_in(_SELF_DISPATCHED)),
            )
            .order_by(col(OutboxMessage.id).desc())
            .limit(MAX_HISTORY)
        )
    )
    outbound.reverse()
    keyed: list[tuple[tuple[int, int, int], dict[str, Any]]] = [
        ((row.id or 0, 0, 0), _inbound_json(row)) for row in inbound
    ]
    for row in outbound:
        anchor = row.in_reply_to
        if anchor is None:
            earlier = [m.id or 0 for m in inbound if m.received_at <= row.created_at]
            anchor = max(earlier, default=0)
        keyed.append(((anchor, 1, row.id or 0), _outbox_json(row)))
    keyed.sort(key=lambda pair: pair[0])
    return [entry for _, entry in keyed]


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
        "key": f"out-{row.id}",
        "from": "karakana",
        "channel": str(row.channel),
        "held": row.channel not in _SELF_DISPATCHED and row.status in _WAITING,
        "sequence": row.sequence,
        "kind": str(row.kind),
        "at": row.created_at.isoformat(),
        "text": reply.text,
        "choices": [_choice_json(choice) for choice in reply.choices],
        "media": [_media_json(item) for item in reply.media],
        # Only when False: a quantity question's shortcuts ("All 15"), shown without numbers.
        **({} if reply.numbered else {"numbered": False}),
    }


def _inbound_json(row: InboundMessage) -> dict[str, Any]:
    message = Incoming.from_json(row.payload)
    return {
        "key": f"in-{row.id}",
        "from": "person",
        "channel": str(row.channel),
        "held": False,
        "sequence": None,
        "kind": "inbound",
        "at": row.received_at.isoformat(),
        "text": message.text,
        "choices": [],
        "media": [_media_json(item) for item in message.media],
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
    return _REF_TYPES.get(ref.rsplit(".", 1)[-1], "application/octet-stream")


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
