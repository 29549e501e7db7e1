"""People's own words: cleaned where they come in, and quoted wherever somebody else reads them.

Whatever a person types (a name, a workshop, an area, a note, a reason, a CSV cell) is later shown
to other people, staff included. Unicode lets such text change how the text *around* it looks:
a right-to-left override (U+202E) makes the rest of an agent's list read backwards, zero-width
characters hide words, and a line break lets a "workshop name" open a new line that reads like
Karakana's own. So every free-text field passes ``clean_text`` on its way in (the conversation
engine, the domain services and the CSV reader all call it), and every place that shows one
person's words to another wraps them in ``quoted``, so they cannot pass for the system's.

Kept: letters, digits, punctuation and symbols of every script, emoji with their variation
selectors (U+FE0F is a mark, not a format character) and a zero-width joiner (U+200D) between two
visible characters, which is what joins an emoji sequence (👩‍🔧) or shapes some scripts.
Removed: control characters (Unicode category Cc) other than whitespace, format characters (Cf:
the bidirectional controls U+202A-202E, U+2066-2069, U+200E/200F, U+061C, zero-width spaces,
soft hyphens, byte-order marks, invisible tag characters) and lone surrogates (Cs, which no
database can store). Whitespace runs become one space, or, where a field allows several lines,
one newline with at most one blank line between paragraphs.
"""

from __future__ import annotations

import re
import unicodedata

ZERO_WIDTH_JOINER = "\u200d"
OPEN_QUOTE = "“"
CLOSE_QUOTE = "”"

# Characters that end a line; anything else ``str.isspace`` knows is a space.
_LINE_ENDS = frozenset("\n\r\x85\u2028\u2029")
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})
# A joiner not between two visible characters joins nothing and only hides.
_STRAY_JOINER = re.compile(r"(?<![^\s\u200d])\u200d|\u200d(?![^\s\u200d])")
_BLANK_LINES = re.compile(r"\n{3,}")

# Place names: Kibera, Kariobangi North, Mukuru kwa Njenga, Ngong' Road, Pipeline 2.
PLACE_NAME_MAX_LENGTH = 40
PLACE_NAME_MAX_WORDS = 5
_PLACE_PUNCTUATION = frozenset(" -'’")


class TextTooLong(ValueError):
    """Cleaned text longer than its field allows; the caller says so politely."""

    def __init__(self, length: int, max_length: int) -> None:
        super().__init__(f"{length} characters, at most {max_length} allowed")
        self.length = length
        self.max_length = max_length


def _kept(ch: str) -> str:
    if ch in _LINE_ENDS:
        return "\n"
    if ch.isspace():  # tabs, no-break and ideographic spaces, the ASCII separators
        return " "
    if ch != ZERO_WIDTH_JOINER and unicodedata.category(ch) in _DROPPED_CATEGORIES:
        return ""
    return ch


def clean_text(value: str, *, multiline: bool = False, max_length: int | None = None) -> str:
    """``value`` without invisible or direction-changing characters, its whitespace collapsed
    and trimmed; one line unless ``multiline``. Raises ``TextTooLong`` past ``max_length``
    (counted after cleaning). Cleaning twice changes nothing."""
    text = "".join(_kept(ch) for ch in value.replace("\r\n", "\n"))
    # Composed (NFC) so "é" typed two ways is one spelling, for lengths and comparisons alike.
    text = unicodedata.normalize("NFC", _STRAY_JOINER.sub("", text))
    if multiline:
        lines = (" ".join(line.split()) for line in text.split("\n"))
        text = _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip("\n")
    else:
        text = " ".join(text.split())
    if max_length is not None and len(text) > max_length:
        raise TextTooLong(len(text), max_length)
    return text


def is_place_name(text: str) -> bool:
    """Whether cleaned ``text`` reads as the name of a place: letters (any script, with their
    accents), digits, spaces, hyphens and apostrophes, a few words long. A sentence, a command
    or an emoji is not a place, and refusing it keeps areas matchable and short to show."""
    return (
        2 <= len(text) <= PLACE_NAME_MAX_LENGTH
        and len(text.split()) <= PLACE_NAME_MAX_WORDS
        and any(ch.isalpha() for ch in text)
        and all(
            ch.isalnum() or ch in _PLACE_PUNCTUATION or unicodedata.category(ch).startswith("M")
            for ch in text
        )
    )


def quoted(text: str | None, *, missing: str = "-") -> str:
    """A person's own words as another person sees them: cleaned, on one line, in “quotes”.

    Quote marks inside become plain ``"`` so the words cannot close the quote early and go on
    as if Karakana were speaking. ``missing`` stands for no words at all.
    """
    if text is None:
        return missing
    words = clean_text(text).replace(OPEN_QUOTE, '"').replace(CLOSE_QUOTE, '"')
    return f"{OPEN_QUOTE}{words}{CLOSE_QUOTE}" if words else missing
