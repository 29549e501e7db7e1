"""Checks every service makes before it changes anything: inputs, existence, roles."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, TypeVar

from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.errors import DomainError, Forbidden, NotFound
from domain.model import Person, Role

M = TypeVar("M", bound=SQLModel)


class InvalidField(DomainError):
    """A value somebody typed or imported that the factory cannot use; names the field."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field} {problem}")
        self.field = field
        self.problem = problem


def clean_text(value: str, *, field: str, max_length: int) -> str:
    """``value`` without surrounding whitespace; refuses blanks and text too long to store."""
    text = value.strip()
    if not text:
        raise InvalidField(field, "must not be empty")
    if len(text) > max_length:
        raise InvalidField(field, f"must be at most {max_length} characters (got {len(text)})")
    return text


def clean_skill(value: str) -> str:
    """Skills are compared across components and artisans, so case and spacing must not matter."""
    return " ".join(clean_text(value, field="skill", max_length=40).lower().split())


async def load(
    session: AsyncSession, model: type[M], key: Any, *, what: str, for_update: bool = False
) -> M:
    """The row with primary key ``key`` or a ``NotFound`` naming ``what`` was looked for.

    ``for_update`` locks the row (PostgreSQL) and re-reads it, so a decision made after taking
    the lock sees what other transactions committed while we waited for it.
    """
    row = await session.get(model, key, with_for_update=for_update, populate_existing=for_update)
    if row is None:
        raise NotFound(what, key)
    return row


async def person_in_role(
    session: AsyncSession, person_id: int, roles: Collection[Role], *, to: str
) -> Person:
    """The person, if their role lets them do what ``to`` describes; else ``Forbidden``."""
    person = await load(session, Person, person_id, what="person")
    if person.role not in roles:
        allowed = " or ".join(sorted(_role_name(r) for r in roles))
        raise Forbidden(
            f"only {_a(allowed)} may {to}; {person.name} is {_a(_role_name(person.role))}"
        )
    return person


def _role_name(role: Role) -> str:
    return str(role).replace("_", " ")


def _a(noun: str) -> str:
    return f"an {noun}" if noun[:1] in "aeiou" else f"a {noun}"
