"""One money formatter, driven by the configured currency, and the named date formatters."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from conversations.formatting import (
    figure,
    money,
    numeric_date,
    numeric_date_time,
    short_date_time,
    weekday_date,
    weekday_date_time,
    written_date,
)
from conversations.i18n import default_catalogue
from conversations.notices import NoticeContext
from domain.model import Language


def test_money_is_whole_units_with_cents_only_when_there_are_any() -> None:
    assert money(125_000) == "KES 1,250"
    assert money(125_050) == "KES 1,250.50"
    assert money(7, "UGX") == "UGX 0.07"
    assert figure(123_456) == "1,234.56"


def test_the_catalogue_carries_the_currency_the_composition_root_gave_it() -> None:
    catalogue = default_catalogue()
    assert catalogue.currency == "KES"
    converted = catalogue.with_currency("TZS")
    assert converted.currency == "TZS"
    assert converted.t(Language.SW, "menu.open") == catalogue.t(Language.SW, "menu.open")
    now = datetime(2026, 3, 13, 11, 0, tzinfo=UTC)
    assert NoticeContext(catalogue=converted, now=now).money(150_000) == "TZS 1,500"


def test_dates_are_read_in_nairobi() -> None:
    late_evening = datetime(2026, 3, 12, 22, 30, tzinfo=UTC)  # already Friday in Nairobi
    assert numeric_date(late_evening) == "13/03/2026"
    assert numeric_date(date(2026, 3, 12)) == "12/03/2026"
    assert numeric_date_time(late_evening) == "13/03/2026 01:30"
    assert short_date_time(late_evening) == "13/03 01:30"


def test_dates_are_written_out_in_the_readers_language() -> None:
    def say(language: Language) -> Any:
        def t(msgid: str, **params: Any) -> str:
            return default_catalogue().t(language, msgid, **params)

        return t

    sunday = date(2027, 1, 3)
    assert weekday_date(say(Language.EN), sunday) == "Sunday 3 January"
    assert weekday_date(say(Language.SW), sunday) == "Jumapili 3 Januari"
    assert written_date(Language.SW, date(2026, 3, 13)) == "Ijumaa 13 Machi"
    evening = datetime(2026, 3, 13, 11, 0, tzinfo=UTC)
    assert weekday_date_time(say(Language.EN), evening) == "Friday 13 March 14:00"
    assert weekday_date_time(say(Language.SW), evening) == "Ijumaa 13 Machi 14:00"
