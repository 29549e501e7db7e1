"""Earnings: what the artisan earned, what is on its way to M-Pesa, what was paid, and when next.

A menu action (one answer), so no flow and no diagram. Figures come from the ledger
(``domain.ledger.artisan_balance``), the last payouts from the ``Payout`` rows M-Pesa confirmed.

The next payout date: payout batches run weekly, on ``PAYOUT_WEEKDAY`` (Friday). Nothing below
``bot/`` reads settings and no table holds the payout day yet, so the day is this module-level
default, and ``earnings`` takes it as an argument so the composition root (or a later settings
table) can pass the configured day without changing this module.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlmodel import col, select

from conversations.flow import Context
from conversations.formatting import weekday_date
from conversations.messages import Reply
from domain.explosion import factory_today
from domain.ledger import artisan_balance
from domain.model import Payout, PayoutStatus

PAYOUT_WEEKDAY = 4  # Friday (Monday is 0)
LAST_PAYOUTS = 3


def next_payout_day(today: date, weekday: int = PAYOUT_WEEKDAY) -> date:
    """The payout day on or after ``today`` (today itself on a payout day)."""
    return today + timedelta(days=(weekday - today.weekday()) % 7)


async def earnings(ctx: Context, *, payout_weekday: int = PAYOUT_WEEKDAY) -> list[Reply]:
    assert ctx.person is not None  # only artisans get here
    assert ctx.person.id is not None
    balance = await artisan_balance(ctx.session, ctx.person.id)
    text = ctx.t(
        "artisan.earnings",
        earned=ctx.money(balance.earned_cents),
        paid=ctx.money(balance.paid_cents),
        in_payout=ctx.money(balance.in_flight_cents),
        available=ctx.money(balance.available_cents),
        next=weekday_date(ctx.t, next_payout_day(factory_today(ctx.now), payout_weekday)),
    )
    paid = await ctx.session.exec(
        select(Payout)
        .where(Payout.artisan_id == ctx.person.id, Payout.status == PayoutStatus.SUCCEEDED)
        .order_by(col(Payout.updated_at).desc(), col(Payout.id).desc())
        .limit(LAST_PAYOUTS)
    )
    lines = [
        ctx.t(
            "artisan.payout_line",
            date=weekday_date(ctx.t, factory_today(payout.updated_at)),
            amount=ctx.money(payout.amount_cents),
            receipt=payout.mpesa_receipt or "-",
        )
        for payout in paid
    ]
    if lines:
        text += "\n\n" + ctx.t("artisan.last_payouts") + "\n" + "\n".join(lines)
    elif balance.earned_cents == 0:
        text += "\n\n" + ctx.t("artisan.earnings_none_yet")
    return [Reply(text)]
