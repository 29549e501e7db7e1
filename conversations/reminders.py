"""Nudges the scheduler sends: due-soon and overdue reminders to artisans, a late-jobs digest to
admins. Each person gets a given reminder at most once a day, so a re-run sends nothing twice.

Shared by two roles and started by the clock rather than by an event, so it sits beside the
shared pieces rather than in a role's ``notices.py``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations.formatting import numeric_date
from conversations.i18n import Catalogue
from conversations.messages import Reply
from conversations.outbox import notify_person
from domain.explosion import FACTORY_ZONE
from domain.model import (
    OPEN_JOB_STATUSES,
    Allocation,
    AllocationStatus,
    Component,
    Job,
    OutboxMessage,
    Person,
    Role,
)

DIGEST_LINES = 15


@dataclass(frozen=True, slots=True)
class RemindersSent:
    due_soon: int
    overdue: int
    digests: int


async def _already_told_today(
    session: AsyncSession, person_id: int, reply: Reply, day_start: datetime
) -> bool:
    earlier = await session.exec(
        select(OutboxMessage.id).where(
            OutboxMessage.person_id == person_id,
            col(OutboxMessage.created_at) >= day_start,
            OutboxMessage.body == reply.to_json(),
        )
    )
    return earlier.first() is not None


async def _tell_once_today(
    session: AsyncSession, person: Person, text: str, *, now: datetime, day_start: datetime
) -> bool:
    reply = Reply(text)
    assert person.id is not None
    if await _already_told_today(session, person.id, reply, day_start):
        return False
    return await notify_person(session, person, reply, now=now) is not None


async def queue_reminders(
    session: AsyncSession,
    *,
    catalogue: Catalogue,
    now: datetime,
    due_soon: timedelta = timedelta(days=2),
    zone: ZoneInfo = FACTORY_ZONE,
) -> RemindersSent:
    """Remind artisans of active work due within ``due_soon`` or overdue; tell admins which jobs
    are late."""
    local = now.astimezone(zone)
    today: date = local.date()
    day_start = datetime.combine(today, datetime.min.time(), tzinfo=zone)
    horizon = today + due_soon
    rows = await session.exec(
        select(Allocation, Job, Component, Person)
        .join(Job, col(Job.id) == col(Allocation.job_id))
        .join(Component, col(Component.id) == col(Job.component_id))
        .join(Person, col(Person.id) == col(Allocation.artisan_id))
        .where(Allocation.status == AllocationStatus.ACTIVE, col(Job.due_date) <= horizon)
        .order_by(col(Job.due_date), col(Allocation.id))
    )
    soon = late = 0
    # Reminders keep numeric dates ("05/03/2026", not "Alhamisi 5 Machi"): they also go by SMS,
    # which must stay one segment; staff lists write dates out (formatting.written_date).
    for allocation, job, component, artisan in rows.all():
        if job.due_date < today:
            text = catalogue.t(
                artisan.language,
                "reminders.overdue",
                quantity=allocation.quantity,
                component=component.name,
                due=numeric_date(job.due_date),
                days=(today - job.due_date).days,
            )
            late += await _tell_once_today(session, artisan, text, now=now, day_start=day_start)
        else:
            text = catalogue.t(
                artisan.language,
                "reminders.due_soon",
                quantity=allocation.quantity,
                component=component.name,
                due=numeric_date(job.due_date),
            )
            soon += await _tell_once_today(session, artisan, text, now=now, day_start=day_start)

    late_jobs = (
        await session.exec(
            select(Job, Component)
            .join(Component, col(Component.id) == col(Job.component_id))
            .where(col(Job.status).in_(list(OPEN_JOB_STATUSES)), col(Job.due_date) < today)
            .order_by(col(Job.due_date), col(Job.id))
        )
    ).all()
    digests = 0
    if late_jobs:
        admins = (await session.exec(select(Person).where(Person.role == Role.ADMIN))).all()
        for admin in admins:
            lines = [
                catalogue.t(
                    admin.language,
                    "reminders.digest_line",
                    job=job.id,
                    quantity=job.quantity,
                    component=component.name,
                    days=(today - job.due_date).days,
                )
                for job, component in late_jobs[:DIGEST_LINES]
            ]
            head = catalogue.t(admin.language, "reminders.digest", count=len(late_jobs))
            text = "\n".join([head, *lines])
            digests += await _tell_once_today(session, admin, text, now=now, day_start=day_start)
    return RemindersSent(due_soon=soon, overdue=late, digests=digests)
