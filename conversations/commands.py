"""Recognising what works from any state: global words, and slash commands with their roles.

Global words are matched only as a whole message (``stop``, ``lugha sw``), so an answer that
merely contains one ("Stop Shop Beads" as a workshop name) is still an answer. Both languages'
words work whatever language the person has chosen: someone who cannot read the reply must still
be able to say STOP.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum

from domain.model import Language


class Global(StrEnum):
    MENU = "menu"
    HELP = "help"
    LANGUAGE = "language"
    BACK = "back"
    CANCEL = "cancel"
    STOP = "stop"
    START = "start"


_WORDS: dict[str, Global] = {
    word: command
    for command, words in {
        Global.MENU: ("menu", "menyu", "/menu", "main menu"),
        Global.HELP: ("help", "msaada", "/help", "?"),
        Global.LANGUAGE: ("language", "lugha", "/language", "/lugha"),
        Global.BACK: ("back", "rudi", "nyuma", "/back"),
        Global.CANCEL: ("cancel", "ghairi", "sitisha", "/cancel"),
        Global.STOP: ("stop", "stopall", "unsubscribe", "/stop"),
        Global.START: ("start", "unstop", "anza", "/start"),
    }.items()
    for word in words
}

_LANGUAGE_NAMES: dict[str, Language] = {
    "en": Language.EN,
    "english": Language.EN,
    "kiingereza": Language.EN,
    "sw": Language.SW,
    "swahili": Language.SW,
    "kiswahili": Language.SW,
}

# Greetings bring the menu (not "I didn't understand") when nothing is in progress.
_GREETINGS = frozenset(
    {
        "hi", "hello", "hey", "hallo", "good morning", "good afternoon", "good evening",
        "habari", "habari yako", "hujambo", "jambo", "mambo", "sasa", "niaje", "salaam",
        "salamu", "shikamoo", "habari za asubuhi", "habari za mchana", "habari za jioni",
    }
)  # fmt: skip


def is_greeting(text: str) -> bool:
    """Whether ``text`` is only a greeting ("Hi!", "Habari"), to be answered with the menu."""
    words = " ".join("".join(c if c.isalnum() else " " for c in text.casefold()).split())
    return words in _GREETINGS


# Payloads of buttons that are commands rather than answers: valid whatever question is open.
_GLOBAL_PAYLOADS: dict[str, Global] = {f"cmd:{c.value}": c for c in Global}


@dataclass(frozen=True, slots=True)
class GlobalCommand:
    command: Global
    language: Language | None = None  # for LANGUAGE: the one asked for, if any


def parse_global(text: str, payload: str | None = None) -> GlobalCommand | None:
    if payload is not None:
        if payload in _GLOBAL_PAYLOADS:
            return GlobalCommand(_GLOBAL_PAYLOADS[payload])
        if payload.startswith("lang:") and payload[5:] in _LANGUAGE_NAMES:
            return GlobalCommand(Global.LANGUAGE, _LANGUAGE_NAMES[payload[5:]])
        return None
    words = " ".join(text.casefold().split())
    if not words or len(words) > 30:
        return None
    if words in _WORDS:
        return GlobalCommand(_WORDS[words])
    head, _, rest = words.partition(" ")
    if _WORDS.get(head) is Global.LANGUAGE and rest in _LANGUAGE_NAMES:
        return GlobalCommand(Global.LANGUAGE, _LANGUAGE_NAMES[rest])
    return None


_SLASH = re.compile(r"/([a-z_]{1,24})(?:@\w+)?(?:\s+(.*))?", re.DOTALL)


@dataclass(frozen=True, slots=True)
class SlashCommand:
    name: str
    argument: str


def parse_slash(
    text: str, payload: str | None = None, *, button_commands: Collection[str] = ()
) -> SlashCommand | None:
    """``/verify 12`` typed, or a ``verify:12`` button for a command in ``button_commands``."""
    if payload is not None:
        name, _, argument = payload.partition(":")
        return SlashCommand(name, argument.replace(":", " ")) if name in button_commands else None
    match = _SLASH.fullmatch(text.strip())
    if match is None:
        return None
    return SlashCommand(match.group(1), (match.group(2) or "").strip())
