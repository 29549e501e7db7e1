"""The simulated world's settings, read from a TOML file (see docs/simulator-world.toml).

One source of truth: a world file lists only what it changes; :func:`load_world` starts from
docs/simulator-world.toml, whose values are also :class:`World`'s defaults
(tests/integration/test_simulator_small.py fails if the two part). The round itself is not the
world's: ``World.options`` is production's :class:`~matching.round.RoundOptions` unless the
file's ``[round]`` table changes some of them (to measure, say, the fairness terms switched off).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from datetime import timedelta
from pathlib import Path
from typing import Any

from matching.round import RoundOptions

DEFAULT_WORLD_FILE = Path(__file__).resolve().parents[2] / "docs" / "simulator-world.toml"
#: Shipped worlds beyond the default (``karakana simulate --world overload`` finds them here).
WORLDS_DIR = DEFAULT_WORLD_FILE.parent / "worlds"


@dataclass(frozen=True, slots=True)
class World:
    """Everything that shapes a simulated factory; the file's keys have the same names.

    Hidden truth is drawn per artisan: acceptance propensity, reliability (P(a finished lot is
    not held up a week)) and QC skill from Beta distributions, and true capacity as declared
    capacity times an optimism factor drawn uniformly from ``capacity_optimism``.
    """

    name: str = "default"
    artisans: int = 120
    newcomers_per_week: float = 0.5
    skills: tuple[str, ...] = ("horn carving", "beadwork", "brass work")
    components_per_skill: int = 3
    piece_rate_cents: tuple[int, int] = (2_000, 20_000)
    weeks: int = 40
    drain_weeks: int = 4
    seeds: tuple[int, ...] = (1, 2, 3)
    loads: tuple[float, ...] = (0.5, 0.8)
    rounds_per_week: int = 3
    job_size: tuple[int, int] = (15, 80)
    due_weeks: tuple[int, int] = (1, 3)
    declared_capacity: tuple[int, int] = (20, 80)
    capacity_optimism: tuple[float, float] = (0.6, 1.0)
    acceptance: tuple[float, float] = (3.0, 2.0)  # Beta(a, b) of acceptance propensity
    reliability: tuple[float, float] = (4.0, 2.0)
    qc_skill: tuple[float, float] = (2.0, 2.0)
    qc_pass_range: tuple[float, float] = (0.5, 0.99)
    policies: tuple[str, ...] = (
        "random",
        "round_robin",
        "greedy",
        "ours",
        "ours_fairness_off",
        "oracle",
        "hindsight",
    )
    #: The round ours runs (and the others obey: minimum lot, splits, fairness for the oracle).
    options: RoundOptions = field(default_factory=RoundOptions)

    def __post_init__(self) -> None:
        if self.artisans < 1 or self.weeks < 1 or self.rounds_per_week < 1:
            raise ValueError("a world needs at least one artisan, one week and one round a week")
        if not self.skills:
            raise ValueError("a world needs at least one skill")
        if self.due_weeks[0] < 0 or self.due_weeks[1] < self.due_weeks[0]:
            raise ValueError("due_weeks must be [earliest, latest] weeks after the order, >= 0")
        if any(load <= 0 for load in self.loads):
            raise ValueError("every load (demand / declared capacity) must be positive")

    def with_(self, **changes: Any) -> World:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        return World(**values)


def world_file(name: Path | str) -> Path:
    """A path, or the name of a shipped world (``overload`` is docs/worlds/overload.toml)."""
    path = Path(name)
    if path.exists() or path.suffix or len(path.parts) > 1:
        return path
    return WORLDS_DIR / f"{name}.toml"


def _read(source: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(source.read_text())
    except FileNotFoundError:
        shipped = ", ".join(sorted(p.stem for p in WORLDS_DIR.glob("*.toml")))
        raise ValueError(
            f"there is no world file at {source} (shipped worlds: {shipped})"
        ) from None
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{source} is not valid TOML: {error}") from None


def _tables(source: Path, data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The [world] and [round] tables of a file, checked against the known keys."""
    table = data.get("world", {k: v for k, v in data.items() if k != "round"})
    round_table = data.get("round", {})
    known = {f.name for f in fields(World)} - {"options"}
    unknown = sorted(set(table) - known)
    if unknown:
        raise ValueError(
            f"{source} has unknown settings: {', '.join(unknown)}; known ones are "
            f"{', '.join(sorted(known))}"
        )
    options = {f.name for f in fields(RoundOptions)}
    unknown = sorted(set(round_table) - options)
    if unknown:
        raise ValueError(
            f"{source} has unknown [round] settings: {', '.join(unknown)}; known ones are "
            f"{', '.join(sorted(options))}"
        )
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in table.items()}
    return values, dict(round_table)


def load_world(path: Path | str | None = None) -> World:
    """Read a world file on top of the documented defaults (docs/simulator-world.toml): keys not
    given keep those, unknown keys are an error. ``path`` may name a shipped world."""
    base_values, base_round = _tables(DEFAULT_WORLD_FILE, _read(DEFAULT_WORLD_FILE))
    values, round_values = dict(base_values), dict(base_round)
    if path is not None:
        source = world_file(path)
        extra_values, extra_round = _tables(source, _read(source))
        values["name"] = source.stem
        values.update(extra_values)
        round_values.update(extra_round)
    if "offer_ttl" in round_values:
        round_values["offer_ttl"] = timedelta(hours=float(round_values["offer_ttl"]))
    return World(**values, options=RoundOptions().with_(**round_values))
