"""What the sender is told when a file is refused before the engine sees it."""

from __future__ import annotations

import pytest

from conversations.i18n import default_catalogue, t
from conversations.refusals import media_refused
from domain.model import Language


@pytest.mark.parametrize(
    ("reasons", "msgid", "max_mb"),
    [
        (["not_an_image"], "channels.media_not_image", 5),
        (["too_large"], "channels.media_too_large", 5),
        (["document_too_large"], "channels.document_too_large", 1),
        (["not_utf8"], "channels.document_not_utf8", 5),
        # The most useful reason wins: what the sender can fix by saving the file differently.
        (["too_large", "not_utf8"], "channels.document_not_utf8", 5),
        (["fetch_failed"], "channels.media_failed", 5),
    ],
)
@pytest.mark.parametrize("language", [Language.EN, Language.SW])
def test_each_refusal_reason_gets_its_own_polite_sentence(
    reasons: list[str], msgid: str, max_mb: int, language: Language
) -> None:
    said = media_refused(
        default_catalogue(),
        language,
        reasons,
        max_bytes=5_000_000,
        max_document_bytes=1_000_000,
    )
    assert said == t(language, msgid, max_mb=max_mb)
