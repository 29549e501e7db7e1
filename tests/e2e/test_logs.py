"""The running server's logs: structured JSON, phone numbers masked, secrets never written."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest

from bot.logging import configure_logging
from tests.e2e.harness import Running, eventually

WANJIKU = "+254712345678"


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    yield stream
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved[0]:
        root.addHandler(handler)
    root.setLevel(saved[1])


async def test_logs_are_json_with_numbers_masked_and_no_secret_in_them(
    karakana: Running, log_stream: io.StringIO
) -> None:
    secrets = [karakana.twilio.auth_token, karakana.telegram.token]
    configure_logging("DEBUG", secrets=secrets, stream=log_stream)
    logging.getLogger("bot.test").info(
        "a provider said: bad token %s for %s", karakana.twilio.auth_token, WANJIKU
    )

    await karakana.whatsapp(WANJIKU, "Habari", signature="Zm9yZ2Vk")  # refused: logged
    await karakana.whatsapp(WANJIKU, "Habari")
    await eventually(lambda: karakana.texts_to(WANJIKU))
    await karakana.telegram_update(karakana.telegram.text_update(7_000_001, "Habari"))
    await eventually(lambda: karakana.telegram.sent("sendMessage"))

    text = log_stream.getvalue()
    entries = [json.loads(line) for line in text.splitlines()]
    assert entries, "nothing was logged"
    assert all({"time", "level", "logger", "message"} <= entry.keys() for entry in entries)
    assert any(entry["message"].startswith("refused a webhook (403)") for entry in entries)
    assert "+254*****678" in text
    assert WANJIKU not in text
    assert WANJIKU[1:] not in text
    for secret in secrets:
        assert secret not in text
    # The twilio SDK's request lines (each with the account SID) are only for WARNING and up.
    assert not [entry for entry in entries if entry["logger"].startswith("twilio")]


async def test_a_number_typed_with_spaces_on_telegram_is_masked_in_every_debug_line(
    karakana: Running, log_stream: io.StringIO
) -> None:
    configure_logging("DEBUG", stream=log_stream)
    typed = "0712 345 678"

    await karakana.telegram_update(karakana.telegram.text_update(7_000_002, typed))
    await eventually(lambda: karakana.telegram_texts(7_000_002))

    text = log_stream.getvalue()
    loggers = {json.loads(line)["logger"] for line in text.splitlines()}
    assert "telegram.ext.ExtBot" in loggers, "the test no longer sees the library's debug lines"
    # However a library re-encodes the spaces (%20, +, \xa0, a JSON escape), no form survives.
    assert not re.search(r"712\D{0,8}345\D{0,8}678", text)
    assert "+254*****678" in text, "the number never reached the logs: the test proves nothing"
    assert logging.getLogger("twilio.async_http_client").getEffectiveLevel() == logging.WARNING
