"""Every word the bot says exists in English and Kiswahili, with the same placeholders.

Message ids are found by reading the code of conversations/: the literal first argument (or
second, after the language) of every ``t(...)``, ``ctx.t(...)``, ``catalogue.t(...)`` and
``N_(...)`` call. An id built at run time must be marked with ``N_`` where it is written, so it
is found too.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import conversations
from conversations.i18n import (
    Catalogue,
    MissingMessage,
    placeholders,
    po_path,
    po_paths,
    read_catalog,
)
from domain.model import Language

CODE = Path(conversations.__file__).parent
MSGID = re.compile(r"[a-z_]+(?:\.[a-z0-9_]+)+")
# Everyday English words no Kiswahili sentence of ours has (a Kiswahili message showing one
# leaks English: a copied clause, an untranslated word).
ENGLISH_WORDS = re.compile(
    r"\b(the|you|your|please|with|and|is|are|not|this|that|will|from|could|must)\b",
    re.IGNORECASE,
)


def _calls_to_t(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        if name not in {"t", "N_"}:
            continue
        for arg in node.args[:2]:
            if (
                isinstance(arg, ast.Constant)
                and isinstance(arg.value, str)
                and MSGID.fullmatch(arg.value)
            ):
                found.append(arg.value)
    return found


def used_msgids() -> set[str]:
    ids: set[str] = set()
    for path in CODE.rglob("*.py"):
        ids.update(_calls_to_t(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))))
    return ids


def catalogue_entries(language: Language) -> dict[str, str]:
    """Each message id and its text; a message with plural forms by its one key, its forms
    joined (so their placeholders are compared together)."""
    return {
        str(m.id[0] if isinstance(m.id, tuple) else m.id): (
            "\n".join(m.string) if isinstance(m.string, tuple) else str(m.string)
        )
        for m in read_catalog(language)
        if m.id
    }


def test_the_code_scan_finds_the_messages_it_should() -> None:
    used = used_msgids()
    # A scan that silently found nothing would make every other test here pass vacuously.
    assert {"registration.ask_name", "engine.stopped", "menu.item.offers"} <= used
    assert len(used) > 60


@pytest.mark.parametrize("language", list(Language))
def test_every_message_used_in_the_code_is_in_the_catalogue(language: Language) -> None:
    missing = used_msgids() - set(catalogue_entries(language))
    assert not missing, f"add to {po_path(language)}: {sorted(missing)}"


@pytest.mark.parametrize("language", list(Language))
def test_the_catalogue_has_no_message_the_code_no_longer_uses(language: Language) -> None:
    unused = set(catalogue_entries(language)) - used_msgids()
    assert not unused, f"remove from {po_path(language)}: {sorted(unused)}"


@pytest.mark.parametrize("language", list(Language))
def test_no_translation_is_empty_or_fuzzy(language: Language) -> None:
    catalog = read_catalog(language)
    empty = [m.id for m in catalog if m.id and not str(m.string).strip()]
    fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
    assert (empty, fuzzy) == ([], [])


def test_kiswahili_placeholders_match_the_english_ones() -> None:
    english = catalogue_entries(Language.EN)
    kiswahili = catalogue_entries(Language.SW)
    wrong = {
        msgid: (sorted(placeholders(text)), sorted(placeholders(kiswahili[msgid])))
        for msgid, text in english.items()
        if msgid in kiswahili and placeholders(text) != placeholders(kiswahili[msgid])
    }
    assert not wrong, f"placeholders differ (English, Kiswahili): {wrong}"


def test_kiswahili_is_a_translation_not_a_copy_of_the_english() -> None:
    english = catalogue_entries(Language.EN)
    kiswahili = catalogue_entries(Language.SW)
    # Only commands and symbols may read the same in both languages.
    same = {k for k in english if english[k] == kiswahili.get(k)}
    assert same <= {"menu.item.orders"}, same

    # As people read them: every message, each of its plural forms, filled in. A Kiswahili
    # reader must never get an English sentence (longer than a few words, so commands and
    # symbols may stay), nor English words in a Kiswahili one.
    catalogue = Catalogue.load()
    copied, leaked = set(), {}
    for msgid, text in english.items():
        filled: dict[str, object] = {name: f"‹{name}›" for name in placeholders(text)}
        for count in (1, 5):
            filled["count"] = count
            said_en = catalogue.t(Language.EN, msgid, **filled)
            said_sw = catalogue.t(Language.SW, msgid, **filled)
            if said_en == said_sw and len(said_en.split()) > 3:
                copied.add(msgid)
            words = ENGLISH_WORDS.findall(re.sub(r"‹[^›]*›", "", said_sw))
            if words:
                leaked[msgid] = words
    assert not copied, f"the Kiswahili is the English: {sorted(copied)}"
    assert not leaked, f"English words in Kiswahili messages: {leaked}"


def test_messages_compile_and_fill_in_their_placeholders() -> None:
    catalogue = Catalogue.load()
    assert catalogue.t(Language.SW, "registration.ask_workshop", name="Achieng") == (
        "Asante, Achieng. Karakana au kikundi chako kinaitwaje?"
    )
    assert catalogue.t("en", "engine.too_long", max=500).endswith("under 500 characters.")


def test_an_unknown_message_id_is_an_error_not_a_key_shown_to_a_person() -> None:
    with pytest.raises(MissingMessage, match=r"no\.such\.message"):
        Catalogue.load().t(Language.EN, "no.such.message")


def test_every_language_has_the_same_catalogue_files() -> None:
    names = {language: [path.name for path in po_paths(language)] for language in Language}
    assert names[Language.EN] == names[Language.SW]
    assert po_path(Language.EN).name in names[Language.EN]


def test_a_message_defined_in_two_files_of_one_language_is_refused(tmp_path: Path) -> None:
    entry = 'msgid ""\nmsgstr ""\n\nmsgid "menu.hello"\nmsgstr "Hello"\n'
    for language in Language:
        folder = tmp_path / str(language) / "LC_MESSAGES"
        folder.mkdir(parents=True)
        (folder / "karakana.po").write_text(entry, encoding="utf-8")
        (folder / "artisan.po").write_text(entry, encoding="utf-8")
    with pytest.raises(ValueError, match="defined in both"):
        Catalogue.load(tmp_path)
