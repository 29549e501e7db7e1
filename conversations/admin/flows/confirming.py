"""Yes or no before something that cannot be taken back (money approved, a message to many):
the two buttons every confirmation shows, and the typed words that answer it in English and
Kiswahili, so a text-only channel confirms as well as one with buttons."""

from __future__ import annotations

from enum import StrEnum

from conversations.flow import Answer, Context
from conversations.messages import Choice

YES_WORDS = frozenset({"yes", "y", "ok", "okay", "confirm", "ndiyo", "ndio", "sawa", "thibitisha"})
NO_WORDS = frozenset({"no", "n", "nope", "hapana", "la", "sitaki"})


class Said(StrEnum):
    YES = "yes"
    NO = "no"
    UNCLEAR = "unclear"


def yes_no_choices(ctx: Context, prefix: str, yes_msgid: str) -> tuple[Choice, Choice]:
    """``<prefix>:yes`` labelled ``yes_msgid``, and ``<prefix>:no`` ("No, don't")."""
    return (
        Choice(f"{prefix}:yes", ctx.t(yes_msgid)),
        Choice(f"{prefix}:no", ctx.t("admin.confirm_no")),
    )


def said(answer: Answer, prefix: str) -> Said:
    """The answer to a yes/no question: its button, its number, or a typed word."""
    if answer.choice is not None:
        if answer.choice.payload == f"{prefix}:yes":
            return Said.YES
        if answer.choice.payload == f"{prefix}:no":
            return Said.NO
        return Said.UNCLEAR
    word = " ".join(answer.text.casefold().strip(" .!").split())
    if word in YES_WORDS:
        return Said.YES
    if word in NO_WORDS:
        return Said.NO
    return Said.UNCLEAR
