"""Learned effective capacity: what an artisan really makes in a week, as a soft limit.

Declared capacity is often optimistic ("I can do 100 a week") and a matcher that believes it
overloads the best workshops and turns good artisans into late ones. A hard cap at some learned
number is no better: under high load it collapses the fill rate. So the optimiser gets two
limits per (artisan, skill): the declared capacity left, never exceeded, and the *effective*
capacity left, which it passes only when a piece is worth more than the overload penalty.

The effective capacity is the declared capacity shrunk toward observed weekly throughput:

    effective = (strength x declared + pieces made in stretched weeks)
                / (strength + number of stretched weeks)

A *stretched* week is one in which the artisan fell behind (a lot due that week was not finished
in time): only then does the number of pieces made say what they can do, rather than how much
work they happened to be given. Weeks in which they kept up say nothing against the declaration.
The result never exceeds the declared capacity and never falls below the most the artisan has
actually made in one week (they have shown they can), nor below ``floor_share`` of the declared
capacity (one bad week must not starve them of work).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class WeekOfWork:
    """One artisan's week in one skill: pieces made, and whether a lot due that week ran late."""

    made: int
    fell_behind: bool

    def __post_init__(self) -> None:
        if self.made < 0:
            raise ValueError(f"pieces made in a week cannot be negative ({self.made})")


@dataclass(frozen=True, slots=True)
class CapacityPrior:
    """How much the declaration is worth (in weeks of evidence) and the floor under it."""

    strength: float = 2.0
    floor_share: float = 0.25

    def __post_init__(self) -> None:
        if self.strength <= 0:
            raise ValueError(f"the capacity prior's strength must be positive ({self.strength})")
        if not 0.0 <= self.floor_share <= 1.0:
            raise ValueError(f"the floor share must lie in [0, 1] ({self.floor_share})")


DEFAULT_CAPACITY_PRIOR = CapacityPrior()

#: Stretched weeks older than the recent window still kept as evidence (the latest of them).
REMEMBERED_STRETCHED_WEEKS = 6


def capacity_evidence(
    recent: Sequence[WeekOfWork],
    older: Sequence[WeekOfWork],
    *,
    remembered: int = REMEMBERED_STRETCHED_WEEKS,
) -> list[WeekOfWork]:
    """The weeks :func:`effective_capacity` learns from: every recent week, and the latest
    ``remembered`` stretched weeks before them (``older`` oldest first).

    With a recent window alone the evidence evaporates: an artisan who is given less once their
    capacity is learned stops falling behind, their stretched weeks age out, the estimate
    climbs back to the declaration, they are overloaded again (1.27 -> 1.03 -> 1.27 of true
    capacity over 25 simulated weeks). Weeks they kept up say nothing against the declaration,
    so only stretched ones are remembered.
    """
    kept = [w for w in older if w.fell_behind][-remembered:] if remembered > 0 else []
    return [*kept, *recent]


def effective_capacity(
    declared: float,
    weeks: Iterable[WeekOfWork],
    prior: CapacityPrior = DEFAULT_CAPACITY_PRIOR,
    *,
    realism: float = 1.0,
) -> float:
    """The declared weekly capacity shrunk toward what the artisan made when stretched.

    ``realism`` is the population's made / declared ratio in stretched weeks
    (:func:`population_realism`): the prior for somebody with no evidence of their own is
    ``realism x declared``, so a newcomer is not overloaded just because they are new.
    """
    if declared < 0:
        raise ValueError(f"declared capacity cannot be negative ({declared})")
    observed = list(weeks)
    stretched = [w.made for w in observed if w.fell_behind]
    centre = min(max(realism, prior.floor_share), 1.0) * declared
    estimate = (prior.strength * centre + sum(stretched)) / (prior.strength + len(stretched))
    shown = max((w.made for w in observed), default=0)
    floor = max(float(shown), prior.floor_share * declared)
    return float(min(declared, max(estimate, floor)))


def population_realism(
    histories: Iterable[tuple[float, Iterable[WeekOfWork]]], *, pseudo_weeks: float = 5.0
) -> float:
    """How optimistic declarations are across the factory: the mean made / declared over
    everybody's stretched weeks, shrunk toward 1 by ``pseudo_weeks`` (empirical Bayes).

    ``histories`` holds one (declared capacity, weeks of work) pair per artisan and skill.
    """
    ratios = [
        min(week.made / capacity, 1.0)
        for capacity, weeks in histories
        if capacity > 0
        for week in weeks
        if week.fell_behind
    ]
    return (sum(ratios) + pseudo_weeks) / (len(ratios) + pseudo_weeks)
