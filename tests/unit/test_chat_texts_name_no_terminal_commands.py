"""Chat texts never send a phone user to a terminal: no ``karakana <command>``, no ``make``, no
``.env`` file, no setting's name (``PAYOUT_MAKER_CHECKER``, ``MPESA_``). What they can do in chat,
or "whoever runs Karakana can ...", instead."""

from __future__ import annotations

import re

import pytest

from conversations.i18n import read_catalog
from domain.model import Language

# `karakana …` in backticks, or Karakana followed by one of its own sub-commands.
TERMINAL = re.compile(
    r"`karakana\b|\bkarakana (?:api-keys|chat|customers|db|ledger|names|orders|payouts|people"
    r"|products|report|run|seed|simulate|status)\b|\.env\b|\bmake (?:run|test|demo)\b"
    # a setting's name: capitals joined by "_" (PAYOUT_MAKER_CHECKER, SMS_DAILY_BUDGET, MPESA_)
    r"|\b[A-Z][A-Z0-9]*_(?:[A-Z0-9_]*[A-Z0-9])?(?![A-Za-z0-9])"
)


@pytest.mark.parametrize("language", list(Language))
def test_no_chat_text_asks_for_a_terminal_command_or_names_a_setting(language: Language) -> None:
    offending = {
        str(message.id): str(text)
        for message in read_catalog(language)
        if message.id
        for text in (
            message.string if isinstance(message.string, tuple | list) else (message.string,)
        )
        if text and TERMINAL.search(str(text))
    }
    assert not offending, f"chat texts naming a terminal command: {offending}"
