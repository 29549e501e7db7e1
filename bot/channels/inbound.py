"""Accept-then-process for every inbound chat message, whatever the channel.

A webhook calls ``receive``: the message is persisted (``Engine.accept``) before the provider gets
its 200, then processed in a background task. The task downloads any attachments, then hands the
message to the engine. Until the engine has handled it, the message sits in ``inbound_message``
as RECEIVED, so a crash at any point loses nothing: ``recover`` processes those again at start-up.

Attachments are not downloaded before acknowledging (that could outlast the provider's timeout).
So the accepted message can be re-processed after a crash, it names them with *pending* media
items whose ref is ``pending:<provider locator>`` (a Twilio media URL or a Telegram file_id);
``process`` swaps them for the files in our own store before the engine sees the message.

Files refused (not a photo, too large, on a foreign host) get a polite reply in the sender's
language. When nothing is left to hand on, the refusal is the whole answer and the message is
marked processed in the same transaction, so it is said exactly once.

Messages from one address are processed strictly in arrival order, in the address's turn
(``Engine.turn``, the one per-person lock every channel goes through, the web chat and the console
by ``Engine.handle`` itself): the task takes it before it first awaits anything and holds it while
the attachments are fetched and the message handled.

The fast path. A message with no attachments, from an address with nothing else in flight here,
needs no background step: ``Engine.accept_and_handle`` records, handles and queues its replies in
one transaction before the provider gets its 200 (one commit instead of two, and no task). A crash
before that commit loses nothing the provider was told we have: it got no 200 and delivers again.
Anything else (attachments to fetch, an earlier message from the same address still queued, or a
fast attempt that raised) takes the accept-then-process path above, so order per address holds.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Coroutine, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from sqlmodel import select

from bot.channels.media import DEFAULT_MAX_DOCUMENT_BYTES, MediaRefused, RemoteMedia
from conversations.engine import Engine
from conversations.i18n import Catalogue
from conversations.messages import Incoming, MediaItem, Reply
from conversations.outbox import enqueue
from conversations.refusals import media_refused
from domain.model import (
    Channel,
    InboundMessage,
    InboundStatus,
    Language,
    OutboxKind,
    OutboxMessage,
    Role,
)
from domain.services.people import person_by_identity
from domain.store import Store

log = logging.getLogger(__name__)

PENDING_PREFIX = "pending:"
_DATABASE_RETRY_DELAYS = (1.0, 5.0, 30.0)


class MediaFetcher(Protocol):
    async def fetch_all(
        self, links: Sequence[RemoteMedia], *, documents: bool = False
    ) -> tuple[tuple[MediaItem, ...], tuple[MediaRefused, ...]]: ...


def pending_media(links: Sequence[RemoteMedia]) -> tuple[MediaItem, ...]:
    """Attachments still at the provider, as media items that can be persisted and re-fetched."""
    return tuple(
        MediaItem(
            content_type=link.declared_type or "application/octet-stream",
            size=link.declared_size or 0,
            ref=PENDING_PREFIX + link.locator,
        )
        for link in links
    )


def _remote(item: MediaItem) -> RemoteMedia | None:
    if not item.ref.startswith(PENDING_PREFIX):
        return None
    return RemoteMedia(
        locator=item.ref[len(PENDING_PREFIX) :],
        declared_type=item.content_type,
        declared_size=item.size or None,
    )


class Inbound:
    def __init__(
        self,
        store: Store,
        engine: Engine,
        *,
        clock: Callable[[], datetime],
        fetchers: Mapping[Channel, MediaFetcher] | None = None,
        max_media_bytes: int,
        after_handled: Callable[[Incoming], Coroutine[Any, Any, None]] | None = None,
    ) -> None:
        self._store = store
        self._engine = engine
        self._clock = clock
        self._fetchers = dict(fetchers or {})
        self._max_media_bytes = max_media_bytes
        self._after_handled = after_handled
        self._tasks: set[asyncio.Task[None]] = set()
        # Messages per address between arrival and the end of their handling, on either path:
        # the fast path is only for an address with none, so it cannot overtake a queued one
        # (not a lock: a queued task is counted here before it runs and takes the turn).
        self._active: dict[tuple[Channel, str], int] = {}

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    async def receive(self, incoming: Incoming) -> bool:
        """Persist ``incoming`` and schedule its processing (or, on the fast path, handle it
        before returning); False for a message seen before."""
        key = (incoming.channel, incoming.address)
        fast = not incoming.media and not self._active.get(key)
        self._enter(key)
        try:
            if fast:
                handled = await self._accept_and_handle(incoming)
                if handled is not None:
                    if handled:
                        await self._handled(incoming)
                    return self._seen(incoming, new=handled)
            if not await self._engine.accept(incoming, now=self._clock()):
                return self._seen(incoming, new=False)
            self.schedule(incoming)
            return True
        finally:
            self._leave(key)

    async def _accept_and_handle(self, incoming: Incoming) -> bool | None:
        """True if handled now, False if seen before, None if the fast attempt failed (the
        caller then accepts the message for the background path, which retries it)."""
        try:
            replies = await self._engine.accept_and_handle(incoming, now=self._clock())
        except Exception:
            log.exception(
                "handling a %s message at once failed; queueing it",
                incoming.channel.value,
                extra={"provider_id": incoming.provider_message_id},
            )
            return None
        return replies is not None

    @staticmethod
    def _seen(incoming: Incoming, *, new: bool) -> bool:
        if not new:
            log.info(
                "duplicate %s message ignored",
                incoming.channel.value,
                extra={"provider_id": incoming.provider_message_id},
            )
        return new

    def _enter(self, key: tuple[Channel, str]) -> None:
        self._active[key] = self._active.get(key, 0) + 1

    def _leave(self, key: tuple[Channel, str]) -> None:
        left = self._active[key] - 1
        if left:
            self._active[key] = left
        else:
            del self._active[key]

    def schedule(self, incoming: Incoming) -> None:
        key = (incoming.channel, incoming.address)
        self._enter(key)  # until processed; taken before ``receive`` lets go of its own count
        task = asyncio.create_task(
            self.process(incoming), name=f"inbound-{incoming.provider_message_id}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(lambda _task: self._leave(key))

    async def recover(self) -> int:
        """Process again whatever was accepted but not handled before the last stop."""
        waiting = await self._engine.unprocessed()
        for incoming in waiting:
            self.schedule(incoming)
        if waiting:
            log.warning("re-processing %d message(s) accepted before a stop", len(waiting))
        return len(waiting)

    async def drain(self, *, grace: float) -> None:
        """Let in-flight messages finish (graceful shutdown); cancel what is still going after
        ``grace`` seconds (it stays RECEIVED and is recovered at the next start)."""
        if not self._tasks:
            return
        _, still_running = await asyncio.wait(set(self._tasks), timeout=grace)
        for task in still_running:
            task.cancel()
        if still_running:
            log.warning("%d message(s) left for recovery at the next start", len(still_running))
            await asyncio.wait(still_running)

    async def process(self, incoming: Incoming) -> None:
        async with self._engine.turn(incoming.channel, incoming.address):
            try:
                await self._process_patiently(incoming)
            except Exception:
                # The message stays RECEIVED: the next start-up tries it again.
                log.exception(
                    "processing a %s message failed",
                    incoming.channel.value,
                    extra={"provider_id": incoming.provider_message_id},
                )

    async def _process_patiently(self, incoming: Incoming) -> None:
        """``_process``, tried again while the database is out of reach or too busy (a burst
        bigger than the queue's timeout), still holding the address's turn so order holds."""
        for delay in (*_DATABASE_RETRY_DELAYS, None):
            try:
                await self._process(incoming)
                return
            except (OperationalError, SQLAlchemyTimeoutError):
                if delay is None:
                    raise
                log.warning(
                    "the database did not answer; trying a %s message again in %.0f s",
                    incoming.channel.value,
                    delay,
                    extra={"provider_id": incoming.provider_message_id},
                )
                await asyncio.sleep(delay)

    async def _process(self, incoming: Incoming) -> None:
        kept, refused = await self._fetch_media(incoming)
        ready = dataclasses.replace(incoming, media=kept)
        if refused:
            nothing_left = not kept and not incoming.text.strip()
            await self._refuse(ready, refused, finish=nothing_left)
            if nothing_left:
                await self._handled(ready)
                return
        await self._engine.handle(ready, now=self._clock(), in_turn=True)
        await self._handled(ready)

    async def _handled(self, incoming: Incoming) -> None:
        if self._after_handled is None:
            return
        try:
            await self._after_handled(incoming)
        except Exception:
            # The message is handled and committed; only the follow-up (waking the outbox,
            # releasing held messages) failed, and the dispatcher's next poll catches up.
            log.exception("after handling a %s message", incoming.channel.value)

    async def _fetch_media(
        self, incoming: Incoming
    ) -> tuple[tuple[MediaItem, ...], tuple[MediaRefused, ...]]:
        links = [link for item in incoming.media if (link := _remote(item)) is not None]
        ours = tuple(item for item in incoming.media if _remote(item) is None)
        if not links:
            return ours, ()
        fetcher = self._fetchers.get(incoming.channel)
        if fetcher is None:
            raise RuntimeError(f"no media fetcher for {incoming.channel}")
        # Admins may send a CSV document (orders for /import_orders); everyone else photos only.
        async with self._store.read() as session:
            sender = await person_by_identity(session, incoming.channel, incoming.address)
            admin = sender is not None and sender.role is Role.ADMIN
        kept, refused = await fetcher.fetch_all(links, documents=admin)
        return ours + kept, refused

    async def _refuse(
        self, incoming: Incoming, refused: Sequence[MediaRefused], *, finish: bool
    ) -> None:
        """Queue the polite refusal once; with ``finish``, it is the message's whole answer."""
        await answer_refused_files(
            self._store,
            self._engine.catalogue,
            incoming,
            [refusal.reason.value for refusal in refused],
            now=self._clock(),
            max_bytes=self._max_media_bytes,
            finish=finish,
        )


async def answer_refused_files(
    store: Store,
    catalogue: Catalogue,
    incoming: Incoming,
    reasons: Sequence[str],
    *,
    now: datetime,
    max_bytes: int,
    finish: bool,
) -> bool:
    """Queue the polite refusal of an accepted message's files as its answer, once (a retry
    finds it queued); with ``finish`` (no caption left to handle) the message is then done.

    Returns False when the message was no longer waiting: another process handled it meanwhile.
    """
    async with store.transaction() as session:
        inbound = (
            await session.exec(
                select(InboundMessage)
                .where(
                    InboundMessage.channel == incoming.channel,
                    InboundMessage.provider_message_id == incoming.provider_message_id,
                )
                .with_for_update()
            )
        ).first()
        if inbound is None or inbound.status is not InboundStatus.RECEIVED:
            return False
        person = await person_by_identity(session, incoming.channel, incoming.address)
        already = (
            await session.exec(
                select(OutboxMessage.id).where(OutboxMessage.in_reply_to == inbound.id)
            )
        ).first()
        if already is None:
            text = media_refused(
                catalogue,
                person.language if person is not None else Language.EN,
                reasons,
                max_bytes=max_bytes,
                max_document_bytes=DEFAULT_MAX_DOCUMENT_BYTES,
            )
            await enqueue(
                session,
                channel=incoming.channel,
                address=incoming.address,
                reply=Reply(text),
                kind=OutboxKind.REPLY,
                now=now,
                person_id=None if person is None else person.id,
                in_reply_to=inbound.id,
            )
        if finish:
            inbound.status = InboundStatus.PROCESSED
            inbound.processed_at = now
            inbound.person_id = None if person is None else person.id
    return True
