"""A synthetic factory to compare matching policies on hidden truth (``karakana simulate``).

    report = run("docs/simulator-world.toml", progress=print_progress)
    header, rows = report.summary_rows()      # for a rich Table
    render_plot(report, "simulation.png")     # needs matplotlib

See :mod:`matching.simulator.engine` for the model of the world and docs/benchmarks.md for
results and the trade-offs made.
"""

from matching.simulator.plot import render_plot
from matching.simulator.policies import POLICIES
from matching.simulator.runner import METRICS, PolicyResult, Progress, SimulationReport, run
from matching.simulator.world import DEFAULT_WORLD_FILE, WORLDS_DIR, World, load_world

__all__ = [
    "DEFAULT_WORLD_FILE",
    "METRICS",
    "POLICIES",
    "WORLDS_DIR",
    "PolicyResult",
    "Progress",
    "SimulationReport",
    "World",
    "load_world",
    "render_plot",
    "run",
]
