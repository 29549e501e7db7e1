"""Why a draft order cannot simply be confirmed, in the admin's language.

The domain names each problem as facts (``domain.events.DraftProblem``); each code has its
message ``intake.problem.<code>`` in ``locale/*/LC_MESSAGES/intake.po``.
"""

from __future__ import annotations

from collections.abc import Callable

from conversations.formatting import numeric_date
from conversations.i18n import N_
from domain.events import DraftProblem
from domain.limits import MAX_MONEY_CENTS, MAX_PIECES
from domain.text import quoted

MESSAGES = {
    "no_sku": N_("intake.problem.no_sku"),
    "bad_quantity": N_("intake.problem.bad_quantity"),
    "unknown_sku": N_("intake.problem.unknown_sku"),
    "no_bom": N_("intake.problem.no_bom"),
    "too_many_pieces": N_("intake.problem.too_many_pieces"),
    "too_much_pay": N_("intake.problem.too_much_pay"),
    "nothing_matched": N_("intake.problem.nothing_matched"),
    "date_not_a_date": N_("intake.problem.date_not_a_date"),
    "date_in_past": N_("intake.problem.date_in_past"),
}


def problem_text(problem: DraftProblem, t: Callable[..., str], money: Callable[[int], str]) -> str:
    """One problem as a sentence, worded by ``t`` (the admin's language)."""
    return t(
        MESSAGES[problem.code],
        sku=problem.sku,
        quantity=f"{problem.quantity:,}",
        pieces=f"{problem.pieces:,}",
        amount=money(problem.cents),
        title=quoted(problem.asked),
        asked=quoted(problem.asked),
        assumed=numeric_date(problem.assumed) if problem.assumed else "",
        most_pieces=f"{MAX_PIECES:,}",
        most_amount=money(MAX_MONEY_CENTS),
    )
