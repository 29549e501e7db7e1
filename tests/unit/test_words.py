"""Plural forms, names instead of codes, and typed areas matched: the words people read."""

from __future__ import annotations

import pytest

from conversations.i18n import default_catalogue, plural_ids, read_catalog
from domain.model import Language, NameKind
from domain.names import Names, match_area


@pytest.mark.parametrize("language", list(Language))
def test_every_message_with_a_plural_has_both_forms_in_every_language(language: Language) -> None:
    plurals = [m for m in read_catalog(language) if m.id and m.pluralizable]
    assert len(plurals) >= 10  # offers, jobs, pieces, photos...: a scan that found none is wrong
    for message in plurals:
        forms = message.string
        assert isinstance(forms, tuple | list), message.id
        assert len(forms) == 2, message.id
        assert all(form.strip() for form in forms), message.id
    assert plural_ids(language) == plural_ids(Language.EN)  # the same messages count in both


def test_kiswahili_agrees_with_one_and_with_many() -> None:
    words = default_catalogue()
    assert words.t(Language.SW, "artisan.offers_title", count=1).startswith("Una ofa 1 iliyo wazi.")
    assert words.t(Language.SW, "artisan.offers_title", count=3).startswith(
        "Una ofa 3 zilizo wazi."
    )
    assert words.t(Language.EN, "artisan.offers_title", count=1).startswith(
        "You have 1 open offer."
    )
    assert "kipande 1 cha" in words.t(
        Language.SW, "artisan.offer_label", id=4, quantity=1, component="X", total="KES 1"
    )
    assert "vipande 2 vya" in words.t(
        Language.SW, "artisan.offer_label", id=4, quantity=2, component="X", total="KES 1"
    )
    assert words.has(Language.SW, "artisan.offers_title")


NAMES = Names.of(
    [
        (NameKind.SKILL, "horn_carving", Language.EN, "horn carving"),
        (NameKind.SKILL, "horn_carving", Language.SW, "uchongaji wa pembe"),
        (NameKind.COMPONENT, "horn_crescent", Language.SW, "Kidani cha pembe cha hilali"),
        (NameKind.AREA, "Ngong Road", Language.SW, "Barabara ya Ngong"),
    ],
    [("horn_crescent", "Horn crescent pendant"), ("ear_hook", "Brass wire ear hook")],
)


def test_a_code_is_shown_by_its_name_falling_back_to_english_never_to_the_code() -> None:
    assert NAMES.name(NameKind.SKILL, "horn_carving", Language.SW) == "uchongaji wa pembe"
    assert NAMES.name(NameKind.SKILL, "wire_work", Language.SW) == "wire work"  # nobody named it
    assert NAMES.name(NameKind.COMPONENT, "ear_hook", Language.SW) == "Brass wire ear hook"
    # A component handed over by its English name is still shown in the reader's language.
    by_name = NAMES.name(NameKind.COMPONENT, "Horn crescent pendant", Language.SW)
    assert by_name == "Kidani cha pembe cha hilali"


def test_the_catalogue_names_the_parameters_that_carry_codes() -> None:
    words = default_catalogue().with_names(NAMES)
    said = words.t(Language.SW, "registration.skill_capacity", skill="horn_carving", count=40)
    assert said.startswith("uchongaji wa pembe")
    quoted = words.t(Language.SW, "registration.area_did_you_mean", area="“Ngong Road”")
    assert "“Barabara ya Ngong”" in quoted


KNOWN = {"Mathare": ["Mathare"], "Kibera": [], "Ngong Road": ["Barabara ya Ngong"], "Eastleigh": []}


@pytest.mark.parametrize(
    ("typed", "exact", "suggestion"),
    [
        ("mathare", "Mathare", None),
        ("  MATHARE ", "Mathare", None),
        ("Mathaře", "Mathare", None),  # accents aside
        ("ngong-road", "Ngong Road", None),
        ("barabara ya ngong", "Ngong Road", None),
        ("Matare", None, "Mathare"),
        ("Kiberra", None, "Kibera"),
        ("Eastlee", None, "Eastleigh"),
        ("Atlantis", None, None),
        ("Kisumu", None, None),
    ],
)
def test_typed_areas_are_matched_to_known_ones(
    typed: str, exact: str | None, suggestion: str | None
) -> None:
    match = match_area(typed, KNOWN)
    assert (match.exact, match.suggestion) == (exact, suggestion)
