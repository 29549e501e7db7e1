"""Domain errors: each carries a message a person can act on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Self


@dataclass(frozen=True, slots=True)
class Problem:
    """A broken rule as facts a person reads in their own language: a stable ``code`` (its
    message is ``error.<code>`` in conversations/locale/*/LC_MESSAGES/errors.po) and the
    ``fields`` that message needs. The English ``str()`` of the error stays for logs and the
    CLI."""

    code: str
    fields: Mapping[str, object] = field(default_factory=dict)


class DomainError(Exception):
    """A rule of the factory was broken; the message says which and why (in English, for logs
    and the CLI). ``reasons`` say it again as facts for chat (``Problem``); an error without
    them is shown to a person as "could not be done", never as its English text."""

    reasons: tuple[Problem, ...] = ()

    def because(self, *reasons: Problem) -> Self:
        """This error, carrying ``reasons`` for people:
        ``raise DomainError("...").because(Problem(...))``."""
        self.reasons = reasons
        return self


class NotFound(DomainError):
    def __init__(self, what: str, key: object) -> None:
        super().__init__(f"{what} {key} does not exist")
        self.what = what
        self.key = key
        self.reasons = (Problem("not_found", {"what": what, "key": key}),)


class IllegalTransition(DomainError):
    def __init__(self, entity: str, current: str, target: str, allowed: frozenset[str]) -> None:
        options = ", ".join(sorted(allowed)) if allowed else "nothing (it is final)"
        super().__init__(
            f"a {entity} that is {current} cannot become {target}; from {current} it can become "
            f"{options}"
        )
        self.entity = entity
        self.current = current
        self.target = target


class InvalidQuantity(DomainError):
    """A count that breaks the job quantity invariant or is not a positive whole number."""


class Forbidden(DomainError):
    """Somebody tried to act outside their role or on something that is not theirs."""


class LedgerError(DomainError):
    """A transfer that would break the ledger's rules (unbalanced, edited, paid twice)."""


class PayoutError(DomainError):
    """A payout step that cannot be taken: a bad minimum or M-Pesa result code, a batch that is
    not approved, or an M-Pesa report that contradicts what was recorded for a payout. The
    ledger's own rules are :class:`LedgerError`'s."""


class CancelledWorkClosed(DomainError):
    """Pieces offered on a cancelled job after its grace for made pieces ran out."""

    def __init__(self, allocation_id: int, submit_by: date) -> None:
        super().__init__(
            f"allocation {allocation_id} was cancelled with its job; made pieces were accepted "
            f"until {submit_by}, so no more can be submitted"
        )
        self.allocation_id = allocation_id
        self.submit_by = submit_by
