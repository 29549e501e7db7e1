"""Kiswahili a tester corrected stays corrected (issue 16, item 5): one word for the field agent
("afisa wa nyanjani", never "wakala"), no coined "kuofa" / "vimeofawa", no Sheng ("viko aje"),
and a help line's placeholder in the same words as its command's usage."""

from __future__ import annotations

import re

from conversations.i18n import read_catalog, t
from domain.model import Language

NOT_IN_KISWAHILI = re.compile(r"\bm?a?wakala\b|ofaw|\bkuofa\b|\baje\?", re.IGNORECASE)


def _texts(language: Language) -> dict[str, str]:
    return {
        str(message.id[0] if isinstance(message.id, tuple) else message.id): str(text)
        for message in read_catalog(language)
        if message.id
        for text in (
            message.string if isinstance(message.string, tuple | list) else (message.string,)
        )
        if text
    }


def test_kiswahili_texts_use_one_word_for_the_field_agent_and_no_coined_or_sheng_words() -> None:
    offending = {k: v for k, v in _texts(Language.SW).items() if NOT_IN_KISWAHILI.search(v)}
    assert not offending


def test_the_corrected_sentences_read_as_corrected() -> None:
    assert t("sw", "admin.help_writeoff").startswith("/writeoff <fungu> <sababu>")
    assert t("sw", "artisan.materials_mine_requests", lines="x").startswith(
        "Maombi yanayosubiri jibu:"
    )
    handed = t(
        "sw",
        "materials.handed_over_artisan",
        quantity="0.3",
        unit="kg",
        material="waya",
        id=4,
        by="Kamau",
    )
    assert "0.3 kg za waya (ombi #4) zimekabidhiwa kwako na Kamau" in handed
    assert t("en", "channel.last_written") == "the app you last wrote to us from"
