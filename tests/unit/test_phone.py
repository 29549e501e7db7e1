import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.phone import InvalidPhoneNumber, mask, normalise_kenyan_mobile


@pytest.mark.parametrize(
    "typed",
    ["0712345678", "0712 345 678", "712345678", "254712345678", "+254712345678", "+254-712-345678"],
)
def test_the_ways_people_type_a_safaricom_number_all_normalise_to_e164(typed: str) -> None:
    assert normalise_kenyan_mobile(typed) == "+254712345678"


def test_a_newer_01_prefix_mobile_number_is_accepted() -> None:
    assert normalise_kenyan_mobile("0110 123 456") == "+254110123456"


@pytest.mark.parametrize(
    "typed",
    ["", "hello", "12345", "0712", "+255712345678", "020 222 2222", "07123456789012345"],
)
def test_numbers_that_are_not_kenyan_mobiles_are_refused_with_a_reason(typed: str) -> None:
    with pytest.raises(InvalidPhoneNumber, match="not"):
        normalise_kenyan_mobile(typed)


@given(st.text(max_size=40))
def test_any_text_either_normalises_to_a_kenyan_mobile_or_is_refused(text: str) -> None:
    try:
        number = normalise_kenyan_mobile(text)
    except InvalidPhoneNumber:
        return
    assert number.startswith("+254")
    assert len(number) == 13


def test_a_masked_number_keeps_only_the_country_code_and_last_three_digits() -> None:
    assert mask("+254712345678") == "+254*****678"
