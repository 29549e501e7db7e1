"""Structured logs: one JSON object per line, phone numbers masked, secrets never written.

Every record passes through ``Redactor`` before it is formatted, so a number or token that slips
into a message (an exception from a provider quoting the URL, a debug line with an address) is
masked wherever it came from: phone numbers become ``+254*****678`` (``domain.phone.mask``), and
the configured secrets (Twilio's auth token, the bot token, the webhook secret) become ``***``.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, TextIO

from domain.phone import mask

# An E.164 number, optionally with WhatsApp's prefix; 9-15 digits so ids and amounts survive.
_PHONE = re.compile(r"(?<![\w+])\+?\d{9,15}(?!\d)")
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's copy of the message with terminal colours
}


def mask_phones(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        number = match.group(0)
        return mask(number if number.startswith("+") else "+" + number)

    return _PHONE.sub(replace, text)


class Redactor(logging.Filter):
    """Masks phone numbers and removes secrets from a record's message and extra fields."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        # Longest first, so a secret containing another is removed whole.
        self._secrets = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)

    def clean(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return mask_phones(text)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.clean(record.getMessage())
        record.args = None
        if record.exc_info:
            record.exc_text = self.clean(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, self.clean(value))
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, int | float | bool | None) else str(value)
        if record.exc_text:
            entry["error"] = record.exc_text
        elif record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(
    level: str = "INFO", *, secrets: Iterable[str] = (), stream: TextIO | None = None
) -> Redactor:
    """Send every log record (ours, uvicorn's, PTB's, httpx's) through the redactor as JSON."""
    redactor = Redactor(secrets)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(redactor)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    # httpx logs every request URL at INFO, and Telegram's URLs contain the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return redactor
