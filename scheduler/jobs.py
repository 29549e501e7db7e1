"""The scheduler's jobs: plain async functions with everything they need passed in.

Each is idempotent and safe to re-run: a second run of the same moment finds nothing left to do
(offers already lapsed, reminders already sent today, balances already in a batch, files already
gone). Exactly-once *per scheduled run* across processes is ``scheduler.leases``' job; APScheduler
itself lives in ``bot/scheduling.py``, so nothing here knows about it.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations.i18n import Catalogue
from conversations.materials import queue_material_reminders
from conversations.notices import Notify
from conversations.questions import queue_question_reminders
from conversations.reminders import RemindersSent, queue_reminders
from domain import events, payouts
from domain.model import OutboxMessage, OutboxStatus, PayoutBatch, SubmissionPhoto, WorkshopVisit
from domain.services import offers
from domain.store import Store

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
# Each ``notify`` below is the registry's one notifier (``REGISTRY.notifier`` in
# conversations/registry.py): a job's events go through the same table as the engine's.


class MatchRound(Protocol):
    """``matching.round.run_matching_round`` with its model and options bound."""

    def __call__(self, session: AsyncSession, *, now: datetime) -> Awaitable[object]: ...


async def run_matching_round(
    store: Store, *, clock: Clock, match: MatchRound, notify: Notify
) -> object:
    """One matching round; the offers it makes and their messages commit together."""
    now = clock()
    async with store.transaction() as session:
        result = await match(session, now=now)
        await notify(session, events.drain(session), now)
    return result


async def expire_offers(
    store: Store, *, clock: Clock, notify: Notify, rematch: MatchRound | None = None
) -> int:
    """Lapse offers whose time is up, tell their artisans, and offer the pieces again at once
    (the cascade to the next best artisan) when a matching round is given."""
    now = clock()
    async with store.transaction() as session:
        expired = await offers.expire_offers(session, now=now)
        await notify(session, events.drain(session), now)
    if expired and rematch is not None:
        await run_matching_round(store, clock=clock, match=rematch, notify=notify)
    return len(expired)


async def send_reminders(
    store: Store, *, clock: Clock, catalogue: Catalogue, due_soon: timedelta = timedelta(days=2)
) -> RemindersSent:
    """Due-soon and overdue nudges to artisans and the late-jobs digest to admins (once a day
    per person and message, however often it runs)."""
    async with store.transaction() as session:
        return await queue_reminders(session, catalogue=catalogue, now=clock(), due_soon=due_soon)


async def remind_material_requests(
    store: Store, *, clock: Clock, catalogue: Catalogue, after: timedelta = timedelta(days=2)
) -> int:
    """Field agents (the admins where none covers the area) are reminded of artisans' material
    requests open longer than ``after`` (MATERIAL_REQUEST_REMINDER_AFTER); once a day each."""
    async with store.transaction() as session:
        return await queue_material_reminders(
            session, catalogue=catalogue, now=clock(), after=after
        )


async def remind_questions(
    store: Store, *, clock: Clock, catalogue: Catalogue, after: timedelta = timedelta(hours=4)
) -> int:
    """Whoever answers an artisan's question (the area's field agents, else the admins), and the
    admins, are reminded of a question left unanswered longer than ``after``
    (QUESTION_REMINDER_AFTER); once per question."""
    async with store.transaction() as session:
        return await queue_question_reminders(
            session, catalogue=catalogue, now=clock(), after=after
        )


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    batch_id: int | None
    approved: bool


async def weekly_payout_batch(
    store: Store,
    *,
    clock: Clock,
    minimum_cents: int,
    auto_approve_limit_cents: int,
    notify: Notify,
    send: Callable[[], Awaitable[object]] | None = None,
    max_per_artisan_cents: int | None = None,
    max_batch_cents: int | None = None,
) -> BatchOutcome:
    """Make the week's batch; approve it without an admin when its total is at most the limit
    (0: always ask), else admins are asked in chat. An approved batch is sent with ``send``.

    Re-running finds every balance already reserved in the batch and makes none. An artisan
    owed more than ``max_per_artisan_cents`` is left out; a batch over ``max_batch_cents`` is
    never approved automatically (an admin's approval refuses it too).
    """
    now = clock()
    approved = False

    async def finish(session: AsyncSession, batch: PayoutBatch) -> None:
        # In the transaction that completes the batch, so approval and notices commit with it.
        nonlocal approved
        limit = auto_approve_limit_cents
        if max_batch_cents is not None:
            limit = min(limit, max_batch_cents)
        if batch.id is not None and limit > 0:
            approved = await payouts.auto_approve_batch(
                session, batch_id=batch.id, limit_cents=limit, now=now
            )
        await notify(session, events.drain(session), now)

    # Built a few hundred artisans per transaction: on SQLite one transaction for 25,000 held the
    # write lock, and so every chat reply, for minutes.
    batch = await payouts.build_payout_batch(
        store,
        minimum_cents=minimum_cents,
        now=now,
        finish=finish,
        max_per_artisan_cents=max_per_artisan_cents,
    )
    if batch is None:
        log.info("weekly payout batch: nobody is owed at least %s cents", minimum_cents)
        return BatchOutcome(None, False)
    if approved and send is not None:
        await send()
    return BatchOutcome(batch.id, approved)


async def send_approved_payouts(send: Callable[[], Awaitable[object]]) -> object:
    """Send whatever approved payouts wait (an admin's approval may have come since)."""
    return await send()


async def resolve_payouts_in_doubt(
    query: Callable[..., Awaitable[Sequence[str]]], *, older_than: timedelta
) -> int:
    """Ask M-Pesa about payouts sent without an answer for ``older_than`` (never resend them)."""
    asked = await query(older_than=older_than)
    if asked:
        log.info("asked M-Pesa about %s payouts in doubt", len(asked))
    return len(asked)


# --- housekeeping ---------------------------------------------------------------------------

PURGEABLE_OUTBOX = (OutboxStatus.DELIVERED, OutboxStatus.READ)


async def purge_outbox(store: Store, *, clock: Clock, older_than: timedelta) -> int:
    """Delete delivered (or read) outbox rows older than ``older_than``; nothing else."""
    cutoff = clock() - older_than
    async with store.transaction() as session:
        doomed = select(OutboxMessage.id).where(
            col(OutboxMessage.status).in_(PURGEABLE_OUTBOX),
            col(OutboxMessage.created_at) < cutoff,
        )
        ids = list((await session.exec(doomed)).all())
        if ids:
            await session.exec(sa.delete(OutboxMessage).where(col(OutboxMessage.id).in_(ids)))
    return len(ids)


async def _referenced_media(session: AsyncSession) -> set[str]:
    refs = set((await session.exec(select(SubmissionPhoto.media_ref))).all())
    for photo_refs in (await session.exec(select(WorkshopVisit.photo_refs))).all():
        refs.update(ref for ref in photo_refs.split(",") if ref)
    return refs


def _old_files(root: Path, cutoff: float) -> list[Path]:
    if not root.is_dir():
        return []
    return [p for p in root.iterdir() if p.is_file() and p.stat().st_mtime < cutoff]


async def purge_media(
    store: Store, *, clock: Clock, media_root: Path, older_than: timedelta
) -> int:
    """Delete media files older than ``older_than`` that no submission or visit refers to
    (photos of abandoned uploads); a referenced file is kept however old."""
    cutoff = (clock() - older_than).timestamp()
    candidates = await asyncio.to_thread(_old_files, media_root, cutoff)
    if not candidates:
        return 0
    async with store.read() as session:
        keep = await _referenced_media(session)
    removed = 0
    for path in candidates:
        if path.name in keep:
            continue
        try:
            await asyncio.to_thread(os.remove, path)
            removed += 1
        except FileNotFoundError:
            pass  # another process removed it first
    return removed


class StoredMedia(Protocol):
    """Media kept somewhere other than a local folder (bot/storage's object store, shared by
    several hosts): what the purge needs of it."""

    async def refs_older_than(self, cutoff: datetime) -> list[str]: ...

    async def delete(self, ref: str) -> None: ...


async def purge_stored_media(
    store: Store, *, clock: Clock, media: StoredMedia, older_than: timedelta
) -> int:
    """``purge_media`` for an object store: unreferenced refs written before the cutoff go."""
    candidates = await media.refs_older_than(clock() - older_than)
    if not candidates:
        return 0
    async with store.read() as session:
        keep = await _referenced_media(session)
    removed = 0
    for ref in candidates:
        if ref not in keep:
            await media.delete(ref)  # deleting an object already gone is not an error
            removed += 1
    return removed


async def housekeeping(
    store: Store,
    *,
    clock: Clock,
    media_root: Path | None,
    media_max_age: timedelta,
    outbox_max_age: timedelta,
    stored_media: StoredMedia | None = None,
) -> tuple[int, int]:
    outbox = await purge_outbox(store, clock=clock, older_than=outbox_max_age)
    media = 0
    if media_root is not None:
        media = await purge_media(
            store, clock=clock, media_root=media_root, older_than=media_max_age
        )
    if stored_media is not None:
        media += await purge_stored_media(
            store, clock=clock, media=stored_media, older_than=media_max_age
        )
    return outbox, media


async def nightly_retraining(retrain: Callable[[], Awaitable[object]]) -> object:
    """Refit the matching model on new outcomes; ``retrain`` is matching's, bound by bot/."""
    return await retrain()
