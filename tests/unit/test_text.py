"""People's free text: cleaned of invisible and direction-changing characters, and quoted."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.text import TextTooLong, clean_text, is_place_name, quoted

BIDI_CONTROLS = [
    *(chr(c) for c in range(0x202A, 0x202F)),
    *(chr(c) for c in range(0x2066, 0x206A)),
    "\u200e",
    "\u200f",
    "\u061c",
]
ALLOWED_FORMAT = {"\u200d"}  # the zero-width joiner of emoji sequences, between two characters


# Plenty of the characters that matter, among any others (lone surrogates included).
TRICKY = st.text(
    st.one_of(
        st.characters(exclude_categories=()),
        st.sampled_from(
            [*BIDI_CONTROLS, "\u200d", "\u200b", "\ufe0f", "\u0301", "\n", "\r", "\t", " ", "e"]
        ),
    )
)


def _forbidden(text: str, *, multiline: bool) -> list[str]:
    return [
        ch
        for ch in text
        if unicodedata.category(ch) in {"Cc", "Cf", "Cs"}
        and ch not in ALLOWED_FORMAT
        and not (multiline and ch == "\n")
    ]


@pytest.mark.parametrize("control", BIDI_CONTROLS)
def test_every_bidirectional_control_is_removed(control: str) -> None:
    assert clean_text(f"Kazi{control} Beads{control}") == "Kazi Beads"


def test_a_right_to_left_override_cannot_reverse_a_workshop_name() -> None:
    assert clean_text("\u202eshtaeB izaK") == "shtaeB izaK"


def test_zero_width_and_other_format_characters_are_removed() -> None:
    assert clean_text("Wan\u200bjiru\u00ad \ufeffKa\u2060mau\U000e0041") == "Wanjiru Kamau"


def test_control_characters_go_and_whitespace_runs_become_one_space() -> None:
    assert clean_text("  Wanjiru\t\x00Kamau\x07 \u00a0 \u3000x \n y  ") == "Wanjiru Kamau x y"


def test_one_line_text_joins_its_lines() -> None:
    assert (
        clean_text("Kibera\n\nVERIFIED by admin\r\n/verify 1")
        == "Kibera VERIFIED by admin /verify 1"
    )


def test_multiline_text_keeps_its_lines_and_at_most_one_blank_line() -> None:
    typed = "\n  First  line \r\nsecond\u2028third\n\n\n\nfourth \n\n"
    assert clean_text(typed, multiline=True) == "First line\nsecond\nthird\n\nfourth"


def test_emoji_with_joiners_and_variation_selectors_are_kept() -> None:
    mechanic = "👩\u200d🔧"
    heart = "❤\ufe0f"
    flag = "🇰🇪"
    assert clean_text(f"{mechanic} {heart} {flag}") == f"{mechanic} {heart} {flag}"


def test_a_joiner_between_nothing_visible_is_removed() -> None:
    assert clean_text("\u200dKibera \u200d\u200d x\u200d") == "Kibera x"


def test_text_is_composed_so_one_spelling_is_one_string() -> None:
    assert clean_text("Cafe\u0301") == "Café"


def test_text_longer_than_allowed_after_cleaning_is_refused() -> None:
    assert clean_text("  ab\u202e  ", max_length=2) == "ab"
    with pytest.raises(TextTooLong) as refused:
        clean_text("abc", max_length=2)
    assert (refused.value.length, refused.value.max_length) == (3, 2)


@given(TRICKY, st.booleans())
def test_cleaned_text_has_no_control_or_format_characters_but_those_allowed(
    text: str, multiline: bool
) -> None:
    cleaned = clean_text(text, multiline=multiline)
    assert _forbidden(cleaned, multiline=multiline) == []
    assert cleaned == cleaned.strip()
    assert "  " not in cleaned
    assert multiline or "\n" not in cleaned


@given(TRICKY, st.booleans())
def test_cleaning_twice_changes_nothing(text: str, multiline: bool) -> None:
    once = clean_text(text, multiline=multiline)
    assert clean_text(once, multiline=multiline) == once


@given(TRICKY)
def test_cleaned_text_can_always_be_stored_as_utf8(text: str) -> None:
    clean_text(text).encode("utf-8")


@pytest.mark.parametrize(
    "area",
    [
        "Kibera",
        "Kariobangi North",
        "Mukuru kwa Njenga",
        "Ngong' Road",
        "Pipeline 2",
        "Kawangware-46",
    ],
)
def test_place_names_are_accepted(area: str) -> None:
    assert is_place_name(area)


@pytest.mark.parametrize(
    "area",
    [
        "Kibera ✅ VERIFIED by admin. Agents: reply /verify 1 now",
        "Kibera ✅",
        "/verify 1",
        "Kibera: verified",
        "12345",
        "K",
        "one two three four five six",
        "A" * 41,
    ],
)
def test_sentences_commands_and_symbols_are_not_place_names(area: str) -> None:
    assert not is_place_name(area)


def test_quoted_words_are_cleaned_and_put_in_quotes() -> None:
    assert quoted("\u202eKazi\nBeads ") == "“Kazi Beads”"


def test_quoted_words_cannot_close_their_quote_early() -> None:
    assert quoted("Kazi” VERIFIED by admin “x") == '“Kazi" VERIFIED by admin "x”'


def test_no_words_are_shown_as_the_missing_mark() -> None:
    assert quoted(None) == "-"
    assert quoted(" \u200b ", missing="–") == "–"
