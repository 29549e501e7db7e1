"""The week-by-week PNG: one panel per metric, one line per policy (needs matplotlib)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from matching.simulator.runner import SimulationReport

PANELS = (
    ("good pieces on time / pieces due", "good_on_time", "ordered_due"),
    ("pieces accepted / pieces ordered", "accepted", "ordered"),
)


def render_plot(report: SimulationReport, path: Path | str) -> Path:
    """Write the plot to ``path`` and return it. matplotlib is imported here, not at import
    time, so the rest of the simulator works without it."""
    import matplotlib  # type: ignore[import-not-found,unused-ignore]

    matplotlib.use("Agg")  # no display on a server
    import matplotlib.pyplot as plt  # type: ignore[import-not-found,unused-ignore]

    loads = report.loads
    figure, axes = plt.subplots(
        len(PANELS), len(loads), figsize=(6 * len(loads), 3.6 * len(PANELS)), squeeze=False
    )
    weeks = np.arange(report.weeks)
    for column, load in enumerate(loads):
        for row, (title, numerator, denominator) in enumerate(PANELS):
            axis = axes[row][column]
            for policy in report.policies:
                result = report.results.get((load, policy))
                if result is None or not result.runs[0].weekly:
                    continue  # the hindsight bound has no weeks
                top = result.weekly(numerator)[: report.weeks]
                bottom = result.weekly(denominator)[: report.weeks]
                share = np.divide(top, bottom, out=np.full_like(top, np.nan), where=bottom > 0)
                axis.plot(weeks, share, label=policy, linewidth=1.4)
            axis.set_title(f"{title} - demand {load:.0%} of declared capacity", fontsize=9)
            axis.set_xlabel("week")
            axis.set_ylim(0, 1.05)
            axis.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    figure.suptitle(
        f"Karakana simulator: {len(report.seeds)} seed(s), mean over seeds", fontsize=10
    )
    figure.tight_layout()
    out = Path(path)
    figure.savefig(out, dpi=110)
    plt.close(figure)
    return out
