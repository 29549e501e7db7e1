"""Run every policy on every (load, seed) of a world and gather the report."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from matching.simulator.engine import RunResult, simulate, weighted_ece
from matching.simulator.hindsight import hindsight_bound
from matching.simulator.policies import POLICIES, Policy
from matching.simulator.truth import draw_truth
from matching.simulator.world import World, load_world

FloatArray = NDArray[np.float64]
#: progress(done, total, what): called after every simulated (load, seed, policy).
Progress = Callable[[int, int, str], None]

METRICS: tuple[tuple[str, str, str], ...] = (
    # key, label, format
    ("good_on_time_per_ordered", "good on time / ordered", "{:.1%}"),
    ("fill_rate", "fill rate", "{:.1%}"),
    ("fill_3_rounds", "fill in 3 rounds", "{:.1%}"),
    ("withdrawn_share", "offers withdrawn (filled)", "{:.1%}"),
    ("on_time_rate", "on time", "{:.1%}"),
    ("qc_pass_rate", "QC pass", "{:.1%}"),
    ("lead_time_days", "lead time (days)", "{:.1f}"),
    ("income_gini", "income Gini", "{:.3f}"),
    ("no_income_4w", "no income in 4 wk", "{:.1%}"),
    ("newcomer_accepted_lot_2w", "newcomer accepted lot <= 2 wk", "{:.1%}"),
    ("newcomer_weeks_to_first_lot", "weeks to first lot", "{:.2f}"),
    ("newcomer_offer_2w", "newcomer offer <= 2 wk", "{:.1%}"),
)


#: Per outcome, the metric holding ours' calibration error over the last quarter of the weeks.
ECE_METRIC = {"accept": "ece_accept", "on_time": "ece_on_time", "qc_pass": "ece_qc"}


@dataclass
class PolicyResult:
    load: float
    policy: str
    runs: list[RunResult]

    def mean(self, metric: str) -> float:
        values = [r.metrics[metric] for r in self.runs if not np.isnan(r.metrics[metric])]
        return float(np.mean(values)) if values else float("nan")

    def weekly(self, series: str) -> FloatArray:
        stacked: FloatArray = np.mean([r.weekly[series] for r in self.runs], axis=0)
        return stacked


@dataclass
class SimulationReport:
    world: World
    seeds: tuple[int, ...]
    weeks: int
    results: dict[tuple[float, str], PolicyResult]
    seconds: float
    calibration: dict[float, dict[str, float]] = field(default_factory=dict)

    @property
    def loads(self) -> list[float]:
        return sorted({load for load, _ in self.results})

    @property
    def policies(self) -> list[str]:
        seen: list[str] = []
        for _, policy in self.results:
            if policy not in seen:
                seen.append(policy)
        return seen

    def value(self, load: float, policy: str, metric: str) -> float:
        return self.results[(load, policy)].mean(metric)

    def share_of_oracle(self, load: float, policy: str = "ours") -> float:
        oracle = self.value(load, "oracle", "good_on_time_per_ordered")
        return self.value(load, policy, "good_on_time_per_ordered") / oracle if oracle else 0.0

    def gap_closed(self, load: float, policy: str = "ours", bound: str = "hindsight") -> float:
        """Share of the random-to-``bound`` gap on the headline metric that ``policy`` closes
        (bound: the hindsight bound, or the oracle)."""
        if (load, bound) not in self.results or (load, "random") not in self.results:
            return float("nan")
        low = self.value(load, "random", "good_on_time_per_ordered")
        high = self.value(load, bound, "good_on_time_per_ordered")
        mine = self.value(load, policy, "good_on_time_per_ordered")
        return (mine - low) / (high - low) if high != low else float("nan")

    def summary_rows(self) -> tuple[list[str], list[list[str]]]:
        """Header and rows, ready for a rich Table (or Markdown): one row per load and policy."""
        header = [
            "load",
            "policy",
            *(label for _, label, _ in METRICS),
            "of oracle",
            "of random->hindsight gap",
        ]
        rows: list[list[str]] = []
        for load in self.loads:
            for policy in self.policies:
                if (load, policy) not in self.results:
                    continue
                cells = [f"{load:.0%}", policy]
                for key, _, fmt in METRICS:
                    value = self.value(load, policy, key)
                    cells.append("n/a" if np.isnan(value) else fmt.format(value))
                has_oracle = (load, "oracle") in self.results
                cells.append(f"{self.share_of_oracle(load, policy):.1%}" if has_oracle else "")
                gap = self.gap_closed(load, policy)
                cells.append("" if np.isnan(gap) else f"{gap:.1%}")
                rows.append(cells)
        return header, rows

    def as_json(self) -> dict[str, object]:
        """``{"runs": [{"load", "seed", "policy", "metrics": {...}}]}``: one entry per simulated
        (load, seed, policy), metric names as docs/benchmarks.md defines them (NaN as null)."""
        runs: list[dict[str, object]] = []
        for (load, policy), result in self.results.items():
            for outcome in result.runs:
                runs.append(
                    {
                        "load": load,
                        "seed": outcome.seed,
                        "policy": policy,
                        "metrics": {
                            k: (None if np.isnan(v) else float(v))
                            for k, v in outcome.metrics.items()
                        },
                    }
                )
        return {
            "world": self.world.name,
            "weeks": self.weeks,
            "seconds": self.seconds,
            "runs": runs,
        }

    def markdown_table(self) -> str:
        header, rows = self.summary_rows()
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)


HEADLINE = "good_on_time_per_ordered"
#: The offline bound reported beside the policies (:mod:`matching.simulator.hindsight`).
HINDSIGHT = "hindsight"


def _bound(headline: float) -> RunResult:
    metrics = {key: float("nan") for key, _, _ in METRICS}
    metrics[HEADLINE] = headline
    return RunResult(metrics=metrics, weekly={})


def _compare(results: dict[tuple[float, str], PolicyResult], load: float, seed: int) -> None:
    """Ours' headline against the others of the same (load, seed), as metrics of ours' run:
    ``of_oracle``, ``of_hindsight_gap`` (share of the random -> hindsight gap closed) and
    ``fairness_cost`` (headline with the fairness terms off minus ours)."""

    def headline(policy: str) -> float | None:
        result = results.get((load, policy))
        runs = [] if result is None else [r for r in result.runs if r.seed == seed]
        return runs[-1].metrics[HEADLINE] if runs else None

    ours_result = results.get((load, "ours"))
    if ours_result is None:
        return
    ours = next(r for r in reversed(ours_result.runs) if r.seed == seed)
    mine = ours.metrics[HEADLINE]
    oracle, low, high = headline("oracle"), headline("random"), headline("hindsight")
    unfair = headline("ours_fairness_off")
    if oracle:
        ours.metrics["of_oracle"] = mine / oracle
    if low is not None and high is not None and high > low:
        ours.metrics["of_hindsight_gap"] = (mine - low) / (high - low)
    if unfair is not None:
        ours.metrics["fairness_cost"] = unfair - mine


def run(
    world: World | Path | str | None = None,
    *,
    seeds: Sequence[int] | None = None,
    weeks: int | None = None,
    policies: Sequence[str] | None = None,
    loads: Sequence[float] | None = None,
    progress: Progress | None = None,
) -> SimulationReport:
    """Simulate every policy on every load and seed of the world (defaults from the world file).

    Each (load, seed) draws one hidden truth and one set of outcome streams, shared by all
    policies, so differences between policies are differences of policy, not of luck.
    """
    if not isinstance(world, World):
        world = load_world(world)
    if weeks is not None:
        world = world.with_(weeks=weeks)
    chosen = tuple(policies or world.policies)
    unknown = [p for p in chosen if p not in (*POLICIES, HINDSIGHT)]
    if unknown:
        raise ValueError(
            f"unknown policies {', '.join(unknown)}; choose from "
            f"{', '.join((*POLICIES, HINDSIGHT))}"
        )
    seeds_ = tuple(seeds or world.seeds)
    loads_ = tuple(loads or world.loads)
    total = len(loads_) * len(seeds_) * len(chosen)
    done = 0
    start = time.perf_counter()
    results: dict[tuple[float, str], PolicyResult] = {}
    calibration: dict[float, dict[str, list[tuple[FloatArray, FloatArray, FloatArray]]]] = {}
    for load in loads_:
        for seed in seeds_:
            truth = draw_truth(world, load=load, seed=seed)
            for index, name in enumerate(chosen):
                if name == HINDSIGHT:
                    outcome = _bound(hindsight_bound(truth))
                else:
                    policy = Policy(name, np.random.default_rng([seed, 31, index]), world.options)
                    began = time.perf_counter()
                    outcome = simulate(truth, policy)
                    # Wall clock of one simulated week (orders, rounds, work), for the speed
                    # target; it varies with the machine's load, so it is reported, not asserted.
                    outcome.metrics["seconds_per_week"] = (time.perf_counter() - began) / (
                        world.weeks + world.drain_weeks
                    )
                outcome.seed = seed
                results.setdefault((load, name), PolicyResult(load, name, [])).runs.append(outcome)
                if name == "ours":
                    held_out = world.weeks * 3 // 4
                    for key, (week, p, y, w) in outcome.calibration.items():
                        recent = week >= held_out
                        calibration.setdefault(load, {}).setdefault(key, []).append(
                            (p[recent], y[recent], w[recent])
                        )
                        name_ = ECE_METRIC[key]
                        outcome.metrics[name_] = weighted_ece(p[recent], y[recent], w[recent])
                done += 1
                if index == len(chosen) - 1:
                    _compare(results, load, seed)
                if progress is not None:
                    progress(done, total, f"load {load:.0%} seed {seed} {name}")
    ece = {
        load: {
            key: weighted_ece(
                np.concatenate([p for p, _, _ in parts]),
                np.concatenate([y for _, y, _ in parts]),
                np.concatenate([w for _, _, w in parts]),
            )
            for key, parts in by_outcome.items()
        }
        for load, by_outcome in calibration.items()
    }
    return SimulationReport(
        world=world,
        seeds=seeds_,
        weeks=world.weeks,
        results=results,
        seconds=time.perf_counter() - start,
        calibration=ece,
    )
