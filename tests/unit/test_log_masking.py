"""Phone numbers are masked in every form people write them, and nothing else is."""

from __future__ import annotations

import io
import json
import logging
import re
import sys
from collections.abc import Iterator
from datetime import datetime

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from bot.logging import Redactor, configure_logging, mask_phones

MASKED = "+254*****678"

WRITTEN = [
    "0712345678",
    "0712 345 678",
    "0712 345678",
    "0712-345-678",
    "0712.345.678",
    "0712 - 345 - 678",
    "0712 34 56 78",
    "(0712) 345678",
    "(0712) 345 678",
    "254712345678",
    "254 712 345 678",
    "+254712345678",
    "+254 712 345 678",
    "+254-712-345-678",
    "+254 712 345678",
    "+254 (0) 712 345 678",
    "+254 0712 345 678",
    "(+254) 712 345 678",
    "00254712345678",
    "712 345 678",
    "712-345-678",
    "0712\u00a0345\u00a0678",  # a pasted no-break space
    "0712 \u2013 345 \u2013 678",  # an en dash
    # How logs re-encode the spaces: a form-encoded URL, a repr(), json.dumps().
    "0712+345+678",
    "0712%20345%20678",
    "%2B254712345678",
    "0712\\xa0345\\xa0678",
    "0712\\u00a0345\\u00a0678",
]


@pytest.mark.parametrize("written", WRITTEN)
def test_a_kenyan_number_is_masked_however_it_is_written(written: str) -> None:
    masked = mask_phones(f"my M-Pesa number is {written}, thanks")
    assert masked == f"my M-Pesa number is {MASKED}, thanks"


@pytest.mark.parametrize("written", ["0110 123 456", "+254 110 123 456", "254110123456"])
def test_a_newer_01_number_is_masked_too(written: str) -> None:
    assert mask_phones(written) == "+254*****456"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("hi%200712%20345%20678", "hi%20" + MASKED),  # a URL-encoded space right before it
        ("'text': 'namba0712345678'", f"'text': 'namba{MASKED}'"),
        ("From=whatsapp:+254712345678", f"From=whatsapp:{MASKED}"),
        ("{'text': 'a\\n0712 345 678'}", f"{{'text': 'a\\n{MASKED}'}}"),
        ("+44 20 7946 0958", "+442*****958"),  # another country's number, with its +
    ],
)
def test_a_number_glued_to_an_escape_or_a_word_is_masked(text: str, masked: str) -> None:
    assert mask_phones(text) == masked


ORDINARY = [
    "order 1234",
    "order #4521 for 40 pieces",
    "KES 12,500",
    "KES 1,250,000",
    "KES 254,712,345,678",
    "12500.00",
    "took 0.0712345678 s",
    "2024-05-01T12:34:56.789+00:00",
    "2024-05-01 07:12:34",
    "01.10.2024",
    "01/07/2024",
    "1715000000",
    "1715000000.123456",
    "1715000000123",
    "'id': 123456789, 'date': 1797000889",  # a Telegram bot id and date
    "712345678",
    "07123456789",
    "messages 101 102 103",
    "update 500001 from chat 7000001",
    "550e8400-e29b-41d4-a716-446655440000",
    "+00:00",
    "+0300",
]


@pytest.mark.parametrize("text", ORDINARY)
def test_ids_amounts_and_timestamps_are_left_alone(text: str) -> None:
    assert mask_phones(text) == text


# -- properties -----------------------------------------------------------------------------------

GROUPINGS = [(9,), (3, 6), (3, 3, 3), (3, 2, 2, 2)]
SEPARATORS = [" ", "-", ".", " - ", "\u00a0", "+", "%20", "\\xa0", "\\u00a0", ""]
PREFIXES = ["0", "254", "254 ", "+254", "+254 ", "+254-", "00254", "(+254) ", "+254 (0) ", "%2B254"]
BEFORE = [" ", ":", "=", "'", '"', "\n", "(", "[", ">", ",", "namba", "tel:", "\\n"]
AFTER = [" ", "'", '"', ",", ".", ")", "]", "\n", "<", "\\n"]
NO_DIGITS = st.text(st.characters(blacklist_categories=("Nd", "Cs")), max_size=20)


@st.composite
def written_numbers(draw: st.DrawFn) -> tuple[str, str]:
    """(the subscriber's nine digits, the number as someone might write it)."""
    first = draw(st.sampled_from(["7", "10", "11"]))
    rest = draw(st.text("0123456789", min_size=9 - len(first), max_size=9 - len(first)))
    subscriber = first + rest
    groups, start = [], 0
    for size in draw(st.sampled_from(GROUPINGS)):
        groups.append(subscriber[start : start + size])
        start += size
    separator = draw(st.sampled_from(SEPARATORS))
    if draw(st.booleans()) and len(groups) > 1:  # (0712) 345678
        return subscriber, f"(0{groups[0]}) " + separator.join(groups[1:])
    return subscriber, draw(st.sampled_from(PREFIXES)) + separator.join(groups)


@given(written_numbers(), NO_DIGITS, st.sampled_from(BEFORE), st.sampled_from(AFTER), NO_DIGITS)
@example(("712345678", "0712 345 678"), "", " ", " ", "")
def test_no_digit_of_a_written_number_survives_but_its_last_three(
    number: tuple[str, str], head: str, before: str, after: str, tail: str
) -> None:
    subscriber, written = number
    masked = mask_phones(head + before + written + after + tail)
    assert re.sub(r"\D", "", masked) == "254" + subscriber[-3:], masked
    assert f"+254*****{subscriber[-3:]}" in masked


