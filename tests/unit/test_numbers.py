"""The one reader of typed whole numbers (domain/numbers.py): what it takes, what it refuses."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.limits import MAX_PIECES
from domain.numbers import NotAWholeNumber, Problem, number_in, or_none, whole_number

MOST = MAX_PIECES


def refused(text: str, *, strict: bool = False, least: int = 0) -> Problem:
    with pytest.raises(NotAWholeNumber) as caught:
        whole_number(text, most=MOST, least=least, strict=strict)
    return caught.value.problem


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("30", 30),
        (" 30 ", 30),
        ("030", 30),
        ("0", 0),
        ("30.", 30),  # a full stop ends a sentence, it is no decimal point
        ("2)", 2),
        ("1,000", 1000),
        ("1 000", 1000),
        ("1\u00a0000", 1000),  # no-break space, as a phone's keyboard may put it
        ("1\u202f000", 1000),  # narrow no-break space
        ("100,000", 100_000),
    ],
)
def test_a_plain_number_with_or_without_thousands_separators_is_read(text: str, value: int) -> None:
    assert whole_number(text, most=MOST) == value


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", Problem.EMPTY),
        ("   ", Problem.EMPTY),
        ("thirty", Problem.NOT_A_NUMBER),
        ("tatu", Problem.NOT_A_NUMBER),
        ("-5", Problem.NEGATIVE),
        ("−5", Problem.NEGATIVE),  # the minus sign
        ("–5", Problem.NEGATIVE),  # an en dash, as autocorrect makes of a hyphen
        ("- 5", Problem.NEGATIVE),
        ("+5", Problem.SIGNED),
        ("-0", Problem.SIGNED),
        ("2.5", Problem.DECIMAL),
        ("2,5", Problem.DECIMAL),  # a decimal comma
        ("1,00", Problem.DECIMAL),
        ("1e3", Problem.EXPONENT),
        ("1E3", Problem.EXPONENT),
        ("1,0000", Problem.DECIMAL),
        ("1,000 000", Problem.GROUPING),  # one separator throughout
        ("1 00 000", Problem.GROUPING),
        ("3 4", Problem.GROUPING),
        ("3 or 4", Problem.SEVERAL),
        ("100001", Problem.TOO_LARGE),
        ("99999999999999999999", Problem.TOO_LARGE),
        ("9" * 5000, Problem.TOO_LARGE),  # int() itself refuses a string of over 4300 digits
        ("²", Problem.NOT_A_NUMBER),  # isdigit() says yes, int() says no
        ("١٢", Problem.NOT_A_NUMBER),  # only the digits 0-9 are read
    ],
)
def test_anything_but_a_plain_whole_number_is_refused_naming_why(
    text: str, problem: Problem
) -> None:
    assert refused(text) is problem


def test_strict_reading_takes_digits_and_nothing_else() -> None:
    assert whole_number("1000", most=MOST, strict=True) == 1000
    assert refused("1,000", strict=True) is Problem.NOT_A_NUMBER
    assert refused("1 000", strict=True) is Problem.NOT_A_NUMBER
    assert refused("30.", strict=True) is Problem.NOT_A_NUMBER


def test_a_number_below_the_least_is_refused() -> None:
    assert refused("0", least=1) is Problem.TOO_SMALL


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("I can do 30", 30),
        ("naweza 30 tu", 30),
        ("30 pieces", 30),
        ("I made 1,000, sorry", 1000),
        ("job-12", 12),  # a hyphen after a letter is no minus sign
    ],
)
def test_the_one_number_in_a_phrase_is_read(text: str, value: int) -> None:
    assert number_in(text, most=MOST) == value


@pytest.mark.parametrize(
    "text", ["I can do -5", "naweza - 5", "30 or 40", "5-6", "about 2.5", "lots", "", "1e3 pcs"]
)
def test_a_phrase_with_no_number_several_or_a_signed_one_gives_none(text: str) -> None:
    assert or_none(number_in, text, most=MOST) is None


def test_the_refusal_says_why_in_words_a_person_understands() -> None:
    with pytest.raises(NotAWholeNumber, match="99999999999999999999 is more than 100,000"):
        whole_number("99999999999999999999", most=MOST)
    with pytest.raises(NotAWholeNumber, match="-5 is negative"):
        whole_number("-5", most=MOST)
    with pytest.raises(NotAWholeNumber, match="must be at least 1"):
        whole_number("0", most=MOST, least=1)


# --- properties --------------------------------------------------------------------------------

separators = st.sampled_from([",", " ", "\u00a0", "\u202f"])
counts = st.integers(min_value=0, max_value=MOST)


def grouped(value: int, separator: str) -> str:
    return f"{value:,}".replace(",", separator)


@given(counts, separators)
def test_every_count_reads_back_plain_or_grouped_alone_or_in_a_phrase(
    value: int, separator: str
) -> None:
    for text in (str(value), grouped(value, separator)):
        assert whole_number(text, most=MOST) == value
        assert number_in(f"nimemaliza {text} leo", most=MOST) == value


@given(st.integers(min_value=MOST + 1, max_value=10**40), separators)
def test_every_number_beyond_the_most_is_refused_as_too_large(value: int, separator: str) -> None:
    for text in (str(value), grouped(value, separator)):
        with pytest.raises(NotAWholeNumber) as caught:
            whole_number(text, most=MOST)
        assert caught.value.problem is Problem.TOO_LARGE


@given(st.integers(min_value=1, max_value=10**25), st.sampled_from(["-", "−", "–", "- "]))
def test_every_negative_number_is_refused_and_never_read_as_its_size(value: int, sign: str) -> None:
    text = f"{sign}{value}"
    with pytest.raises(NotAWholeNumber) as caught:
        whole_number(text, most=MOST)
    assert caught.value.problem is Problem.NEGATIVE
    assert or_none(number_in, f"I can do {text}", most=MOST) is None


@given(counts, st.integers(min_value=0, max_value=999), st.integers(min_value=0, max_value=30))
def test_fractions_and_exponents_are_refused(value: int, fraction: int, exponent: int) -> None:
    for text in (f"{value}.{fraction}", f"{value}e{exponent}", f"{value}E-{exponent}"):
        assert or_none(whole_number, text, most=MOST) is None
        assert or_none(number_in, text, most=MOST) is None


@given(st.text(max_size=40))
def test_any_text_is_a_count_within_the_limits_or_refused_and_nothing_else(text: str) -> None:
    for read in (whole_number, number_in):
        value = or_none(read, text, most=MOST, least=1)  # any other exception fails the test
        assert value is None or 1 <= value <= MOST
