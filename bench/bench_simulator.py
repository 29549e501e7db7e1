"""Compare the matching policies on the simulated factory (not part of the tests).

    .venv/bin/python bench/bench_simulator.py                      # docs/simulator-world.toml
    .venv/bin/python bench/bench_simulator.py --world my.toml --weeks 20 --seeds 1 2

Prints the summary table, the targets of issue 5 with whether each is met, and writes the
week-by-week PNG (docs/simulator-weekly.png by default).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from matching.simulator import DEFAULT_WORLD_FILE, SimulationReport, render_plot, run


def targets(report: SimulationReport) -> list[tuple[str, str, bool]]:
    rows: list[tuple[str, str, bool]] = []
    for load in report.loads:
        share = report.share_of_oracle(load)
        rows.append((f"ours >= 95% of oracle at {load:.0%}", f"{share:.1%}", share >= 0.95))
        gap = report.gap_closed(load)
        oracle_wins = report.value(load, "oracle", "good_on_time_per_ordered") > report.value(
            load, "random", "good_on_time_per_ordered"
        )
        measured = f"{gap:.0%}" if oracle_wins else "n/a: the oracle is below random here"
        rows.append((f"gap random->oracle closed at {load:.0%} (reported)", measured, oracle_wins))
        gini = report.value(load, "ours", "income_gini")
        rows.append((f"income Gini <= 0.40 at {load:.0%}", f"{gini:.3f}", gini <= 0.40))
        idle = report.value(load, "ours", "no_income_4w")
        rows.append(
            (f"<= 2% without income over 4 weeks at {load:.0%}", f"{idle:.1%}", idle <= 0.02)
        )
        new = report.value(load, "ours", "newcomer_accepted_lot_2w")
        rows.append(
            (
                f">= 95% newcomers with an accepted lot within 2 weeks at {load:.0%}",
                f"{new:.1%}",
                new >= 0.95,
            )
        )
        for outcome, ece in report.calibration.get(load, {}).items():
            rows.append(
                (
                    f"ECE {outcome} <= 0.03 on held-out weeks at {load:.0%}",
                    f"{ece:.3f}",
                    ece <= 0.03,
                )
            )
    if 0.5 in report.loads:
        fill = report.value(0.5, "ours", "fill_3_rounds")
        rows.append(("fill >= 98% at 50% load within 3 offer rounds", f"{fill:.1%}", fill >= 0.98))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", type=Path, default=DEFAULT_WORLD_FILE)
    parser.add_argument("--weeks", type=int)
    parser.add_argument("--seeds", type=int, nargs="+")
    parser.add_argument("--plot", type=Path, default=Path("docs/simulator-weekly.png"))
    args = parser.parse_args()
    start = time.perf_counter()

    def progress(done: int, total: int, what: str) -> None:
        print(f"  [{done:>3}/{total}] {what}  ({time.perf_counter() - start:.0f} s)", flush=True)

    report = run(args.world, weeks=args.weeks, seeds=args.seeds, progress=progress)
    print(f"\n{report.weeks} weeks x seeds {list(report.seeds)} in {report.seconds:.0f} s\n")
    print(report.markdown_table())
    print("\n| target | measured | met |\n|---|---|---|")
    for name, value, met in targets(report):
        print(f"| {name} | {value} | {'yes' if met else 'NO'} |")
    print(f"\nplot: {render_plot(report, args.plot)}")


if __name__ == "__main__":
    main()
