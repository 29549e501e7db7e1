"""The simulator measures the round production runs: one function, one options object.

If someone gives the scheduler's round or the simulator's ``ours`` a planning path or options of
its own, these tests fail: both must reach ``matching.round.plan_production_round`` with options
equal to what ``bot.main`` builds from default Settings.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import matching.round as production
from bot.main import round_options
from bot.matchmaker import Matchmaker
from bot.settings import Settings
from domain import events
from domain.store import Store
from matching.round import RoundOptions
from matching.simulator import World, load_world, run
from tests.conftest import FakeClock
from tests.integration.test_matching_round import build_floor


def _spy(monkeypatch: pytest.MonkeyPatch) -> list[tuple[RoundOptions, int]]:
    calls: list[tuple[RoundOptions, int]] = []
    real: Callable[..., Any] = production.plan_production_round

    def spy(artisans: Any, jobs: Any, **kwargs: Any) -> Any:
        calls.append((kwargs["options"], len(jobs)))
        return real(artisans, jobs, **kwargs)

    monkeypatch.setattr(production, "plan_production_round", spy)
    return calls


def test_production_options_are_the_defaults_settings_and_the_simulator_share() -> None:
    from_settings = round_options(Settings(_env_file=None))

    assert from_settings == RoundOptions()
    assert load_world().options == RoundOptions()
    assert World().options == RoundOptions()
    assert Matchmaker().options == RoundOptions()
    assert RoundOptions().per_job == 12  # production sparsifies; the simulator must too


async def test_the_scheduler_round_and_the_simulators_ours_plan_through_one_function(
    store: Store, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _spy(monkeypatch)
    await build_floor(store, clock)
    matchmaker = Matchmaker(seed=1, options=round_options(Settings(_env_file=None)))
    async with store.transaction() as session:
        result = await matchmaker(session, clock.now())
        events.drain(session)
    production_calls = list(calls)
    calls.clear()

    run(World(artisans=12, weeks=2, drain_weeks=1), seeds=[1], loads=[0.5], policies=["ours"])

    assert result.offers, "the production round offered something"
    assert [options for options, _ in production_calls] == [RoundOptions()]
    assert calls, "the simulator's ours planned through plan_production_round"
    assert {options for options, _ in calls} == {RoundOptions()}


def test_the_simulators_other_policies_do_not_pretend_to_be_production(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = _spy(monkeypatch)

    run(
        World(artisans=12, weeks=2, drain_weeks=1),
        seeds=[1],
        loads=[0.5],
        policies=["random", "round_robin", "greedy", "oracle"],
    )

    assert calls == []
    assert np.isfinite(RoundOptions().over_offer)
