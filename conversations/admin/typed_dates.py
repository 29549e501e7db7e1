"""Days as admins type them in chat: ``15/1``, ``15 Jan``, ``15 Januari``, ``Jan 15``,
``Ijumaa 15 Januari``, ``2027-01-15`` or ``15/01/2027``.

A day without a year is its next occurrence: this year's if it is today or later, else next
year's, so "15 Jan" typed in December is next January, never a day already past. A day with a
year is taken as written (the caller refuses one that has passed). Month names are English or
Kiswahili, in full or their first three letters; a weekday in front ("Friday", "Ijumaa") is
ignored.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from babel.dates import format_date, get_month_names

from domain.model import Language

# One source for month names: Babel's (the same that writes dates out in formatting.py), in
# full and abbreviated, for every language we speak ("Jan", "Januari", "Mac", "Machi"...).
_MONTHS: dict[str, int] = {
    spelling: number
    for language in Language
    for width in ("wide", "abbreviated")
    for number, name in get_month_names(width, locale=str(language)).items()
    for spelling in (name.casefold(), name.casefold()[:3])
} | {"sept": 9}

_NUMERIC = (
    re.compile(r"(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})"),
    re.compile(r"(?P<d>\d{1,2})[/.-](?P<m>\d{1,2})(?:[/.-](?P<y>\d{2}|\d{4}))?"),
)
_DAY_MONTH = re.compile(
    r"(?P<d>\d{1,2})(?:st|nd|rd|th)?\s*(?P<month>[^\W\d_]+)\.?(?:,?\s+(?P<y>\d{4}))?"
)
_MONTH_DAY = re.compile(
    r"(?P<month>[^\W\d_]+)\.?\s*(?P<d>\d{1,2})(?:st|nd|rd|th)?(?:,?\s+(?P<y>\d{4}))?"
)
_LEADING_WORD = re.compile(r"(?P<word>[^\W\d_]+)[,.]?\s+(?P<rest>.+)")


def parse_day(text: str, today: date) -> date | None:
    """The day ``text`` names, or None when it names none (or an impossible one: 31/02)."""
    token = " ".join(text.casefold().split()).removeprefix("tarehe ")
    day = _parse(token, today)
    if day is None:
        leading = _LEADING_WORD.fullmatch(token)  # "friday 15 jan", "ijumaa 15/1"
        if leading is not None and leading.group("word") not in _MONTHS:
            day = _parse(leading.group("rest"), today)
    return day


def _parse(token: str, today: date) -> date | None:
    for pattern in _NUMERIC:
        match = pattern.fullmatch(token)
        if match is not None:
            return _day(today, match.group("d"), int(match.group("m")), match.group("y"))
    for pattern in (_DAY_MONTH, _MONTH_DAY):
        match = pattern.fullmatch(token)
        if match is not None and match.group("month") in _MONTHS:
            return _day(today, match.group("d"), _MONTHS[match.group("month")], match.group("y"))
    return None


def _day(today: date, day: str, month: int, year: str | None) -> date | None:
    try:
        if year is None:
            guess = date(today.year, month, int(day))
            return guess if guess >= today else date(today.year + 1, month, int(day))
        full = int(year) + 2000 if len(year) == 2 else int(year)
        return date(full, month, int(day))
    except ValueError:
        return None


def example_day(today: date) -> date:
    """A due date worth showing as an example: four weeks ahead, always in the future."""
    return today + timedelta(weeks=4)


def day_in_words(language: Language, value: date) -> str:
    """``15 January`` / ``15 Januari``: how a day is typed in words (``parse_day`` reads it)."""
    return format_date(value, "d MMMM", locale=str(language))
