"""The composition root: the one place that reads settings and builds concrete objects.

Everything else receives what it needs as arguments. The CLI builds a ``Factory`` per command;
the channels issue adds the HTTP server and adapters here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.database import check_database_current
from bot.settings import Settings
from conversations.engine import Engine
from domain.explosion import factory_today
from domain.store import Store


def load_settings() -> Settings:
    """Settings from the environment and ``.env``; raises pydantic's ValidationError if bad."""
    return Settings()


def utc_now() -> datetime:
    """The real clock; only the composition root reads it, services are handed ``now``."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Factory:
    """What a command needs: the settings, the store, and the time."""

    settings: Settings
    store: Store

    @property
    def zone(self) -> ZoneInfo:
        return self.settings.zone

    def now(self) -> datetime:
        return utc_now()

    def engine(self) -> Engine:
        """The conversation engine every channel shares."""
        return Engine(
            self.store,
            idle_timeout=timedelta(minutes=self.settings.conversation_idle_minutes),
        )

    def today(self) -> date:
        """The calendar day at the factory (Nairobi), which is what due dates are read in."""
        return factory_today(self.now(), self.zone)


@asynccontextmanager
async def open_factory(settings: Settings, *, check_schema: bool = True) -> AsyncIterator[Factory]:
    """The factory on ``settings``' database, closed afterwards.

    Unless told otherwise it first refuses a database behind the code's migrations (raising
    ``bot.database.DatabaseNotCurrent``, whose message names ``karakana db upgrade``).
    """
    if check_schema:
        await check_database_current(settings.database_url)
    store = Store.from_url(settings.database_url)
    try:
        yield Factory(settings=settings, store=store)
    finally:
        await store.close()
