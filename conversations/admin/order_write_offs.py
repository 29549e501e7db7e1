"""What ``/order <id>`` shows of cancelled work written off as paid (``/writeoff``): each
write-off with its lot, artisan, pieces, amount, who wrote it off, when and why."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations.flow import Context
from conversations.formatting import numeric_date
from domain.model import Allocation, Component, Job, OrderLine, Person, WriteOff
from domain.text import quoted


@dataclass(frozen=True, slots=True)
class WrittenOff:
    id: int
    allocation_id: int
    artisan: str
    component: str
    pieces: int
    amount_cents: int
    by: str
    at: datetime
    reason: str


async def order_write_offs(session: AsyncSession, order_id: int) -> list[WrittenOff]:
    """The order's write-offs, oldest first."""
    rows = list(
        await session.exec(
            select(WriteOff, Allocation, Component)
            .join(Allocation, col(Allocation.id) == col(WriteOff.allocation_id))
            .join(Job, col(Job.id) == col(Allocation.job_id))
            .join(OrderLine, col(OrderLine.id) == col(Job.order_line_id))
            .join(Component, col(Component.id) == col(Job.component_id))
            .where(OrderLine.order_id == order_id)
            .order_by(col(WriteOff.id))
        )
    )
    wanted = {a.artisan_id for _, a, _ in rows} | {w.written_off_by for w, _, _ in rows}
    names = {
        person.id: person.name
        for person in await session.exec(select(Person).where(col(Person.id).in_(wanted)))
    }
    return [
        WrittenOff(
            id=entry.id or 0,
            allocation_id=allocation.id or 0,
            artisan=names.get(allocation.artisan_id, "-"),
            component=component.name,
            pieces=entry.pieces,
            amount_cents=entry.amount_cents,
            by=names.get(entry.written_off_by, "-"),
            at=entry.created_at,
            reason=entry.reason,
        )
        for entry, allocation, component in rows
    ]


async def write_off_lines(ctx: Context, order_id: int) -> list[str]:
    """The lines ``/order`` adds for the order's write-offs (none when it has none)."""
    found = await order_write_offs(ctx.session, order_id)
    if not found:
        return []
    total = sum(entry.amount_cents for entry in found)
    return [
        ctx.t("admin.order_write_offs", count=len(found), total=ctx.money(total)),
        *(
            ctx.t(
                "admin.order_write_off_line",
                id=entry.id,
                lot=entry.allocation_id,
                artisan=quoted(entry.artisan),
                pieces=entry.pieces,
                component=entry.component,
                amount=ctx.money(entry.amount_cents),
                by=quoted(entry.by),
                date=numeric_date(entry.at),
                reason=quoted(entry.reason),
            )
            for entry in found
        ),
    ]
