"""The one way a whole number typed by a person is read: in chat, on the command line, in a CSV.

A count of pieces is never signed, never has a fraction and never an exponent, so ``-5``,
``+5``, ``2.5``, ``2,5`` and ``1e3`` are refused rather than read as something else (reading ``-5``
as 5 once accepted pieces nobody offered). Only the ASCII digits 0-9 count.

**Thousands separators** are accepted where a person types (chat): ``1,000``, ``1 000`` (also with
a no-break or thin space) and ``1000`` are the same number. Groups after the first must be of three
digits and use one separator, so ``1,00``, ``2,5`` (a decimal comma) and ``1,000 000`` are refused.
A CSV cell or an id is read ``strict``: no separators (in a CSV a comma separates values), and no
trailing full stop or bracket, which chat allows ("30." and "2)" are 30 and 2).

``whole_number`` reads a text that is the number and nothing else; ``number_in`` finds the one
number in a short phrase ("I can do 30", "naweza 30"); a phrase with two numbers is ambiguous and
refused. Either raises ``NotAWholeNumber`` naming the problem; ``or_none`` turns that into None for
a chat flow, which answers any refusal with its own hint.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from enum import StrEnum

from domain.errors import DomainError

# Hyphen-minus, plus, and the dashes and minus signs a phone's keyboard puts in their place.
_SIGNS = "-+\u2212\u2010\u2011\u2012\u2013\u2014\ufe63\uff0b\uff0d"
_SEPARATORS = ", \u00a0\u202f\u2009"
_NUMBER = re.compile(
    # A sign after a letter or digit is a hyphen ("job-12", "5-6"); one standing apart is a sign,
    # even with a space after it: "- 5" is as negative as "-5".
    rf"(?:(?<![0-9A-Za-z])(?P<sign>[{_SIGNS}])\s*)?"
    rf"(?P<digits>[0-9]+(?:[{_SEPARATORS}.][0-9]+)*)"
    rf"(?P<exponent>[eE][{_SIGNS}]?[0-9]+)?"
)
_GROUPED = re.compile(r"[0-9]{1,3}(?P<sep>[, \u00a0\u202f\u2009])[0-9]{3}(?:(?P=sep)[0-9]{3})*")
_DECIMAL_COMMA = re.compile(r"[0-9]+,[0-9]+")
_TRAILING = ".)!"  # "30." and "2)" are 30 and 2
# More digits than any limit has: int() of a huge string is slow, and refused beyond 4300 digits.
_MOST_DIGITS = 18


class Problem(StrEnum):
    EMPTY = "empty"
    NOT_A_NUMBER = "not_a_number"
    SEVERAL = "several"
    NEGATIVE = "negative"
    SIGNED = "signed"
    DECIMAL = "decimal"
    EXPONENT = "exponent"
    GROUPING = "grouping"
    TOO_SMALL = "too_small"
    TOO_LARGE = "too_large"


class NotAWholeNumber(DomainError):
    """Typed text that is not a whole number from ``least`` to ``most``; ``problem`` says why."""

    def __init__(self, text: str, problem: Problem, *, least: int, most: int) -> None:
        self.text = text
        self.problem = problem
        self.least = least
        self.most = most
        super().__init__(_reason(text, problem, least=least, most=most))


_REASONS = {
    Problem.EMPTY: "no number was given",
    Problem.NOT_A_NUMBER: "{quoted} is not a whole number",
    Problem.SEVERAL: "{quoted} has more than one number",
    Problem.NEGATIVE: "{plain} is negative",
    Problem.SIGNED: "{quoted} has a sign; write the number alone",
    Problem.DECIMAL: "{quoted} is not a whole number",
    Problem.EXPONENT: "{quoted} is not a whole number written out in digits",
    Problem.GROUPING: "{quoted} is not a whole number (thousands are grouped in threes: 1,000)",
    Problem.TOO_SMALL: "must be at least {least:,}",
    Problem.TOO_LARGE: "{plain} is more than {most:,}, the most allowed",
}


def _reason(text: str, problem: Problem, *, least: int, most: int) -> str:
    plain = " ".join(text.split())
    plain = plain if len(plain) <= 30 else plain[:27] + "..."
    return _REASONS[problem].format(quoted=repr(plain), plain=plain, least=least, most=most)


def whole_number(text: str, *, most: int, least: int = 0, strict: bool = False) -> int:
    """``text`` as a whole number from ``least`` to ``most``; it must be nothing else."""
    token = text.strip() if strict else text.strip().rstrip(_TRAILING).rstrip()
    if not token:
        raise NotAWholeNumber(text, Problem.EMPTY, least=least, most=most)
    match = _NUMBER.fullmatch(token)
    if match is None:
        problem = Problem.SEVERAL if len(_NUMBER.findall(token)) > 1 else Problem.NOT_A_NUMBER
        raise NotAWholeNumber(text, problem, least=least, most=most)
    return _value(text, match, least=least, most=most, strict=strict)


def number_in(text: str, *, most: int, least: int = 0) -> int:
    """The one number in a short phrase such as "I can do 30"; several are ambiguous."""
    matches = list(_NUMBER.finditer(text))
    if not matches:
        problem = Problem.EMPTY if not text.strip() else Problem.NOT_A_NUMBER
        raise NotAWholeNumber(text, problem, least=least, most=most)
    if len(matches) > 1:
        raise NotAWholeNumber(text, Problem.SEVERAL, least=least, most=most)
    return _value(text, matches[0], least=least, most=most, strict=False)


def or_none(read: Callable[..., int], text: str, **limits: int | bool) -> int | None:
    """``read(text, **limits)``, or None when the text is refused: a chat flow's hint says why."""
    try:
        return read(text, **limits)
    except NotAWholeNumber:
        return None


def _value(text: str, match: re.Match[str], *, least: int, most: int, strict: bool) -> int:
    def refuse(problem: Problem) -> NotAWholeNumber:
        return NotAWholeNumber(text, problem, least=least, most=most)

    sign, digits = match.group("sign"), match.group("digits")
    if match.group("exponent"):
        raise refuse(Problem.EXPONENT)
    if "." in digits:
        raise refuse(Problem.DECIMAL)
    if not digits.isdigit():
        if strict:
            raise refuse(Problem.NOT_A_NUMBER)
        if not _GROUPED.fullmatch(digits):
            # A lone comma not followed by three digits is a decimal comma: "2,5" is two and a half.
            raise refuse(Problem.DECIMAL if _DECIMAL_COMMA.fullmatch(digits) else Problem.GROUPING)
        digits = re.sub(r"[^0-9]", "", digits)
    if sign:
        negative = sign not in "+\uff0b"
        raise refuse(Problem.NEGATIVE if negative and digits.strip("0") else Problem.SIGNED)
    if len(digits.lstrip("0")) > _MOST_DIGITS:
        raise refuse(Problem.TOO_LARGE)
    value = int(digits)
    if value > most:
        raise refuse(Problem.TOO_LARGE)
    if value < least:
        raise refuse(Problem.TOO_SMALL)
    return value
