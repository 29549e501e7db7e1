"""Every reason the domain gives people (``domain.errors.Problem``, a CSV line's ``fact``) has
its message in the catalogues, so a refusal reaches chat in the reader's language, never as
"could not be done" for want of words."""

from __future__ import annotations

import ast
from pathlib import Path

import domain
from conversations.errors import MESSAGES
from domain.numbers import Problem as NumberProblem

CODE = Path(domain.__file__).parent
_MAKERS = {"Problem", "Fact", "refuse"}  # refuse(english, code, **fields) in services/orders.py


def codes_the_domain_gives() -> set[str]:
    found: set[str] = set()
    for path in CODE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else None
            if name not in _MAKERS:
                continue
            found.update(
                arg.value
                for arg in node.args
                if isinstance(arg, ast.Constant)
                and isinstance(arg.value, str)
                and " " not in arg.value
            )
    # The CSV reader names a number's problem by domain.numbers' codes: number.<code>.
    return found | {f"number.{problem}" for problem in NumberProblem}


def test_every_reason_the_domain_gives_has_its_words() -> None:
    given = codes_the_domain_gives()
    assert {"no_bom", "due_in_past", "csv.missing_value", "identity_taken"} <= given
    assert given - set(MESSAGES) == set()
