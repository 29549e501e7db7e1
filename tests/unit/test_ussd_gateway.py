"""What the USSD webhook accepts as one step of Africa's Talking's session, before anything is
stored, and the callback token it refuses to start with."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bot.channels.gateways import BadWebhook
from bot.channels.ussd import parse_ussd
from bot.settings import Settings

FORM = {
    "sessionId": "ATUid_1234abcd",
    "serviceCode": "*384*1234#",
    "phoneNumber": "0712 345 678",
    "networkCode": "63902",
    "text": "1*2",
}


def test_a_step_names_the_session_the_caller_in_e164_and_the_path() -> None:
    step = parse_ussd(FORM)
    assert (step.session_id, step.phone, step.text) == ("ATUid_1234abcd", "+254712345678", "1*2")


@pytest.mark.parametrize(
    "change",
    [
        {"sessionId": ""},
        {"sessionId": "x" * 101},
        {"sessionId": "bad id; drop"},
        {"phoneNumber": ""},
        {"phoneNumber": "+15555550100"},  # not a Kenyan mobile: no SMS identity can match it
        {"text": None},
    ],
)
def test_a_form_that_is_not_a_ussd_step_is_refused(change: dict[str, str | None]) -> None:
    form = {key: value for key, value in (FORM | change).items() if value is not None}
    with pytest.raises(BadWebhook):
        parse_ussd(form)


def test_a_callback_token_too_short_to_be_secret_is_refused_at_start_up() -> None:
    with pytest.raises(ValidationError, match="AT_CALLBACK_TOKEN"):
        Settings(_env_file=None, at_callback_token="short")
