"""Beta priors for the three outcomes matching cares about, and Thompson sampling over them.

Every artisan's chance to *accept* an offer, deliver *on time* and *pass QC* is a probability we
learn from counts. A Beta(alpha, beta) prior is the conjugate answer: after ``s`` successes in
``n`` trials the posterior is Beta(alpha + s, beta + n - s), so updating is two additions and the
whole population is updated with one vectorised line.

Newcomers are explored on purpose, in three ways that compound:

1. **Centred, weak priors.** A newcomer starts at the population's rate (empirical Bayes, see
   :meth:`BetaPrior.centred_on`) with only a few pseudo-observations of weight, so they are neither
   punished for having no history nor trusted as much as a proven artisan.
2. **Thompson sampling.** Matching ranks artisans by a *sample* from each posterior, not its mean.
   A newcomer's posterior is wide, so their sample often beats an established artisan's narrow
   one: they get trial lots quickly, and each outcome narrows their posterior. A proven artisan's
   sample sits near their mean, so exploring costs little once the evidence is in.
3. **An optimism floor for the untried.** Until an artisan has ``explore_until`` trials, their
   sample is at least their posterior mean (:meth:`OutcomePriors.thompson`), so an unlucky draw
   never buries somebody who has barely had a chance.

Samples come from a caller-supplied ``numpy.random.Generator``: the same seed gives the same
ranking, which keeps the simulator and the tests reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]

OUTCOMES: tuple[str, str, str] = ("accept", "on_time", "qc_pass")


@dataclass(frozen=True, slots=True)
class BetaPrior:
    """Beta(alpha, beta): ``alpha`` pseudo-successes and ``beta`` pseudo-failures."""

    alpha: float
    beta: float

    def __post_init__(self) -> None:
        if not (self.alpha > 0 and self.beta > 0):
            raise ValueError(
                f"a Beta prior needs alpha > 0 and beta > 0, got alpha={self.alpha}, "
                f"beta={self.beta}"
            )

    @property
    def mean(self) -> float:
        return self.alpha / (self.alpha + self.beta)

    @property
    def strength(self) -> float:
        """How many observations the prior is worth."""
        return self.alpha + self.beta

    @classmethod
    def centred_on(cls, rate: float, strength: float) -> BetaPrior:
        """A prior whose mean is ``rate`` and which counts as ``strength`` observations.

        Use the population's pooled rate for ``rate`` (empirical Bayes); keep ``strength`` small
        (2-10) so a handful of the artisan's own outcomes outweigh it.
        """
        if not 0.0 < rate < 1.0:
            raise ValueError(f"a prior rate must lie strictly between 0 and 1, got {rate}")
        if strength <= 0:
            raise ValueError(f"a prior strength must be positive, got {strength}")
        return cls(alpha=rate * strength, beta=(1.0 - rate) * strength)

    @classmethod
    def pooled(cls, successes: ArrayLike, trials: ArrayLike, strength: float) -> BetaPrior:
        """Empirical-Bayes prior from everybody's counts, clipped away from 0 and 1."""
        total_trials = float(np.sum(trials))
        rate = float(np.sum(successes)) / total_trials if total_trials > 0 else 0.5
        return cls.centred_on(min(max(rate, 0.01), 0.99), strength)

    def posterior(self, successes: ArrayLike, trials: ArrayLike) -> BetaPosterior:
        s = np.asarray(successes, dtype=np.float64)
        n = np.asarray(trials, dtype=np.float64)
        if np.any(s < 0) or np.any(s > n):
            raise ValueError("successes must lie between 0 and the number of trials")
        return BetaPosterior(alpha=self.alpha + s, beta=self.beta + (n - s), prior=self)


@dataclass(frozen=True, slots=True)
class BetaPosterior:
    """Posteriors for many artisans at once (arrays of equal shape)."""

    alpha: FloatArray
    beta: FloatArray
    prior: BetaPrior

    def mean(self) -> FloatArray:
        return self.alpha / (self.alpha + self.beta)

    def variance(self) -> FloatArray:
        total = self.alpha + self.beta
        return self.alpha * self.beta / (total * total * (total + 1.0))

    def trials(self) -> FloatArray:
        """The artisan's own observations (the prior's pseudo-counts removed)."""
        return self.alpha + self.beta - self.prior.strength

    def sample(self, rng: np.random.Generator) -> FloatArray:
        return rng.beta(self.alpha, self.beta)


