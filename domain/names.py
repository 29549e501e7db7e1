"""Names people read instead of codes, and typed names matched to the known ones.

``Names`` is a snapshot of the ``catalogue_name`` table (domain/services/names.py loads it once
per transaction): ``horn_carving`` is "uchongaji wa pembe" to a Kiswahili reader and "horn
carving" to an English one. The fallback is the English name, never the code: a skill nobody
named yet reads as its words ("wire work"), a component as its ``Component.name``.

``match_area`` reads an area the way a person types it: case, accents, spaces and hyphens do not
matter ("mathare", "MATHARE", "Ngong-road"), and a close misspelling ("Matare") is a suggestion
to confirm, never a second area.
"""

from __future__ import annotations

import difflib
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from domain.model.names import NameKind
from domain.model.people import Language

FALLBACK = Language.EN
# Handed over by their English name as often as by their code: that name leads to the code.
_ALIASED = frozenset({NameKind.COMPONENT, NameKind.PRODUCT})
CLOSE_ENOUGH = 0.75  # difflib's ratio: "matare" ~ "mathare" (0.92), "kibra" ~ "kibera" (0.91)


def folded(text: str) -> str:
    """``text`` as matching sees it: no case, no accents, hyphens and runs of spaces as one."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(plain.replace("-", " ").replace("_", " ").replace("’", "'").split())


def _words_of(code: str) -> str:
    """A code as words, the last resort for a skill nobody named: ``wire_work`` -> ``wire work``."""
    return " ".join(code.replace("_", " ").split())


@dataclass(frozen=True, slots=True)
class Names:
    """Every name of every code, per language; empty when nothing is named yet."""

    names: Mapping[tuple[NameKind, str], Mapping[Language, str]] = field(default_factory=dict)
    # A component is often handed over by its English name (``Component.name``): that name
    # leads to its code, so "Horn crescent pendant" is still shown in the reader's language.
    aliases: Mapping[tuple[NameKind, str], str] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        rows: Iterable[tuple[NameKind, str, Language, str]],
        components: Iterable[tuple[str, str]] = (),
        products: Iterable[tuple[str, str]] = (),
    ) -> Names:
        """From ``(kind, code, language, name)`` rows and the components' and products'
        ``(code, name)`` (a product's code is its SKU)."""
        names: dict[tuple[NameKind, str], dict[Language, str]] = {}
        aliases: dict[tuple[NameKind, str], str] = {}
        for kind, own in ((NameKind.COMPONENT, components), (NameKind.PRODUCT, products)):
            for code, english in own:
                names.setdefault((kind, folded(code)), {})[FALLBACK] = english
                aliases[(kind, folded(english))] = folded(code)
        for kind, code, language, name in rows:
            names.setdefault((kind, folded(code)), {})[Language(language)] = name
        for (kind, code), by_language in names.items():
            if kind in _ALIASED and FALLBACK in by_language:
                aliases.setdefault((kind, folded(by_language[FALLBACK])), code)
        return cls(names, aliases)

    def name(self, kind: NameKind, code: str, language: Language | str) -> str:
        """What ``code`` is called in ``language``; the English name when it has none there."""
        key = (kind, folded(code))
        by_language = self.names.get(key)
        if by_language is None and key in self.aliases:
            by_language = self.names.get((kind, self.aliases[key]))
        if by_language:
            found = by_language.get(Language(language)) or by_language.get(FALLBACK)
            if found:
                return found
        return _words_of(code) if kind is NameKind.SKILL else code

    def codes(self, kind: NameKind) -> list[str]:
        """The folded codes of ``kind`` that have a name."""
        return sorted(code for k, code in self.names if k is kind)

    def find(self, kind: NameKind, typed: str) -> str | None:
        """The folded code ``typed`` names exactly (its code or a name in any language)."""
        wanted = folded(typed)
        for (k, code), by_language in self.names.items():
            if k is kind and (wanted == code or wanted in map(folded, by_language.values())):
                return code
        return None


@dataclass(frozen=True, slots=True)
class AreaMatch:
    """What typed words are, among the known areas: ``exact`` (the known spelling) or
    ``suggestion`` (a close one, to confirm); neither when nothing is close."""

    exact: str | None = None
    suggestion: str | None = None


def match_area(typed: str, known: Mapping[str, Iterable[str]]) -> AreaMatch:
    """``typed`` among ``known`` areas (each area's code -> its names in every language)."""
    wanted = folded(typed)
    spellings: dict[str, str] = {}
    for area, names in known.items():
        for spelling in (area, *names):
            spellings.setdefault(folded(spelling), area)
    if wanted in spellings:
        return AreaMatch(exact=spellings[wanted])
    close = difflib.get_close_matches(wanted, list(spellings), n=1, cutoff=CLOSE_ENOUGH)
    return AreaMatch(suggestion=spellings[close[0]]) if close else AreaMatch()


MIN_PREFIX = 3  # letters a typed word needs to stand for a longer word ("bra" for "brass")


def match_name(typed: str, known: Mapping[str, Iterable[str]]) -> AreaMatch:
    """``typed`` among ``known`` names (each code -> its names in every language), as
    ``match_area`` reads areas, and also by word or prefix: "horn" for "horn carving", "shanga"
    for "kazi ya shanga", "ngong" for "Ngong Road", when exactly one code is meant that way."""
    found = match_area(typed, known)
    if found.exact is not None:
        return found
    wanted = folded(typed).split()
    if not wanted:
        return found

    def names(spelling: str) -> bool:
        words = spelling.split()
        return all(
            any(w == word or (len(word) >= MIN_PREFIX and w.startswith(word)) for w in words)
            for word in wanted
        )

    meant = {
        code
        for code, spellings in known.items()
        if any(names(folded(spelling)) for spelling in (code, *spellings))
    }
    if len(meant) == 1:
        return AreaMatch(exact=meant.pop())
    if found.suggestion is not None or len(wanted) != 1:
        return found
    # One word nearly one of a name's words ("pembee" for "uchongaji wa pembe"): suggested.
    by_word: dict[str, set[str]] = {}
    for code, spellings in known.items():
        for spelling in (code, *spellings):
            for word in folded(spelling).split():
                if len(word) > MIN_PREFIX:
                    by_word.setdefault(word, set()).add(code)
    close = difflib.get_close_matches(wanted[0], list(by_word), n=3, cutoff=CLOSE_ENOUGH)
    codes = {code for word in close for code in by_word[word]}
    return AreaMatch(suggestion=codes.pop()) if len(codes) == 1 else found
