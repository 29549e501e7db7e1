"""What a channel says when it refuses something before the engine sees it.

The channel adapters refuse files that are not photos or are too large, and button presses that
were not issued to the person pressing them. The words live here, beside the engine's, so they
are in every language's catalogue like everything else the bot says.
"""

from __future__ import annotations

from collections.abc import Iterable

from conversations.i18n import N_, Catalogue
from domain.model import Language

#: Most useful first: what the sender can fix by saving or choosing the file differently.
_MEDIA = {
    "not_utf8": N_("channels.document_not_utf8"),
    "document_too_large": N_("channels.document_too_large"),
    "not_an_image": N_("channels.media_not_image"),
    "too_large": N_("channels.media_too_large"),
}


def media_refused(
    catalogue: Catalogue,
    language: Language,
    reasons: Iterable[str],
    *,
    max_bytes: int,
    max_document_bytes: int,
) -> str:
    """One polite sentence for the files refused, by the most useful reason among ``reasons``
    (the values of ``bot.channels.media.RefusalReason``)."""
    found = set(reasons)
    for reason, msgid in _MEDIA.items():
        if reason in found:
            limit = max_document_bytes if reason == "document_too_large" else max_bytes
            return catalogue.t(language, msgid, max_mb=max(1, limit // 1_000_000))
    return catalogue.t(language, "channels.media_failed")


def button_refused(catalogue: Catalogue, language: Language) -> str:
    return catalogue.t(language, "channels.button_refused")
