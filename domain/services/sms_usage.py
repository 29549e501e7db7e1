"""What SMS cost this month: how many were sent, their segments, and the provider's reported cost.

Read from the outbox: each SMS row records, when Africa's Talking accepted it, the segments and
the cost it reported (bot/channels/sms.py). ``karakana status`` shows it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, tzinfo

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.model import Channel, OutboxMessage


@dataclass(frozen=True, slots=True)
class SmsMonth:
    month: str  # "2026-12"
    messages: int
    segments: int
    # currency -> cost in ten-thousandths (Africa's Talking reports "KES 0.8000")
    cost_e4: dict[str, int] = field(default_factory=dict)

    def cost_text(self) -> str:
        if not self.cost_e4:
            return "no cost reported"
        return ", ".join(
            f"{currency} {amount / 10_000:,.2f}"
            for currency, amount in sorted(self.cost_e4.items())
        )


async def sms_this_month(session: AsyncSession, *, now: datetime, zone: tzinfo) -> SmsMonth:
    """The SMS the provider accepted since the first of this month at the factory."""
    local = now.astimezone(zone)
    start = datetime.combine(local.date().replace(day=1), time(0), zone)
    sent = sa.and_(
        col(OutboxMessage.channel) == Channel.SMS,
        col(OutboxMessage.sent_at).is_not(None),
        col(OutboxMessage.sent_at) >= start,
    )
    messages, segments = (
        await session.exec(
            select(
                sa.func.count(),
                sa.func.coalesce(sa.func.sum(sa.func.coalesce(OutboxMessage.segments, 1)), 0),
            ).where(sent)
        )
    ).one()
    costs = await session.exec(
        select(OutboxMessage.cost_currency, sa.func.sum(OutboxMessage.cost_e4))
        .where(sent, col(OutboxMessage.cost_currency).is_not(None))
        .group_by(col(OutboxMessage.cost_currency))
    )
    return SmsMonth(
        month=f"{local:%Y-%m}",
        messages=int(messages),
        segments=int(segments),
        cost_e4={currency: int(total or 0) for currency, total in costs.all() if currency},
    )
