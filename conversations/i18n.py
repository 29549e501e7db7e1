"""Message catalogues: every word we say, in English and Kiswahili.

The ``.po`` files are the source; they are compiled in memory with Babel when loaded, so there is
no build step and no stale ``.mo`` file to forget. Message ids are stable dotted keys
(``registration.ask_name``), not English sentences, so English wording can change without touching
the Kiswahili catalogue and a missing entry is caught by a test instead of silently shown as a key.

Counted messages have plural forms (``msgid_plural`` and ``msgstr[0]``/``msgstr[1]`` in the
``.po``, chosen by the ``Plural-Forms`` header through gettext's ``ngettext``): a message with
them is picked by its ``count`` parameter (``quantity``, then ``max``, when it has none), so "Una
ofa 1 iliyo wazi" and "Una ofa 3 zilizo wazi" are one ``t(..., count=n)``, and "a number from 1
to {max}" can say just "reply 1" when the range is one number.

Names are data, not code: a parameter called ``component``, ``skill``, ``material``, ``area`` or
``product`` (a SKU) is shown by the catalogue's ``Names`` (domain/names.py, loaded per transaction
from the ``catalogue_name`` table with ``with_names``) in the reader's language, so no caller can
hand a Kiswahili reader "brass_casting". ``name()`` does the same for lists a caller joins itself. A
``unit`` parameter is written in the reader's words too (``unit.pcs``: "vipande"; ``unit()``).
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

from domain.model import Language, NameKind
from domain.names import Names
from domain.text import CLOSE_QUOTE, OPEN_QUOTE

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "karakana"
FALLBACK = Language.EN
DEFAULT_CURRENCY = "KES"
# Parameters that carry a catalogue code: shown by their name in the reader's language.
NAMED_PARAMETERS = {
    "component": NameKind.COMPONENT,
    "skill": NameKind.SKILL,
    "material": NameKind.MATERIAL,
    "area": NameKind.AREA,
    "product": NameKind.PRODUCT,
}
NO_NAMES = Names()


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
            # A message with plural forms has (singular, plural) ids: ours are one dotted key.
            msgid = str(message.id[0] if isinstance(message.id, tuple) else message.id)
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


def plural_ids(language: Language, locale_dir: Path = LOCALE_DIR) -> frozenset[str]:
    """The message ids of a language that have plural forms."""
    return frozenset(
        str(message.id[0])
        for message in read_catalog(language, locale_dir)
        if message.id and message.pluralizable
    )


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
        plurals: Mapping[Language, frozenset[str]] | None = None,
        names: Names = NO_NAMES,
    ) -> None:
        self._translations = dict(translations)
        self._plurals = dict(plurals or {})
        self.currency = currency
        self.names = names

    @classmethod
    def load(cls, locale_dir: Path = LOCALE_DIR, *, currency: str = DEFAULT_CURRENCY) -> Catalogue:
        return cls(
            {lang: _compile(lang, locale_dir) for lang in Language},
            currency=currency,
            plurals={lang: plural_ids(lang, locale_dir) for lang in Language},
        )

    def with_currency(self, currency: str) -> Catalogue:
        """The same translations, showing money in ``currency``."""
        return Catalogue(
            self._translations, currency=currency, plurals=self._plurals, names=self.names
        )

    def with_names(self, names: Names) -> Catalogue:
        """The same translations, showing catalogue codes by ``names`` (read per transaction)."""
        return Catalogue(
            self._translations, currency=self.currency, plurals=self._plurals, names=names
        )

    def has(self, language: Language, msgid: str) -> bool:
        if msgid in self._plurals.get(language, ()):
            return True
        return self._translations[language].gettext(msgid) != msgid

    def _lookup(self, lang: Language, msgid: str, count: object) -> str:
        if msgid in self._plurals.get(lang, ()):
            number = count if isinstance(count, int) else 1
            return self._translations[lang].ngettext(msgid, msgid, number)
        return self._translations[lang].gettext(msgid)

    def t(self, language: Language | str, msgid: str, /, **params: object) -> str:
        """The message in ``language`` (English if that catalogue lacks it), filled in; the
        plural form for ``count`` when the message has plural forms; catalogue codes named."""
        lang = Language(language)
        number = params.get("count", params.get("quantity", params.get("max")))
        text = self._lookup(lang, msgid, number)
        if text == msgid and lang is not FALLBACK:
            text = self._lookup(FALLBACK, msgid, number)
        if text == msgid:
            raise MissingMessage(msgid)
        for param, kind in NAMED_PARAMETERS.items():
            value = params.get(param)
            if isinstance(value, str):
                params[param] = self._named(lang, kind, value)
        unit = params.get("unit")
        if isinstance(unit, str):
            params["unit"] = self.unit(lang, unit)
        return text.format(**params)

    def unit(self, language: Language | str, unit: str) -> str:
        """A unit as the reader writes it: ``pcs`` is "vipande" in Kiswahili (``unit.pcs`` in
        the catalogue); ``kg``, ``m`` and units nobody wrote words for stay as they are."""
        msgid = UNIT_WORDS.get(unit.casefold())
        return unit if msgid is None else self._lookup(Language(language), msgid, None)

    def name(self, language: Language | str, kind: NameKind, code: str) -> str:
        """What ``code`` is called in ``language``: catalogue data, English when not named."""
        return self.names.name(kind, code, language)

    def _named(self, language: Language, kind: NameKind, value: str) -> str:
        # Areas reach messages in “quotes” (typed words, domain.text.quoted): keep them.
        if value.startswith(OPEN_QUOTE) and value.endswith(CLOSE_QUOTE) and len(value) > 1:
            inner = value[len(OPEN_QUOTE) : -len(CLOSE_QUOTE)]
            return f"{OPEN_QUOTE}{self.names.name(kind, inner, language)}{CLOSE_QUOTE}"
        if value in {"", "-", "–"}:
            return value
        return self.names.name(kind, value, language)


# Units with words of their own per language; the rest (kg, m, sheet) read the same in both.
UNIT_WORDS = {"pcs": N_("unit.pcs")}


@functools.cache
def default_catalogue() -> Catalogue:
    return Catalogue.load()


def t(language: Language | str, msgid: str, /, **params: object) -> str:
    return default_catalogue().t(language, msgid, **params)
