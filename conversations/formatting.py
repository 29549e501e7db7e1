"""How figures, dates and the person talking are read: one formatter each, shared by every role.

Money is integer cents in and "KES 1,250" out, in the currency the composition root configured
(``CURRENCY``: bot/main.py gives it to the ``Catalogue``, so ``ctx.money`` and a notice's
``ctx.money`` both say it). Dates are Nairobi's (the factory's zone): a ``datetime`` is read
there before it is shown, a ``date`` is already a factory day.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from conversations.i18n import DEFAULT_CURRENCY, N_
from domain.explosion import FACTORY_ZONE

if TYPE_CHECKING:
    from conversations.flow import Context

Say = Callable[..., str]  # t(msgid, **params) in the reader's language

_WEEKDAYS = (
    N_("artisan.weekday.mon"),
    N_("artisan.weekday.tue"),
    N_("artisan.weekday.wed"),
    N_("artisan.weekday.thu"),
    N_("artisan.weekday.fri"),
    N_("artisan.weekday.sat"),
    N_("artisan.weekday.sun"),
)


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


def weekday_date(t: Say, value: date) -> str:
    """``Fri 13/03``: the weekday, in the reader's language, helps more than the year when a
    date is days away."""
    return f"{t(_WEEKDAYS[value.weekday()])} {value:%d/%m}"


def weekday_date_time(t: Say, value: datetime) -> str:
    """An instant as the reader's clock shows it: ``Fri 13/03 14:00`` in Nairobi."""
    local = value.astimezone(FACTORY_ZONE)
    return f"{weekday_date(t, local.date())} {local:%H:%M}"


# --- who is talking -------------------------------------------------------------------------


def me(ctx: Context) -> int:
    """The id of the registered person talking (a role's flows and commands only ever run for
    one: the engine and ``slash.Commands.run`` checked)."""
    assert ctx.person is not None
    assert ctx.person.id is not None
    return ctx.person.id
