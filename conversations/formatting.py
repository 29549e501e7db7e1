"""How figures, dates and the person talking are read: one formatter each, shared by every role.

Money is integer cents in and "KES 1,250" out, in the currency the composition root configured
(``CURRENCY``: bot/main.py gives it to the ``Catalogue``, so ``ctx.money`` and a notice's
``ctx.money`` both say it). Dates are Nairobi's (the factory's zone): a ``datetime`` is read
there before it is shown, a ``date`` is already a factory day. Dates people read are written out
in their language by Babel ("Jumapili 3 Januari", "Sunday 3 January"): each catalogue names its
Babel locale (``formatting.locale``), so a formatter handed a reader's ``t`` writes in it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from babel.dates import format_date

from conversations.i18n import DEFAULT_CURRENCY
from domain.explosion import FACTORY_ZONE
from domain.model import Language

if TYPE_CHECKING:
    from conversations.flow import Context

Say = Callable[..., str]  # t(msgid, **params) in the reader's language

WRITTEN_DATE = "EEEE d MMMM"  # Babel's pattern: "Jumapili 3 Januari", "Sunday 3 January"


# --- money ----------------------------------------------------------------------------------


def figure(cents: int) -> str:
    """``123456`` -> ``1,234.56``; whole amounts without decimals (for words that carry the
    currency themselves)."""
    whole, part = divmod(cents, 100)
    return f"{whole:,}" if part == 0 else f"{whole:,}.{part:02d}"


def money(cents: int, currency: str = DEFAULT_CURRENCY) -> str:
    """``125000`` -> ``KES 1,250``; cents shown only when there are any."""
    return f"{currency} {figure(cents)}"


# --- dates ----------------------------------------------------------------------------------


def _factory_day(value: date | datetime, zone: ZoneInfo = FACTORY_ZONE) -> date:
    return value.astimezone(zone).date() if isinstance(value, datetime) else value


def numeric_date(value: date | datetime) -> str:
    """A day as Kenyans write it: ``05/03/2025`` (a ``datetime`` read in Nairobi)."""
    return _factory_day(value).strftime("%d/%m/%Y")


def numeric_date_time(value: datetime, zone: ZoneInfo = FACTORY_ZONE) -> str:
    """An instant with its year: ``05/03/2025 14:30`` in ``zone`` (Nairobi)."""
    return value.astimezone(zone).strftime("%d/%m/%Y %H:%M")


def short_date_time(value: datetime) -> str:
    """An instant within the next days or weeks: ``05/03 14:30`` in Nairobi."""
    return value.astimezone(FACTORY_ZONE).strftime("%d/%m %H:%M")


def written_date(language: Language | str, value: date | datetime) -> str:
    """A day written out in ``language``: ``Jumapili 3 Januari`` / ``Sunday 3 January``."""
    return format_date(_factory_day(value), WRITTEN_DATE, locale=str(Language(language)))


def written_day(language: Language | str, value: date | datetime, today: date) -> str:
    """A day written out, with its year when it is not ``today``'s: ``Jumanne 8 Desemba``,
    ``Jumatano 20 Januari 2027``."""
    day = _factory_day(value)
    written = written_date(language, day)
    return written if day.year == today.year else f"{written} {day.year}"


def month_words(language: Language | str, month: date) -> str:
    """A month written out in ``language``: ``Desemba 2026``, ``December 2026``."""
    return format_date(month, "MMMM y", locale=str(Language(language)))


def weekday_date(t: Say, value: date) -> str:
    """A day written out in the reader's language (``t``'s): ``Friday 13 March``, ``Ijumaa 13
    Machi``. The weekday helps more than the year when a date is days or weeks away."""
    return format_date(value, WRITTEN_DATE, locale=t("formatting.locale"))


def weekday_date_time(t: Say, value: datetime) -> str:
    """An instant as the reader's clock shows it: ``Friday 13 March 14:00`` in Nairobi."""
    local = value.astimezone(FACTORY_ZONE)
    return f"{weekday_date(t, local.date())} {local:%H:%M}"


# --- who is talking -------------------------------------------------------------------------


def me(ctx: Context) -> int:
    """The id of the registered person talking (a role's flows and commands only ever run for
    one: the engine and ``slash.Commands.run`` checked)."""
    assert ctx.person is not None
    assert ctx.person.id is not None
    return ctx.person.id
