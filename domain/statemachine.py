"""Each entity's life cycle as one transition table, and the single check that enforces it."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Generic, TypeVar

from domain.errors import IllegalTransition

S = TypeVar("S", bound=StrEnum)


class Transitions(Generic[S]):
    """A declared table ``state -> states it may move to``; states with no exits are final."""

    def __init__(self, entity: str, table: Mapping[S, frozenset[S]]) -> None:
        states = set(table)
        for source, targets in table.items():
            unknown = set(targets) - states
            if unknown:
                raise ValueError(f"{entity}: {source} leads to undeclared states {unknown}")
        self.entity = entity
        self.table: Mapping[S, frozenset[S]] = table

    def allowed(self, current: S) -> frozenset[S]:
        return self.table[current]

    def can(self, current: S, target: S) -> bool:
        return target in self.table[current]

    def is_final(self, state: S) -> bool:
        return not self.table[state]

    def check(self, current: S, target: S) -> S:
        """Return ``target`` if the move is legal, else raise a clear ``IllegalTransition``."""
        if target not in self.table[current]:
            raise IllegalTransition(
                self.entity,
                str(current),
                str(target),
                frozenset(str(s) for s in self.table[current]),
            )
        return target