@given(st.integers(0, 10**11 - 1), st.sampled_from(["{}", "{:,}", "KES {:,}", "order #{}"]))
def test_integers_and_amounts_are_never_masked(n: int, template: str) -> None:
    text = template.format(n)
    assert mask_phones(text) == text


@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)),
    st.sampled_from(["T", " "]),
)
def test_timestamps_are_never_masked(moment: datetime, separator: str) -> None:
    for text in (
        moment.isoformat(separator),
        str(moment.timestamp()),
        str(int(moment.timestamp() * 1000)),
    ):
        assert mask_phones(text) == text


# -- the redactor on whole records ----------------------------------------------------------------


def _record(**fields: object) -> logging.LogRecord:
    return logging.makeLogRecord({"name": "telegram.ext.ExtBot", "levelno": 10, **fields})


def test_the_redactor_masks_a_number_passed_as_an_argument() -> None:
    record = _record(msg="Calling sendMessage with %s", args=({"text": "0712 345 678"},))
    Redactor().filter(record)
    assert record.getMessage() == f"Calling sendMessage with {{'text': '{MASKED}'}}"


def test_the_redactor_masks_an_exception_and_a_stack() -> None:
    try:
        raise ValueError("0712-345-678 is not registered")
    except ValueError:
        record = _record(msg="failed", exc_info=sys.exc_info(), stack_info="at 0712 345 678")
    Redactor().filter(record)
    assert record.exc_info is None
    assert f"ValueError: {MASKED} is not registered" in str(record.exc_text)
    assert record.stack_info == f"at {MASKED}"


def test_the_redactor_masks_extra_fields_of_any_type() -> None:
    record = _record(
        msg="sent", to="0712 345 678", payload={"phone": "+254 712 345 678"}, msisdn=254712345678
    )
    record.__dict__["attempt"] = 3
    Redactor().filter(record)
    fields = record.__dict__
    assert fields["to"] == MASKED
    assert fields["payload"] == f"{{'phone': '{MASKED}'}}"
    assert fields["msisdn"] == MASKED
    assert fields["attempt"] == 3


def test_a_bad_format_string_is_still_logged_and_masked() -> None:
    record = _record(msg="for %s and %s", args=("0712 345 678",))
    Redactor().filter(record)
    assert record.getMessage() == f"for %s and %s ('{MASKED}',)"


def test_secrets_are_removed_before_numbers_are_masked() -> None:
    record = _record(msg="token %s for %s", args=("s3cret-token-value", "0712345678"))
    Redactor(["s3cret-token-value"]).filter(record)
    assert record.getMessage() == f"token *** for {MASKED}"


# -- every logger, configured as `karakana run` configures it --------------------------------------

LIBRARIES = [
    "bot.main",
    "telegram.ext.ExtBot",
    "httpx",
    "httpcore.http11",
    "twilio.http_client",
    "twilio.async_http_client",
    "uvicorn.error",
    "uvicorn.access",
    "apscheduler.scheduler",
    "sqlalchemy.engine.Engine",
    "aiosqlite",
    "some.library.nobody.configured",
]
LEVELS = [logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL]


@pytest.fixture
def logged() -> Iterator[io.StringIO]:
    """Logging configured at DEBUG into a string; everything it changed is put back after."""
    root = logging.getLogger()
    names = ["uvicorn", "uvicorn.error", "uvicorn.access", "httpx", "twilio"]
    names += ["twilio.http_client", "twilio.async_http_client"]
    saved = (list(root.handlers), root.level)
    saved_loggers = {n: (logging.getLogger(n).level, logging.getLogger(n).propagate) for n in names}
    stream = io.StringIO()
    configure_logging("DEBUG", secrets=["s3cret-token-value"], stream=stream)
    yield stream
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved[0]:
        root.addHandler(handler)
    root.setLevel(saved[1])
    for name, (level, propagate) in saved_loggers.items():
        logging.getLogger(name).setLevel(level)
        logging.getLogger(name).propagate = propagate


@pytest.mark.parametrize("name", LIBRARIES)
def test_whatever_any_library_logs_at_any_level_is_masked(name: str, logged: io.StringIO) -> None:
    logger = logging.getLogger(name)
    for level in LEVELS:
        try:
            raise RuntimeError("could not reach +254 712 345 678")
        except RuntimeError:
            # handle(), not log(): which levels a library lets through is its logger's business;
            # whatever it lets through must come out masked.
            record = logger.makeRecord(
                name,
                level,
                __file__,
                1,
                "text=%s to=%s",
                ("0712 345 678", "0712-345-678"),
                sys.exc_info(),
                extra={"chat": "(0712) 345678"},
            )
        logger.handle(record)
    entries = [json.loads(line) for line in logged.getvalue().splitlines()]
    assert [entry["logger"] for entry in entries] == [name] * len(LEVELS)
    for entry in entries:
        assert entry["message"] == f"text={MASKED} to={MASKED}"
        assert entry["chat"] == MASKED
        assert f"RuntimeError: could not reach {MASKED}" in entry["error"]
    for digits in ("712 345", "712-345", "712345", "345678", "345 678"):
        assert digits not in logged.getvalue()


def test_the_twilio_sdk_logs_only_its_warnings(logged: io.StringIO) -> None:
    for name in ("twilio", "twilio.http_client", "twilio.async_http_client"):
        assert logging.getLogger(name).getEffectiveLevel() == logging.WARNING
    client = logging.getLogger("twilio.async_http_client")
    client.info("POST Request: https://api.twilio.com/2010-04-01/Accounts/AC123/Messages.json")
    client.warning("the Twilio API is slow")
    messages = [json.loads(line)["message"] for line in logged.getvalue().splitlines()]
    assert messages == ["the Twilio API is slow"]
