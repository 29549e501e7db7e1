"""The payee name rule (domain/payouts/payees.py): M-Pesa's receiver name against the registered
name, tolerant of case, order, middle names and initials, strict on a different person."""

from __future__ import annotations

import pytest

from domain.payouts.payees import names_match, receiver_name


@pytest.mark.parametrize(
    ("registered", "receiver"),
    [
        ("Wanjiru Kamau", "254712345678 - WANJIRU KAMAU"),  # M-Pesa's capitals
        ("Wanjiru Kamau", "254712345678 - KAMAU WANJIRU"),  # another order
        ("Wanjiru Njeri Kamau", "254712345678 - WANJIRU KAMAU"),  # a middle name on one side
        ("Wanjiru Kamau", "254712345678 - WANJIRU N KAMAU"),  # an initial M-Pesa adds
        ("Jane Wambui Doe", "254712345678 - J W DOE"),  # initials for given names
        ("Zoë O'Brien", "254712345678 - ZOE O BRIEN"),  # accents and punctuation
        ("Baraka", "254712345678 - BARAKA OTIENO"),  # one name registered
    ],
)
def test_the_same_person_written_another_way_matches(registered: str, receiver: str) -> None:
    assert names_match(registered, receiver)


@pytest.mark.parametrize(
    ("registered", "receiver"),
    [
        ("Jane Doe", "254712345678 - JOHN DOE"),  # the same family, another person
        ("Jane Doe", "254712345678 - JANE KAMAU"),
        ("Wanjiru Kamau", "254712345678 - OTIENO ODHIAMBO"),
        ("Jane Wambui Doe", "254712345678 - J K DOE"),  # an initial that fits no name
        ("Wanjiru Kamau", "254712345678 - "),  # no name to compare is no match
    ],
)
def test_another_person_does_not_match(registered: str, receiver: str) -> None:
    assert not names_match(registered, receiver)


def test_the_receiver_name_is_what_follows_the_number() -> None:
    assert receiver_name("254712345678 - JANE W DOE") == "JANE W DOE"
    assert receiver_name("JANE DOE") == "JANE DOE"
