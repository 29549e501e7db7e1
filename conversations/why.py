"""``/why`` in the admin's language: ``matching.explain``'s figures said with the catalogue.

The matching layer keeps its English ``summary`` for the CLI and the logs; a person in a chat
reads this instead, built from the same ``Explanation`` and the same checks, in English or
Kiswahili, with the skill by its name and the time in Nairobi.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol

from conversations.formatting import Say, weekday_date_time
from conversations.i18n import N_
from domain.reputation import DEFAULT_PRIORS
from domain.text import quoted


# What this module reads of ``matching.explain.Explanation``: that module pulls in the models
# (scikit-learn), which conversations never import, so its shape is named here instead.
class Check(Protocol):
    @property
    def passed(self) -> bool: ...
    @property
    def detail(self) -> str: ...
    @property
    def params(self) -> Mapping[str, object]: ...


class Score(Protocol):
    @property
    def outcome(self) -> str: ...
    @property
    def prior(self) -> float: ...
    @property
    def learned(self) -> float: ...
    @property
    def trials(self) -> int: ...
    @property
    def model(self) -> float | None: ...
    @property
    def successes(self) -> int: ...
    @property
    def everyone_successes(self) -> int: ...
    @property
    def everyone_trials(self) -> int: ...
    @property
    def this_offer(self) -> float | None: ...


class Round(Protocol):
    @property
    def at(self) -> datetime | None: ...
    @property
    def offered(self) -> int: ...
    @property
    def offered_to_others(self) -> int: ...
    @property
    def outcome(self) -> str | None: ...


class Explanation(Protocol):
    @property
    def artisan_name(self) -> str: ...
    @property
    def job_id(self) -> int: ...
    @property
    def free_pieces(self) -> int: ...
    @property
    def checks(self) -> Sequence[Check]: ...
    @property
    def scores(self) -> Sequence[Score]: ...
    @property
    def score(self) -> float: ...
    @property
    def rank(self) -> int | None: ...
    @property
    def candidates(self) -> int: ...
    @property
    def last_round(self) -> Round: ...


_FAILED = {
    "status": N_("why.check.status"),
    "no_skill": N_("why.check.no_skill"),
    "opted_out": N_("why.check.opted_out"),
    "capacity": N_("why.check.capacity"),
    "open_offer": N_("why.check.open_offer"),
    "past_offer": N_("why.check.past_offer"),
}
_OUTCOMES = {
    "accept": N_("why.outcome.accept"),
    "on_time": N_("why.outcome.on_time"),
    "qc_pass": N_("why.outcome.qc_pass"),
}
# The plain count behind each estimate, said as /artisan's record says it (issue 16 item 8).
_COUNTS = {
    "accept": N_("why.clarity.count_accept"),
    "on_time": N_("why.clarity.count_on_time"),
    "qc_pass": N_("why.clarity.count_qc_pass"),
}
_STATUS = {  # an artisan's or an offer's state, as /why names it
    "pending": N_("why.status.pending"),
    "paused": N_("why.status.paused"),
    "active": N_("why.status.active"),
    "open": N_("why.status.open"),
    "accepted": N_("why.status.accepted"),
    "partly_accepted": N_("why.status.partly_accepted"),
    "declined": N_("why.status.declined"),
    "expired": N_("why.status.expired"),
    "withdrawn": N_("why.status.withdrawn"),
}


def _status(t: Say, value: object) -> str:
    msgid = _STATUS.get(str(value))
    return t(msgid) if msgid else str(value)


def _failed(t: Say, check: Check) -> str:
    params: Mapping[str, object] = check.params
    msgid = _FAILED.get(str(params.get("state")))
    if msgid is None:  # a check this module does not know yet: its own words, not nothing
        return check.detail
    said = {key: value for key, value in params.items() if key != "state"}
    if "status" in said:
        said["status"] = _status(t, said["status"])
    return t(msgid, **said)


def why_text(t: Say, e: Explanation) -> str:
    """The whole answer to ``/why artisan job`` in ``t``'s language."""
    name = quoted(e.artisan_name)  # their own words, in an admin's /why reply
    last = e.last_round
    parts: list[str] = []
    if last.at is None:
        parts.append(t("why.never_offered", job=e.job_id))
    elif last.offered:
        parts.append(
            t(
                "why.offered",
                name=name,
                count=last.offered,
                job=e.job_id,
                when=weekday_date_time(t, last.at),
                status=_status(t, last.outcome),
            )
        )
    else:
        parts.append(
            t(
                "why.not_offered",
                name=name,
                job=e.job_id,
                when=weekday_date_time(t, last.at),
                others=last.offered_to_others,
            )
        )
    failed = next((c for c in e.checks if not c.passed), None)
    if failed is not None:
        parts.append(t("why.cannot", name=name, reason=_failed(t, failed)))
    elif e.free_pieces <= 0:
        parts.append(t("why.all_taken", job=e.job_id))
    else:
        parts.append(
            t("why.eligible", name=name, rank=e.rank, candidates=e.candidates, count=e.free_pieces)
        )
    rates = ", ".join(_rate(t, s) for s in e.scores)
    parts.append(t("why.expected", score=f"{e.score:.0%}", rates=rates))
    # Not the same figures as /artisan's score: say which is which, so the two cannot be read
    # as one number that disagrees with itself.
    typical = DEFAULT_PRIORS
    parts.append(
        t(
            "why.clarity.note",
            on_time=f"{typical.on_time.mean:.0%}",
            qc=f"{typical.qc_pass.mean:.0%}",
            accept=f"{typical.acceptance.mean:.0%}",
        )
    )
    return " ".join(parts)


def _counted(t: Say, outcome: str, successes: int, trials: int) -> str:
    if trials <= 0 or outcome not in _COUNTS:
        return t("why.clarity.count_none")
    return t(_COUNTS[outcome], successes=successes, count=trials)


def _rate(t: Say, s: Score) -> str:
    """One outcome: the figure this offer is scored with, then the plain counts it comes from
    (the artisan's own, everyone's) and, with a trained model, the model's own figure."""
    figure = s.this_offer if s.this_offer is not None else s.learned
    said = {
        "outcome": t(_OUTCOMES[s.outcome]) if s.outcome in _OUTCOMES else s.outcome,
        "estimate": f"{figure:.0%}",
        "own": _counted(t, s.outcome, s.successes, s.trials),
        # With nobody's record yet the matcher starts at an even guess (matching.priors.pooled).
        "everyone": _counted(t, s.outcome, s.everyone_successes, s.everyone_trials)
        if s.everyone_trials > 0
        else t("why.clarity.everyone_none"),
    }
    if s.model is not None:
        return t("why.clarity.rate_model", model=f"{s.model:.0%}", **said)
    return t("why.clarity.rate", **said)
