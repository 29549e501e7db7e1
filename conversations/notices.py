"""Turning domain events into business messages, each in its recipient's language.

Whoever owns the transaction (the engine after a message, a scheduler job after a sweep, the
payout runner after a callback) drains ``domain.events`` and hands them to the registry's one
``notify`` (conversations/registry.py) before commit, so the change and the messages about it
are one unit. Each role declares what its people are told in its ``notices.py`` as a table of
event type -> handler; the registry combines them into one table, and lists the events nobody is
told about, with the reason. Opted-out people get nothing (``outbox.notify_person`` refuses them).

This module is the machinery they share: the context a handler gets, the handler shapes, how
tables are combined and how a transaction's events are run through the table, in order.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from conversations.formatting import money
from conversations.i18n import Catalogue
from conversations.messages import Reply
from conversations.outbox import notify_person
from domain import events
from domain.explosion import FACTORY_ZONE
from domain.model import Person

log = logging.getLogger(__name__)

Notify = Callable[[AsyncSession, Sequence[events.Event], datetime], Awaitable[object]]
"""Turns a transaction's domain events into outbox messages before it commits."""


@dataclass(frozen=True, slots=True)
class RevenueBand:
    """The artisans' share of revenue the business aims for (inclusive, fractions of 1)."""

    low: Decimal
    high: Decimal


@dataclass(frozen=True, slots=True)
class NoticeContext:
    """What every handler gets besides its event: the words, the time, and the settings the
    payout summaries compare against."""

    catalogue: Catalogue
    now: datetime
    band: RevenueBand | None = None  # None: the batch summary leaves out the revenue share
    zone: ZoneInfo = FACTORY_ZONE  # where receipt times are read

    def money(self, cents: int) -> str:
        """``cents`` in the configured currency: ``KES 1,250``."""
        return money(cents, self.catalogue.currency)


Handler = Callable[[AsyncSession, Any, NoticeContext], Awaitable[int]]
"""Tells whoever should hear about one event; returns how many messages it queued."""


@dataclass(frozen=True, eq=False)
class Together:
    """A handler told a run of consecutive events at once, for event types that come in
    crowds: payout results are settled in groups, and one message at a time cost five
    statements each. Consecutive events whose table entry is the same ``Together`` are handed
    over as one list."""

    handler: Callable[[AsyncSession, Sequence[Any], NoticeContext], Awaitable[int]]


NoticeTable = Mapping[type[events.Event], Handler | Together]


async def tell(session: AsyncSession, person: Person, reply: Reply, now: datetime) -> int:
    """Queue one business message to ``person``; 0 when they opted out."""
    return 0 if await notify_person(session, person, reply, now=now) is None else 1


def combine(*tables: NoticeTable) -> dict[type[events.Event], Handler | Together]:
    """One entry per event type; when several roles' tables handle the same event (a delivery
    discrepancy is news to the admins and to the artisan), their handlers run in table order.
    A ``Together`` handler is its event type's only one."""
    by_event: dict[type[events.Event], list[Handler | Together]] = {}
    for table in tables:
        for event_type, handler in table.items():
            by_event.setdefault(event_type, []).append(handler)
    combined: dict[type[events.Event], Handler | Together] = {}
    for event_type, handlers in by_event.items():
        if len(handlers) == 1:
            combined[event_type] = handlers[0]
            continue
        singles = [h for h in handlers if not isinstance(h, Together)]
        if len(singles) != len(handlers):
            raise ValueError(f"{event_type.__name__}: a Together handler cannot be combined")
        combined[event_type] = _chained(singles)
    return combined


def _chained(handlers: list[Handler]) -> Handler:
    async def run(session: AsyncSession, event: Any, ctx: NoticeContext) -> int:
        queued = 0
        for handler in handlers:
            queued += await handler(session, event, ctx)
        return queued

    return run


async def queue_notices(
    session: AsyncSession,
    recorded: Sequence[events.Event],
    table: NoticeTable,
    ctx: NoticeContext,
) -> int:
    """Outbox messages for every event someone should hear about, in the order they happened;
    returns how many were queued."""
    queued = 0
    crowd: list[events.Event] = []
    together: Together | None = None
    for event in recorded:
        handler = table.get(type(event))
        if together is not None and handler is not together:
            # What came together so far goes first, so each address gets its messages in order.
            queued += await together.handler(session, crowd, ctx)
            crowd, together = [], None
        if isinstance(handler, Together):
            crowd.append(event)
            together = handler
        elif handler is None:
            log.debug("no notice for %s", type(event).__name__)
        else:
            queued += await handler(session, event, ctx)
    if together is not None:
        queued += await together.handler(session, crowd, ctx)
    return queued
