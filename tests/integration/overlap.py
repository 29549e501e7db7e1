"""Transactions made to overlap at their decision point, so a race test races for certain.

``asyncio.gather`` alone starts two transactions together, but either may well finish before the
other gets going, and the test then passes however unsafe the code is. ``meeting`` holds each
transaction just before its first statement on a given table (where it reads what it will decide
on, or locks it) until every party is there: all have read the same state, none has decided,
and they go on together. Then only a lock, a conditional update or a constraint in the product
keeps them from all deciding on that state.

On PostgreSQL the transactions run at once, on their own connections. SQLite's writers take
turns (the store queues them, and SQLite has one write lock), so there a party can never meet
another: nothing is held there and the same test checks the serialised case.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.util import await_only

from domain.store import Store, is_sqlite

# Only to turn a test that would hang (a party never arrives) into a failure that says why.
GIVE_UP_S = 30.0


@dataclass
class Meeting:
    table: str
    parties: int
    arrived: set[int] = field(default_factory=set)
    everyone: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def met(self) -> bool:
        """Every party was held at the table at once (always false where writers take turns)."""
        return self.parties > 1 and self.everyone.is_set()

    def _wait_for_the_others(self, connection: Any) -> None:
        self.arrived.add(id(connection.connection.dbapi_connection))
        if len(self.arrived) >= self.parties:
            self.everyone.set()
            return
        try:
            # SQLAlchemy runs this hook in its greenlet, so it may wait on the event loop.
            await_only(asyncio.wait_for(self.everyone.wait(), GIVE_UP_S))
        except TimeoutError as exc:
            raise AssertionError(
                f"{len(self.arrived)} of {self.parties} transactions reached {self.table}"
            ) from exc


@contextlib.contextmanager
def meeting(store: Store, *, table: str, parties: int = 2) -> Iterator[Meeting]:
    """Hold each of ``parties`` transactions before its first statement on ``table`` until all
    have come (on SQLite, where they cannot, hold none)."""
    met = Meeting(table, 1 if is_sqlite(str(store.engine.url)) else parties)
    on_table = re.compile(rf"\b(FROM|UPDATE|INTO)\s+{re.escape(table)}\b", re.IGNORECASE)

    def before(connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if not met.everyone.is_set() and on_table.search(statement):
            met._wait_for_the_others(connection)

    sync_engine = store.engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", before)
    try:
        yield met
    finally:
        event.remove(sync_engine, "before_cursor_execute", before)
