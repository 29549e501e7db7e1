"""Only the oracle reads the hidden truth; every other policy sees what the store would hold."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from matching.round import RoundOptions
from matching.simulator import World, load_world
from matching.simulator.engine import simulate
from matching.simulator.policies import POLICIES, READS_TRUTH, Hidden, Policy, RoundView
from matching.simulator.truth import Truth, draw_truth

WORLD = World(artisans=12, weeks=3, drain_weeks=1)


@pytest.mark.parametrize("name", POLICIES)
def test_a_policy_is_handed_the_hidden_truth_only_if_it_is_the_oracle(name: str) -> None:
    handed: list[bool] = []
    views: list[RoundView] = []

    class Watched(Policy):
        def lots(self, view: RoundView, hidden: Hidden | None = None) -> Any:
            handed.append(hidden is not None)
            views.append(view)
            return super().lots(view, hidden)

    simulate(
        draw_truth(WORLD, load=0.8, seed=1),
        Watched(name, np.random.default_rng(1), RoundOptions()),
    )

    assert handed, "the policy was asked for offers"
    assert all(handed) if name in READS_TRUTH else not any(handed)
    assert {"oracle"} == READS_TRUTH
    for view in views:
        for f in dataclasses.fields(view):
            value = getattr(view, f.name)
            assert not isinstance(value, (Truth, Hidden)), f"RoundView.{f.name} leaks the truth"


def test_the_oracle_refuses_to_plan_without_the_truth() -> None:
    truth = draw_truth(WORLD, load=0.8, seed=1)
    oracle = Policy("oracle", np.random.default_rng(1), RoundOptions())

    with pytest.raises(ValueError, match="hidden truth"):
        simulate(truth, _Blind(oracle))


class _Blind(Policy):
    def __init__(self, inner: Policy) -> None:
        super().__init__(inner.name, inner.rng, inner.options)

    def lots(self, view: RoundView, hidden: Hidden | None = None) -> Any:
        return super().lots(view, None)


def test_world_defaults_are_the_documented_file_and_partial_files_start_from_it(
    tmp_path: Path,
) -> None:
    partial = tmp_path / "busy.toml"
    partial.write_text("[world]\nartisans = 30\n\n[round]\nfairness_weight = 0.0\n")

    busy = load_world(partial)

    assert load_world() == World()
    assert busy == World().with_(
        name="busy", artisans=30, options=RoundOptions(fairness_weight=0.0)
    )


def test_unknown_round_options_are_refused(tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.toml"
    wrong.write_text("[round]\nper_jobs = 3\n")

    with pytest.raises(ValueError, match="unknown \\[round\\] settings: per_jobs"):
        load_world(wrong)
