"""Markdown tables and targets from ``karakana simulate --json`` files (not part of the tests).

    .venv/bin/python bench/report_simulator.py docs/benchmarks/*.json

Per world: one row per (load, policy), means over the seeds; then issue 17's targets for ours,
with the oracle's figure beside each fairness target (a target the oracle misses too is a
property of the world, not of ours). ECE is the mean over seeds of each run's ECE on the last
quarter of the weeks (per-seed ECE has fewer rows per bin, so it reads higher than pooled).
"""

from __future__ import annotations

import json
import math
import sys
from collections import defaultdict
from pathlib import Path

COLUMNS = (
    ("good_on_time_per_ordered", "good on time / ordered", "{:.1%}"),
    ("fill_rate", "fill", "{:.1%}"),
    ("fill_3_rounds", "fill in 3 rounds", "{:.1%}"),
    ("on_time_rate", "on time", "{:.1%}"),
    ("qc_pass_rate", "QC pass", "{:.1%}"),
    ("income_gini", "income Gini", "{:.3f}"),
    ("no_income_4w", "no income 4 wk", "{:.1%}"),
    ("newcomer_accepted_lot_2w", "newcomer accepted lot <= 2 wk", "{:.1%}"),
    ("newcomer_offer_2w", "newcomer offer <= 2 wk", "{:.1%}"),
)


def mean(values: list[float | None]) -> float:
    known = [v for v in values if v is not None and not math.isnan(v)]
    return sum(known) / len(known) if known else math.nan


def fmt(value: float, pattern: str) -> str:
    return "n/a" if math.isnan(value) else pattern.format(value)


def report(path: Path) -> str:
    doc = json.loads(path.read_text())
    runs: dict[tuple[float, str], list[dict[str, float | None]]] = defaultdict(list)
    for run in doc["runs"]:
        runs[(run["load"], run["policy"])].append(run["metrics"])

    def value(load: float, policy: str, key: str) -> float:
        return mean([m.get(key) for m in runs.get((load, policy), [])])

    lines = [f"#### World `{doc['world']}` ({doc['weeks']} weeks)", ""]
    lines.append("| load | policy | " + " | ".join(c[1] for c in COLUMNS) + " |")
    lines.append("|---" * (len(COLUMNS) + 2) + "|")
    loads = sorted({load for load, _ in runs})
    for load in loads:
        for lo, policy in runs:
            if lo != load:
                continue
            cells = [fmt(value(load, policy, k), f) for k, _, f in COLUMNS]
            lines.append(f"| {load:.0%} | {policy} | " + " | ".join(cells) + " |")
    lines += ["", "| target (ours) | " + " | ".join(f"{load:.0%}" for load in loads) + " |"]
    lines.append("|---" * (len(loads) + 1) + "|")

    def row(name: str, cell) -> None:  # type: ignore[no-untyped-def]
        lines.append(f"| {name} | " + " | ".join(cell(load) for load in loads) + " |")

    head = "good_on_time_per_ordered"

    def share(load: float) -> str:
        oracle = value(load, "oracle", head)
        s = value(load, "ours", head) / oracle if oracle else math.nan
        return f"{fmt(s, '{:.1%}')} {'met' if s >= 0.95 else '**not met**'}"

    def gap(load: float) -> str:
        low, high = value(load, "random", head), value(load, "hindsight", head)
        g = (value(load, "ours", head) - low) / (high - low) if high > low else math.nan
        o = (value(load, "oracle", head) - low) / (high - low) if high > low else math.nan
        return (
            f"{fmt(g, '{:.0%}')} {'met' if g >= 0.8 else '**not met**'} "
            f"(oracle {fmt(o, '{:.0%}')}; random {low:.1%}, hindsight {high:.1%})"
        )

    def versus(key: str, limit: float, below: bool, pattern: str):  # type: ignore[no-untyped-def]
        def cell(load: float) -> str:
            ours, oracle = value(load, "ours", key), value(load, "oracle", key)
            ok = ours <= limit if below else ours >= limit
            return (
                f"{fmt(ours, pattern)} {'met' if ok else '**not met**'} "
                f"(oracle {fmt(oracle, pattern)})"
            )

        return cell

    def fairness(load: float) -> str:
        off, on = value(load, "ours_fairness_off", head), value(load, "ours", head)
        gini = value(load, "ours_fairness_off", "income_gini")
        idle = value(load, "ours_fairness_off", "no_income_4w")
        if math.isnan(off):
            return "n/a"
        return f"{off - on:+.1%} pts (off: {off:.1%}, Gini {gini:.3f}, no income {idle:.1%})"

    row(">= 95% of oracle", share)
    row(">= 80% of the random -> hindsight gap", gap)
    row("income Gini <= 0.40", versus("income_gini", 0.40, True, "{:.3f}"))
    row("<= 2% without income over 4 weeks", versus("no_income_4w", 0.02, True, "{:.1%}"))
    row(
        ">= 95% newcomers with an accepted lot <= 2 weeks",
        versus("newcomer_accepted_lot_2w", 0.95, False, "{:.1%}"),
    )
    for key, name in (("ece_accept", "accept"), ("ece_on_time", "on time"), ("ece_qc", "QC")):

        def ece(load: float, key: str = key) -> str:
            e = value(load, "ours", key)
            return f"{fmt(e, '{:.3f}')} {'met' if e <= 0.03 else '**not met**'}"

        row(f"ECE {name} <= 0.03", ece)
    row("what fairness costs (headline, fairness off - on)", fairness)
    seconds = doc.get("seconds")
    if seconds is not None:
        lines += ["", f"Run time: {seconds:.0f} s."]
    return "\n".join(lines)


if __name__ == "__main__":
    for name in sys.argv[1:]:
        print(report(Path(name)))
        print()
