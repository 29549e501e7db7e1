"""The simulated world's settings, read from a TOML file (see docs/simulator-world.toml)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

DEFAULT_WORLD_FILE = Path(__file__).resolve().parents[2] / "docs" / "simulator-world.toml"


@dataclass(frozen=True, slots=True)
class World:
    """Everything that shapes a simulated factory; the file's keys have the same names.

    Hidden truth is drawn per artisan: acceptance propensity, reliability (P(a finished lot is
    not held up a week)) and QC skill from Beta distributions, and true capacity as declared
    capacity times an optimism factor drawn uniformly from ``capacity_optimism``.
    """

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
    min_lot: int = 10
    max_splits: int = 4
    job_size: tuple[int, int] = (15, 80)
    due_weeks: tuple[int, int] = (1, 3)
    declared_capacity: tuple[int, int] = (20, 80)
    capacity_optimism: tuple[float, float] = (0.45, 1.0)
    acceptance: tuple[float, float] = (6.0, 2.0)  # Beta(a, b) of acceptance propensity
    reliability: tuple[float, float] = (8.0, 2.0)
    qc_skill: tuple[float, float] = (5.0, 2.0)
    qc_pass_range: tuple[float, float] = (0.6, 0.99)
    policies: tuple[str, ...] = ("random", "round_robin", "greedy", "ours", "oracle")
    fairness_weight: float = 0.3
    fairness_band: int = 20
    starved_bonus: float = 1.0
    overload_penalty: float = 0.3
    over_offer: float = 2.0

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


def load_world(path: Path | str | None = None) -> World:
    """Read a world file; keys not given keep their defaults, unknown keys are an error."""
    source = Path(path) if path is not None else DEFAULT_WORLD_FILE
    try:
        data = tomllib.loads(source.read_text())
    except FileNotFoundError:
        raise ValueError(f"there is no world file at {source}") from None
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{source} is not valid TOML: {error}") from None
    table = data.get("world", data)
    known = {f.name for f in fields(World)}
    unknown = sorted(set(table) - known)
    if unknown:
        raise ValueError(
            f"{source} has unknown settings: {', '.join(unknown)}; known ones are "
            f"{', '.join(sorted(known))}"
        )
    values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in table.items()}
    return World(**values)
