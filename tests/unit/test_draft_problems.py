"""Every reason a draft order cannot simply be confirmed reads as a sentence in both languages,
with its facts filled in (``conversations.admin.draft_problems``)."""

from __future__ import annotations

import functools
from datetime import date

import pytest

from conversations.admin.draft_problems import MESSAGES, problem_text
from conversations.formatting import money
from conversations.i18n import default_catalogue
from domain.events import DraftProblem
from domain.model import Language

PROBLEMS = {
    "no_sku": (DraftProblem("no_sku", asked="Gift wrap", quantity=1), ["“Gift wrap”"]),
    "bad_quantity": (
        DraftProblem("bad_quantity", sku="BR-01", quantity=0),
        ["BR-01", "0", "100,000"],
    ),
    "unknown_sku": (DraftProblem("unknown_sku", sku="IPOD", quantity=3), ["IPOD", "3"]),
    "no_bom": (DraftProblem("no_bom", sku="EAR-9"), ["EAR-9"]),
    "too_many_pieces": (
        DraftProblem("too_many_pieces", sku="NK-1", quantity=60_002, pieces=120_004),
        ["NK-1", "60,002", "120,004", "100,000"],
    ),
    "too_much_pay": (
        DraftProblem("too_much_pay", sku="NK-1", quantity=9_000, cents=123_456_700),
        ["NK-1", "9,000", "KES 1,234,567"],
    ),
    "nothing_matched": (DraftProblem("nothing_matched"), []),
    "date_not_a_date": (
        DraftProblem("date_not_a_date", asked="next week", assumed=date(2027, 1, 5)),
        ["“next week”", "05/01/2027"],
    ),
    "date_in_past": (
        DraftProblem("date_in_past", asked="2020-01-01", assumed=date(2027, 1, 5)),
        ["“2020-01-01”", "05/01/2027"],
    ),
}


def test_every_problem_code_has_a_message() -> None:
    assert set(PROBLEMS) == set(MESSAGES)


@pytest.mark.parametrize("language", list(Language))
@pytest.mark.parametrize("code", sorted(PROBLEMS))
def test_a_problem_reads_with_its_facts_in_each_language(language: Language, code: str) -> None:
    problem, facts = PROBLEMS[code]
    words = functools.partial(default_catalogue().t, language)

    text = problem_text(problem, words, money)

    assert "{" not in text
    assert all(fact in text for fact in facts), (text, facts)
    english = problem_text(problem, functools.partial(default_catalogue().t, Language.EN), money)
    assert (text == english) is (language is Language.EN)  # Kiswahili is not a copy
