"""Replies as text messages: compact, undecorated, and counted in the segments they are paid by.

SMS is paid by the message, so every reply is rendered for it here before the SMS sender hands
it to Africa's Talking (bot/channels/sms.py):

- A reply that carries a short form (``Reply.short``: the offer, which is long on WhatsApp) is
  sent as that; every other one is its text, compacted: markdown marks, emoji and decoration
  dropped, typographic characters replaced by their GSM-7 look-alikes (so a stray "×" or "—" does
  not switch the whole message to UCS-2, which halves what a segment holds), blank lines gone.
- Choices become what a person without buttons types: a choice that stands for a command with
  typed words (``offer:12:accept`` -> ``KUBALI 12`` in Kiswahili, ``ACCEPT 12`` in English) is
  given as that code; any other choice as a numbered line ("1 Kubali zote"), which the engine
  reads as the choice (a bare "1" answers a question or the last business message).

Segments follow GSM 03.38: a message in the GSM-7 default alphabet (with its extension table,
whose characters take two septets) holds 160 septets in one segment, 153 per segment when
concatenated; any other character makes the whole message UCS-2: 70 UTF-16 units, 67 when
concatenated. A two-septet character and a surrogate pair are never split across segments.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from conversations.i18n import Catalogue
from conversations.messages import Choice, Reply
from domain.model import Language

# GSM 03.38 default alphabet (0x1B, the escape to the extension table, is not a character).
GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# The extension table: each is sent as ESC + a character, two septets.
GSM_EXTENSION = frozenset("\f^{}\\[~]|€")

GSM_SINGLE, GSM_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67

# Characters with a GSM-7 look-alike: kept readable without paying for UCS-2.
_LOOK_ALIKES = str.maketrans(
    {
        "×": "x",
        "—": "-",
        "–": "-",
        "‑": "-",
        "‘": "'",
        "’": "'",
        "‚": ",",
        "“": '"',
        "”": '"',
        "„": '"',
        "…": "...",
        "•": "-",
        "·": "-",
        "→": "->",
        "\u00a0": " ",
        "\u202f": " ",
        "\t": " ",
        "`": "'",
    }
)
_MARKDOWN = re.compile(r"(?<!\w)[*_~]+|[*_~]+(?!\w)")
_SPACES = re.compile(r"[ ]{2,}")


class Encoding:
    GSM7 = "GSM-7"
    UCS2 = "UCS-2"


@dataclass(frozen=True, slots=True)
class Segments:
    """How a text goes as SMS: its encoding, its length in that encoding's units (septets or
    UTF-16 units) and how many segments it is paid as."""

    encoding: str
    units: int
    count: int


def is_gsm7(text: str) -> bool:
    return all(char in GSM_BASIC or char in GSM_EXTENSION for char in text)


def count_segments(text: str) -> Segments:
    """The segments ``text`` takes as one SMS (an empty text still costs one)."""
    if is_gsm7(text):
        widths = [2 if char in GSM_EXTENSION else 1 for char in text]
        single, part, encoding = GSM_SINGLE, GSM_PART, Encoding.GSM7
    else:
        widths = [len(char.encode("utf-16-le")) // 2 for char in text]
        single, part, encoding = UCS2_SINGLE, UCS2_PART, Encoding.UCS2
    units = sum(widths)
    if units <= single:
        return Segments(encoding, units, 1)
    count, used = 1, 0
    for width in widths:  # a two-unit character never straddles two segments
        if used + width > part:
            count, used = count + 1, 0
        used += width
    return Segments(encoding, units, count)


def compact(text: str) -> str:
    """``text`` without decoration: no markdown marks, no emoji or symbols without a GSM-7
    look-alike, no blank lines or runs of spaces."""
    text = unicodedata.normalize("NFC", text).translate(_LOOK_ALIKES)
    text = _MARKDOWN.sub("", text)
    kept = []
    for char in text:
        if char in GSM_BASIC or char in GSM_EXTENSION:
            kept.append(char)
        elif unicodedata.category(char) in ("So", "Sk", "Cf", "Mn", "Co", "Cs"):
            continue  # emoji, variation selectors, joiners: decoration
        else:
            kept.append(char)  # a letter outside GSM-7 (a name): kept, paid as UCS-2
    lines = (_SPACES.sub(" ", line).strip() for line in "".join(kept).splitlines())
    return "\n".join(line for line in lines if line)


CommandWords = Mapping[str, Sequence[str]]
"""Each command's typed words, English first then Kiswahili (``Command.words``)."""


def _word(words: Sequence[str], language: Language) -> str:
    index = 1 if language is Language.SW and len(words) > 1 else 0
    return words[index].upper()


def code_for(
    choice: Choice, language: Language, words: CommandWords, *, count: str = "<n>"
) -> str | None:
    """What to type for ``choice`` when it stands for a command with typed words: ``KUBALI 12``
    for ``offer:12:accept`` or ``accept:12``; ``SEHEMU 12 <n>`` for a part (it needs a count)."""
    parts = choice.payload.split(":")
    candidates = []
    if len(parts) >= 2 and parts[1].isdigit():
        candidates.append((parts[0], parts[1]))
    if len(parts) >= 3 and parts[1].isdigit():
        candidates.append((parts[2], parts[1]))
    for name, ident in candidates:
        if words.get(name):
            code = f"{_word(words[name], language)} {ident}"
            return f"{code} {count}" if name == "part" else code
    return None


def render(reply: Reply, language: Language, catalogue: Catalogue, words: CommandWords) -> str:
    """``reply`` as the one text message to send (see the module docstring)."""
    if reply.short:
        return compact(reply.short)
    text = compact(reply.text)
    if not reply.choices:
        return text
    count = catalogue.t(language, "sms.count")
    codes = [code_for(choice, language, words, count=count) for choice in reply.choices]
    if all(code is not None for code in codes):
        listed = ", ".join(code for code in codes if code is not None)
        return f"{text}\n{catalogue.t(language, 'sms.reply_with', codes=listed)}"
    if not reply.numbered:  # a quantity question's shortcuts: a typed number is a count
        return text
    numbered = "\n".join(
        f"{n} {compact(choice.label)}" for n, choice in enumerate(reply.choices, start=1)
    )
    return f"{text}\n{numbered}"


def budget_notice(
    catalogue: Catalogue,
    language: Language,
    *,
    count: int,
    name: str | None = None,
    person_id: int | None = None,
) -> str:
    """What admins are told when a day's SMS budget bites: the whole factory's (no person), or
    one person's (``name``, ``person_id``)."""
    if name is None:
        return catalogue.t(language, "sms.budget_factory", count=count)
    return catalogue.t(language, "sms.budget_person", name=name, id=person_id, count=count)
