"""Kenyan mobile numbers, as M-Pesa needs them."""

from __future__ import annotations

import phonenumbers

from domain.errors import DomainError, Problem


class InvalidPhoneNumber(DomainError):
    """Not a Kenyan mobile number M-Pesa can pay (people read ``Problem("not_a_mobile")``)."""

    reasons = (Problem("not_a_mobile"),)


def normalise_kenyan_mobile(raw: str) -> str:
    """Return the E.164 form (+2547XXXXXXXX / +2541XXXXXXXX) of a Kenyan mobile number.

    Accepts what people type: ``0712 345 678``, ``712345678``, ``254712345678``,
    ``+254-712-345678``.
    """
    text = raw.strip()
    digits = "".join(ch for ch in text if ch.isdigit())
    if not digits or len(text) > 32:
        raise InvalidPhoneNumber(f"{raw!r} is not a phone number")
    if len(digits) == 9 and digits[0] in "71":
        digits = "0" + digits
    candidate = "+" + digits if digits.startswith("254") else digits
    try:
        parsed = phonenumbers.parse(candidate, "KE")
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(f"{raw!r} is not a phone number") from exc
    if parsed.country_code != 254 or not phonenumbers.is_valid_number(parsed):
        raise InvalidPhoneNumber(f"{raw!r} is not a valid Kenyan number")
    if phonenumbers.number_type(parsed) not in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ):
        raise InvalidPhoneNumber(f"{raw!r} is not a Kenyan mobile number")
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


def mask(e164: str) -> str:
    """A number fit for logs: country code and last three digits only."""
    if len(e164) <= 7:
        return "***"
    return f"{e164[:4]}*****{e164[-3:]}"
