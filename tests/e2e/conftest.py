"""End-to-end fixtures: the fake providers on loopback, and Karakana serving against them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from domain.store import Store
from tests.e2e.harness import Running, running_karakana
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.twilio_api import FakeTwilio


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio().running() as fake:
        yield fake


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram().running() as fake:
        yield fake


@pytest.fixture
async def karakana(
    store: Store, tmp_path: Path, twilio: FakeTwilio, telegram: FakeTelegram
) -> AsyncIterator[Running]:
    async with running_karakana(store, tmp_path, twilio, telegram) as running:
        yield running
