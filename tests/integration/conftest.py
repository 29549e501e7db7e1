"""The factory every integration test can start from (see ``factory_fixtures``)."""

from __future__ import annotations

import pytest

from domain.store import Store
from tests.conftest import FakeClock
from tests.integration.factory_fixtures import Factory, Floor, build_factory, open_floor


@pytest.fixture
async def factory(store: Store, clock: FakeClock) -> Factory:
    """The catalogue, the staff and the crew (Wanjiru and Otieno), on SQLite."""
    return await build_factory(store, clock)


@pytest.fixture
async def floor(store: Store, clock: FakeClock) -> Floor:
    """The factory chatting to the engine, with an order of 10 necklaces and 6 bangles."""
    return await open_floor(store, clock, lines={"NECKLACE-HORN": 10, "BANGLE-BRASS": 6})
