"""Questions that ask "how many?" and also offer a shortcut ("All 15"): one rule everywhere.

A typed number is always the quantity: "1" is one piece, never the first option. The shortcut
is taken by its button or by its word ("all", "zote", "vyote"), and is shown without a number
(``Reply.numbered`` False) under a question that says so plainly. The steps asking such a
question are ``Expect.QUANTITY`` (the engine then never reads a number as a pick): the artisan's
delivery quantity, the agent's receipt count and the receipt QC's pass count.
"""

from __future__ import annotations

import unicodedata

from conversations.flow import Answer, Context
from conversations.messages import Choice, Reply

# The words that mean "all of them" (English; Kiswahili for the noun classes pieces take).
ALL_WORDS = frozenset({"all", "everything", "zote", "vyote", "yote", "wote"})
MAX_WORDS = 3  # "all", "all 15", "vyote vimefika": a longer sentence is not the shortcut


def quantity_question(ctx: Context, text: str, shortcut: Choice) -> Reply:
    """``text`` with one plain line on how to answer it, and ``shortcut`` as an unnumbered
    button: "Type how many, e.g. 3; or press “All 15” (or send ALL)"."""
    said = f"{text}\n{ctx.t('input.quantity_or_all', label=shortcut.label)}"
    return Reply(said, choices=(shortcut,), numbered=False)


def means_all(answer: Answer, payload: str) -> bool:
    """Whether the answer is the shortcut ``payload``: its button or label, or an "all" word."""
    if answer.choice is not None and answer.choice.payload == payload:
        return True
    words = _fold(answer.text).split()
    return 0 < len(words) <= MAX_WORDS and words[0] in ALL_WORDS


def _fold(text: str) -> str:
    bare = "".join(
        ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch)
    )
    return "".join(ch if ch.isalnum() else " " for ch in bare.casefold())
