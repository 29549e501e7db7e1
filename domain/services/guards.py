"""Checks every service makes before it changes anything: inputs, existence, roles."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, TypeVar

from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from domain import text as text_rules
from domain.errors import DomainError, Forbidden, NotFound, Problem
from domain.model import Person, Role

M = TypeVar("M", bound=SQLModel)


class InvalidField(DomainError):
    """A value somebody typed or imported that the factory cannot use; names the field."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field} {problem}")
        self.field = field
        self.problem = problem


def clean_text(value: str, *, field: str, max_length: int) -> str:
    """``value`` cleaned as every free-text field is (``domain.text.clean_text``: no invisible
    or direction-changing characters, whitespace collapsed, one line); refuses blanks and text
    too long to store."""
    try:
        text = text_rules.clean_text(value, max_length=max_length)
    except text_rules.TextTooLong as too_long:
        raise InvalidField(
            field, f"must be at most {max_length} characters (got {too_long.length})"
        ).because(Problem("too_long", {"field": field, "most": max_length})) from None
    if not text:
        raise InvalidField(field, "must not be empty").because(Problem("empty", {"field": field}))
    return text


def clean_area(value: str) -> str:
    """An area as matching and agents' lists need it: a place name, not a sentence."""
    area = clean_text(value, field="area", max_length=60)
    if not text_rules.is_place_name(area):
        raise InvalidField(
            "area",
            f"must be a place name of at most {text_rules.PLACE_NAME_MAX_LENGTH} characters: "
            "letters, digits, spaces, hyphens and apostrophes",
        )
    return area


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
