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

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from domain.model import Language

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "karakana"
FALLBACK = Language.EN
DEFAULT_CURRENCY = "KES"


class MissingMessage(LookupError):
    def __init__(self, msgid: str) -> None:
        super().__init__(
            f"message {msgid!r} is in no catalogue; add it to a .po file in "
            "conversations/locale/*/LC_MESSAGES/"
        )
        self.msgid = msgid


def N_(msgid: str) -> str:  # gettext's conventional name for "mark for translation"
    """Mark a message id chosen at run time, so the catalogue test still finds it."""
    return msgid


def po_path(language: Language, locale_dir: Path = LOCALE_DIR) -> Path:
    """The main catalogue file of a language (registration, menus, the engine's own words)."""
    return locale_dir / str(language) / "LC_MESSAGES" / f"{DOMAIN}.po"


def po_paths(language: Language, locale_dir: Path = LOCALE_DIR) -> list[Path]:
    """Every catalogue file of a language: one per area (artisan, agent, admin...), merged on load.

    Splitting by area keeps each file small and lets each flow's author own its words.
    """
    return sorted((locale_dir / str(language) / "LC_MESSAGES").glob("*.po"))


def read_catalog(language: Language, locale_dir: Path = LOCALE_DIR) -> Catalog:
    """All of a language's ``.po`` files as one Babel catalogue; a message id defined twice is an
    error naming both files, so two areas cannot silently disagree."""
    merged = Catalog(locale=str(language), domain=DOMAIN)
    origin: dict[str, Path] = {}
    for po_file in po_paths(language, locale_dir):
        with po_file.open("rb") as source:
            part = read_po(source, locale=str(language), domain=DOMAIN)
        for message in part:
            if not message.id:
                continue  # the header
            msgid = str(message.id)
            if msgid in origin:
                raise ValueError(f"{msgid!r} is defined in both {origin[msgid]} and {po_file}")
            origin[msgid] = po_file
            merged[msgid] = message
    return merged


def _compile(language: Language, locale_dir: Path) -> gettext.GNUTranslations:
    compiled = io.BytesIO()
    write_mo(compiled, read_catalog(language, locale_dir))
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def placeholders(message: str) -> frozenset[str]:
    """The ``{names}`` a message expects."""
    return frozenset(name for _, name, _, _ in string.Formatter().parse(message) if name)


class Catalogue:
    """Translations for every supported language, looked up by message id, and the currency
    money is shown in (``CURRENCY``, handed in by the composition root)."""

    def __init__(
        self,
        translations: Mapping[Language, gettext.GNUTranslations],
        *,
        currency: str = DEFAULT_CURRENCY,
    ) -> None:
        self._translations = dict(translations)
        self.currency = currency

    @classmethod
    def load(cls, locale_dir: Path = LOCALE_DIR, *, currency: str = DEFAULT_CURRENCY) -> Catalogue:
        return cls({lang: _compile(lang, locale_dir) for lang in Language}, currency=currency)

    def with_currency(self, currency: str) -> Catalogue:
        """The same translations, showing money in ``currency``."""
        return Catalogue(self._translations, currency=currency)

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
