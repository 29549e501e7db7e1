"""Structured logs: one JSON object per line, phone numbers masked, secrets never written.

Every record that reaches the root handler (ours and every library's: telegram, httpx, httpcore,
twilio, uvicorn, apscheduler, sqlalchemy, aiosqlite) passes through ``Redactor`` before it is
formatted, so a number or token that slips into a message, its arguments, an extra field or an
exception's text is masked wherever it came from. A Kenyan mobile number in any way people write
it (``0712 345 678``, ``(0712) 345678``, ``+254-712-345-678``, ``254 110 123 456``...), and as logs
re-encode it (``0712+345+678`` and ``%20`` in URLs, ``\\xa0`` in a ``repr``) becomes
``+254*****678`` (``domain.phone.mask``); another country's number written with its ``+`` becomes
``+441*****958``. Order ids, amounts (``KES 12,500``) and timestamps are left alone, which is why
a bare run of digits is masked only when it has the shape of a Kenyan mobile number. The configured
secrets (Twilio's auth token, the bot token, the webhook secret) become ``***``.
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

# What may stand between a number's digit groups: a space (any Unicode one), a dash or a dot with
# spaces around it, and what a space becomes in a URL (%20, +) or in a repr()/json.dumps() escape.
_SPACE = r"""(?:[^\S\r\n] | %20 | %C2%A0 | %E2%80%[89A][0-9A-F] | \+
              | \\x[aA]0 | \\u00[aA]0 | \\u20[0-2][0-9a-fA-F] | \\u3000)"""
_SEP = rf"(?:{_SPACE}{{0,2}}[-.\u2010-\u2015]{_SPACE}{{0,2}} | {_SPACE}{{1,3}})"
# Not glued to a digit (a longer number) or a dot (the decimals of 0.0712345678); an escaped
# space that ends in a digit (%20, \xa0) still counts as a space.
_START = r"""(?:(?<![\d.]) | (?<=%20) | (?<=%[aA]0) | (?<=\\x[aA]0) | (?<=\\u00[aA]0)
              | (?<=\\u20[0-2][0-9a-fA-F]) | (?<=\\u3000))"""
_PLUS = r"(?:\+|%2[bB])"
_FIRST3 = r"(?:7\d\d|1[01]\d)"  # Safaricom/Airtel/Telkom: 07xx and 010x/011x
_LAST6 = rf"(?:{_SEP}?\d{{3}}{_SEP}?\d{{3}} | {_SEP}?\d\d{_SEP}?\d\d{_SEP}?\d\d)"
_PHONE = re.compile(
    rf"""(?=[\d(+%]){_START}
    (?:
        (?P<kenyan>
            (?:
                (?:\(\s?(?:{_PLUS}|00)?254\s?\) | (?:{_PLUS}|00)?254)  # +254, (+254), 00254
                {_SEP}?(?:\(0\){_SEP}? | 0)?                           # a trunk 0 kept after it
                {_FIRST3}
              | \(0{_FIRST3}\)                                         # (0712) 345678
              | 0{_FIRST3}
            )
            {_LAST6}
        )
      | (?P<subscriber>7\d\d(?P<gap>[ .-]|%20|\+)\d{{3}}(?P=gap)\d{{3}})  # 712 345 678
      | (?P<international>{_PLUS}\d(?:{_SEP}?\d){{7,14}})                # +44 20 7946 0958
    )
    (?!\d)""",
    re.VERBOSE,
)
_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}|\\x[0-9a-fA-F]{2}|\\u[0-9a-fA-F]{4}")
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's copy of the message with terminal colours
}
# The twilio SDK logs every request at INFO, each line with the account SID: most of all lines.
_QUIET_AT_INFO = ("httpx", "twilio", "twilio.http_client", "twilio.async_http_client")


def _masked(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", _ESCAPE.sub("", match.group(0)))
    if match.group("international"):
        return mask("+" + digits)
    return mask("+254" + digits[-9:])


def mask_phones(text: str) -> str:
    """``text`` with every phone number in it masked (see the module's docstring)."""
    return _PHONE.sub(_masked, text)


class Redactor(logging.Filter):
    """Masks phone numbers and removes secrets from a record's message, arguments, extra fields,
    exception and stack text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        # Longest first, so a secret containing another is removed whole.
        self._secrets = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)

    def clean(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return mask_phones(text)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.clean(_message(record))
        record.args = None  # they are in msg now, masked
        if record.exc_info:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = self.clean(record.exc_text)
        if record.stack_info:
            record.stack_info = self.clean(record.stack_info)
        if "message" in record.__dict__:  # another handler formatted it first
            record.message = record.msg
        for key, value in list(record.__dict__.items()):
            if key in _STANDARD or key.startswith("_") or value is None or isinstance(value, bool):
                continue
            text = value if isinstance(value, str) else str(value)
            cleaned = self.clean(text)
            if cleaned != text or not isinstance(value, int | float):
                setattr(record, key, cleaned)
        return True


def _message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:  # a bad format string must not stop the line (or leak its arguments)
        return f"{record.msg} {record.args!r}"


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
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(
    level: str = "INFO", *, secrets: Iterable[str] = (), stream: TextIO | None = None
) -> Redactor:
    """Send every log record (ours and every library's) through the redactor as JSON."""
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
    # httpx logs every request URL at INFO (Telegram's contain the bot token, removed anyway).
    for name in _QUIET_AT_INFO:
        logging.getLogger(name).setLevel(logging.WARNING)
    return redactor