@dataclass(frozen=True, slots=True)
class OutcomeCounts:
    """Each artisan's counts, one entry per artisan (plain integer arrays).

    ``offers``/``accepted`` count offers; ``deliveries``/``on_time`` count allocations that came
    due; ``reviewed``/``passed`` count pieces through QC.
    """

    offers: NDArray[np.int64]
    accepted: NDArray[np.int64]
    deliveries: NDArray[np.int64]
    on_time: NDArray[np.int64]
    reviewed: NDArray[np.int64]
    passed: NDArray[np.int64]

    @classmethod
    def of(
        cls,
        *,
        offers: ArrayLike,
        accepted: ArrayLike,
        deliveries: ArrayLike,
        on_time: ArrayLike,
        reviewed: ArrayLike,
        passed: ArrayLike,
    ) -> OutcomeCounts:
        def as_counts(values: ArrayLike) -> NDArray[np.int64]:
            return np.atleast_1d(np.asarray(values, dtype=np.int64))

        return cls(
            as_counts(offers),
            as_counts(accepted),
            as_counts(deliveries),
            as_counts(on_time),
            as_counts(reviewed),
            as_counts(passed),
        )

    def pair(self, outcome: str) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """(successes, trials) for one of :data:`OUTCOMES`."""
        if outcome == "accept":
            return self.accepted, self.offers
        if outcome == "on_time":
            return self.on_time, self.deliveries
        if outcome == "qc_pass":
            return self.passed, self.reviewed
        raise ValueError(f"unknown outcome {outcome!r}; expected one of {', '.join(OUTCOMES)}")


@dataclass(frozen=True, slots=True)
class OutcomePriors:
    """One Beta prior per outcome plus the exploration rule for the untried.

    The defaults are deliberately mild beliefs about a Nairobi workshop before any data: most
    offers are accepted, most lots arrive on time, most pieces pass. Replace them with
    :meth:`pooled` once the store has history.
    """

    accept: BetaPrior = BetaPrior(3.2, 0.8)  # mean 0.80, worth 4 offers
    on_time: BetaPrior = BetaPrior(3.0, 1.0)  # mean 0.75, worth 4 lots
    qc_pass: BetaPrior = BetaPrior(8.5, 1.5)  # mean 0.85, worth 10 pieces (pieces are many)
    explore_until: int = 3

    @classmethod
    def pooled(cls, counts: OutcomeCounts, *, explore_until: int = 3) -> OutcomePriors:
        """Priors centred on the population's pooled rates, with the defaults' strengths."""
        base = cls()
        return cls(
            accept=BetaPrior.pooled(*counts.pair("accept"), strength=base.accept.strength),
            on_time=BetaPrior.pooled(*counts.pair("on_time"), strength=base.on_time.strength),
            qc_pass=BetaPrior.pooled(*counts.pair("qc_pass"), strength=base.qc_pass.strength),
            explore_until=explore_until,
        )

    def prior(self, outcome: str) -> BetaPrior:
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}; expected one of {', '.join(OUTCOMES)}")
        prior: BetaPrior = getattr(self, outcome)
        return prior

    def posterior(self, outcome: str, counts: OutcomeCounts) -> BetaPosterior:
        return self.prior(outcome).posterior(*counts.pair(outcome))

    def posterior_means(self, counts: OutcomeCounts) -> dict[str, FloatArray]:
        return {o: self.posterior(o, counts).mean() for o in OUTCOMES}

    def thompson(self, counts: OutcomeCounts, rng: np.random.Generator) -> dict[str, FloatArray]:
        """One Thompson sample per outcome and artisan, with the optimism floor for the untried.

        Draw order is fixed (accept, on time, QC pass) so one seed gives one ranking.
        """
        samples: dict[str, FloatArray] = {}
        for outcome in OUTCOMES:
            posterior = self.posterior(outcome, counts)
            draw = posterior.sample(rng)
            untried = posterior.trials() < self.explore_until
            samples[outcome] = np.where(untried, np.maximum(draw, posterior.mean()), draw)
        return samples

    def expected_good_share(self, counts: OutcomeCounts) -> FloatArray:
        """P(accept) x P(on time) x P(QC pass) from posterior means: the objective's unit."""
        means = self.posterior_means(counts)
        return means["accept"] * means["on_time"] * means["qc_pass"]

    def thompson_good_share(self, counts: OutcomeCounts, rng: np.random.Generator) -> FloatArray:
        """The same product from Thompson samples: a ranking that explores."""
        draws = self.thompson(counts, rng)
        return draws["accept"] * draws["on_time"] * draws["qc_pass"]
