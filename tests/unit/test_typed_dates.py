"""Due dates as admins type them: figures, English or Kiswahili month names, the next such day."""

from __future__ import annotations

from datetime import date

import pytest

from conversations.admin.typed_dates import day_in_words, example_day, parse_day
from domain.model import Language

TODAY = date(2026, 12, 8)


@pytest.mark.parametrize(
    ("typed", "day"),
    [
        ("15 Jan", date(2027, 1, 15)),
        ("15 January", date(2027, 1, 15)),
        ("15 Januari", date(2027, 1, 15)),
        ("tarehe 15 januari", date(2027, 1, 15)),
        ("Jan 15", date(2027, 1, 15)),
        ("15th Jan 2028", date(2028, 1, 15)),
        ("15/1", date(2027, 1, 15)),
        ("15.1.27", date(2027, 1, 15)),
        ("2027-01-15", date(2027, 1, 15)),
        ("Ijumaa 15 Januari", date(2027, 1, 15)),
        ("Friday, 15 Jan", date(2027, 1, 15)),
        ("20 Dec", date(2026, 12, 20)),  # later this month: this year
        ("8 Desemba", date(2026, 12, 8)),  # today is not past
        ("7 Dec", date(2027, 12, 7)),  # yesterday: next year's
        ("1 Sept", date(2027, 9, 1)),
    ],
)
def test_a_typed_day_is_read_as_its_next_occurrence(typed: str, day: date) -> None:
    assert parse_day(typed, TODAY) == day


@pytest.mark.parametrize("typed", ["31/02", "soon", "15 Smarch", "15", "Jan", "32 Jan", ""])
def test_what_names_no_day_is_none(typed: str) -> None:
    assert parse_day(typed, TODAY) is None


def test_the_example_is_in_the_future_and_reads_back() -> None:
    example = example_day(TODAY)
    assert example > TODAY
    for language in Language:
        assert parse_day(day_in_words(language, example), TODAY) == example
