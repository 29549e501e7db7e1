"""``karakana status``: orders, open jobs and artisans at a glance."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from bot.cli.common import kes, out, say, with_factory
from bot.main import Factory
from domain.model import Role
from domain.reports import FactoryStatus, read_status
from domain.services.sms_usage import SmsMonth, sms_this_month


async def read_factory_status(factory: Factory) -> FactoryStatus:
    async with factory.store.read() as session:
        return await read_status(session)


async def read_sms_month(factory: Factory) -> SmsMonth:
    async with factory.store.read() as session:
        return await sms_this_month(session, now=factory.now(), zone=factory.zone)


async def _read_both(factory: Factory) -> tuple[FactoryStatus, SmsMonth]:
    return await read_factory_status(factory), await read_sms_month(factory)


def status() -> None:
    """Orders, open jobs and artisans at a glance, and what SMS cost this month."""
    factory, sms = with_factory(_read_both)
    show_status(factory)
    if not factory.is_empty:
        show_sms(sms)


def show_sms(month: SmsMonth) -> None:
    """SMS sent this month and their cost as Africa's Talking reported it."""
    out().print(
        Text(
            f"SMS in {month.month}: {month.messages} sent, {month.segments} segments, "
            f"cost {month.cost_text()}"
        ),
        soft_wrap=True,
    )


def show_status(factory: FactoryStatus) -> None:
    console = out()
    if factory.is_empty:
        say(
            "The factory is empty: run `karakana seed --demo`, or `karakana products import` "
            "and `karakana people add`.",
            "yellow",
        )
        return

    artisans = sum(factory.artisans_by_status.values())
    console.print(
        Text(
            f"Karakana: {factory.products} products, {len(factory.orders)} orders, "
            f"{len(factory.open_jobs)} open jobs, {artisans} artisans",
            style="bold",
        ),
        soft_wrap=True,
    )

    orders = Table(
        title="Orders",
        caption=" · ".join(f"{s}: {n}" for s, n in factory.orders_by_status.items()) or None,
    )
    for column in ("Reference", "Customer", "Status", "Due", "Units", "Value"):
        orders.add_column(column, justify="right" if column in ("Units", "Value") else "left")
    for order in factory.orders:
        orders.add_row(
            order.reference,
            order.customer,
            str(order.status),
            order.due_date.isoformat(),
            str(order.units),
            kes(order.value_cents),
        )
    console.print(orders)

    jobs = Table(
        title="Open jobs",
        caption=(
            "accepted: pieces artisans took · on offer: pieces in open offers, waiting for "
            "answers (a job may be offered to more artisans than it needs; the first to accept "
            "take it) · not taken: pieces no artisan has accepted yet"
        ),
    )
    numbers = ("Job", "Qty", "Accepted", "On offer", "Not taken")
    for column in ("Job", "Order", "Component", "Skill", "Qty", "Due", *numbers[2:]):
        jobs.add_column(column, justify="right" if column in numbers else "left")
    for job in factory.open_jobs:
        jobs.add_row(
            str(job.job_id),
            job.order_reference,
            job.component,
            job.skill,
            str(job.quantity),
            job.due_date.isoformat(),
            str(job.accepted),
            str(job.on_offer),
            Text(str(job.not_taken), style="yellow" if job.not_taken else "green"),
        )
    console.print(jobs)

    by_status = " · ".join(f"{s}: {n}" for s, n in factory.artisans_by_status.items())
    skills = Table(title="Artisans by skill", caption=by_status or None)
    for column in ("Skill", "Active", "Pending", "Weekly capacity"):
        skills.add_column(column, justify="left" if column == "Skill" else "right")
    for row in factory.skills:
        skills.add_row(row.skill, str(row.active), str(row.pending), str(row.weekly_capacity))
    console.print(skills)

    areas = Table(title="Artisans by area")
    for column in ("Area", "Active", "Pending", "Paused", "Field agent"):
        areas.add_column(
            column, justify="right" if column in ("Active", "Pending", "Paused") else "left"
        )
    for place in factory.areas:
        areas.add_row(
            place.area,
            str(place.active),
            str(place.pending),
            str(place.paused),
            ", ".join(place.agents),
        )
    console.print(areas)

    for role, title in ((Role.ADMIN, "Admins"), (Role.FIELD_AGENT, "Field agents")):
        if names := factory.staff.get(role):
            console.print(Text(f"{title}: {', '.join(names)}"), soft_wrap=True)
