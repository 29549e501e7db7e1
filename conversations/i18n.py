"""Message catalogues: every word we say, in English and Kiswahili.

The ``.po`` files are the source; they are compiled in memory with Babel when loaded, so there is
no build step and no stale ``.mo`` file to forget. Message ids are stable dotted keys
(``registration.ask_name``), not English sentences, so English wording can change without touching
the Kiswahili catalogue and a missing entry is caught by a test instead of silently shown as a key.
"""

from __future__ import annotations

import functools
import gettext
import io
import string
from collections.abc import Mapping
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from domain.model import Language

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "karakana"
FALLBACK = Language.EN


class MissingMessage(LookupError):
    def __init__(self, msgid: str) -> None:
        super().__init__(
            f"message {msgid!r} is in no catalogue; add it to conversations/locale/*/LC_MESSAGES/"
            f"{DOMAIN}.po"
        )
        self.msgid = msgid


def N_(msgid: str) -> str:  # gettext's conventional name for "mark for translation"
    """Mark a message id chosen at run time, so the catalogue test still finds it."""
    return msgid


def po_path(language: Language, locale_dir: Path = LOCALE_DIR) -> Path:
    return locale_dir / str(language) / "LC_MESSAGES" / f"{DOMAIN}.po"


def _compile(po_file: Path, language: Language) -> gettext.GNUTranslations:
    with po_file.open("rb") as source:
        catalog = read_po(source, locale=str(language), domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def placeholders(message: str) -> frozenset[str]:
    """The ``{names}`` a message expects."""
    return frozenset(name for _, name, _, _ in string.Formatter().parse(message) if name)


class Catalogue:
    """Translations for every supported language, looked up by message id."""

    def __init__(self, translations: Mapping[Language, gettext.GNUTranslations]) -> None:
        self._translations = dict(translations)

    @classmethod
    def load(cls, locale_dir: Path = LOCALE_DIR) -> Catalogue:
        return cls({lang: _compile(po_path(lang, locale_dir), lang) for lang in Language})

    def has(self, language: Language, msgid: str) -> bool:
        return self._translations[language].gettext(msgid) != msgid

    def t(self, language: Language | str, msgid: str, /, **params: object) -> str:
        """The message in ``language`` (English if that catalogue lacks it), filled in."""
        lang = Language(language)
        text = self._translations[lang].gettext(msgid)
        if text == msgid and lang is not FALLBACK:
            text = self._translations[FALLBACK].gettext(msgid)
        if text == msgid:
            raise MissingMessage(msgid)
        return text.format(**params)


@functools.cache
def default_catalogue() -> Catalogue:
    return Catalogue.load()


def t(language: Language | str, msgid: str, /, **params: object) -> str:
    return default_catalogue().t(language, msgid, **params)
