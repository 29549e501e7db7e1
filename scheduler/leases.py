"""One run of a scheduled job in exactly one process, and catching up a run missed while down.

Every run of a job belongs to a *slot*: the scheduled moment it is for (the 10:15 matching round,
Monday 09:00's payout batch). A process claims ``(job, slot)`` in one short transaction on the
``scheduler_lease`` row: the row is locked (PostgreSQL ``FOR UPDATE``; SQLite's write lock is
taken by ``BEGIN IMMEDIATE``), so of several processes firing the same slot exactly one wins and
the others see the slot taken. The claim lasts ``ttl``; if its process dies, the run is taken
over once the claim lapses (jobs are idempotent, so a half-done run is safe to repeat). The last
completed slot is kept, so a process starting up runs a slot nobody ran, and only once.

A job that never ran on this database (a fresh one, or a job new to it) has missed nothing: no
process was down through its slots, there was none. ``record_baselines`` (at start-up, before
the catch-up firings) records its current slot as done, so it first runs at its next slot
rather than at once (no 02:00 reminders at 11:00, no Friday payout batch on a Monday).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from domain.model import SchedulerLease
from domain.store import Store

log = logging.getLogger(__name__)

NAIROBI = ZoneInfo("Africa/Nairobi")
_EPOCH = datetime(2000, 1, 3, tzinfo=NAIROBI)  # a Monday: interval slots count from here


# --- slots ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Every:
    """Every ``interval``, on the grid counted from a fixed epoch (so every process agrees)."""

    interval: timedelta

    def slot(self, now: datetime) -> datetime:
        steps = (now - _EPOCH) // self.interval
        return _EPOCH + steps * self.interval


@dataclass(frozen=True, slots=True)
class Daily:
    at: time
    zone: ZoneInfo = NAIROBI

    def slot(self, now: datetime) -> datetime:
        local = now.astimezone(self.zone)
        today = datetime.combine(local.date(), self.at, tzinfo=self.zone)
        return today if today <= local else today - timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Weekly:
    weekday: int  # Monday is 0
    at: time
    zone: ZoneInfo = NAIROBI

    def slot(self, now: datetime) -> datetime:
        local = now.astimezone(self.zone)
        day: date = local.date() - timedelta(days=(local.weekday() - self.weekday) % 7)
        candidate = datetime.combine(day, self.at, tzinfo=self.zone)
        return candidate if candidate <= local else candidate - timedelta(days=7)


Schedule = Every | Daily | Weekly


def slot_key(slot: datetime) -> str:
    return slot.astimezone(NAIROBI).strftime("%Y-%m-%dT%H:%M:%S")


# --- claiming ------------------------------------------------------------------------------


async def _ensure_row(store: Store, job: str) -> None:
    async with store.read() as session:
        if await session.get(SchedulerLease, job) is not None:
            return
    try:
        async with store.transaction() as session:
            session.add(SchedulerLease(job=job))
    except IntegrityError:
        pass  # another process made it first: fine


async def record_baselines(
    store: Store, schedules: Mapping[str, Schedule], *, now: datetime
) -> list[str]:
    """For each job that never ran nor tried to, record ``now``'s slot as its last run; the
    jobs so counted from now, by name. A job with a run recorded is left alone: a slot it
    missed while every process was down still runs once at start-up."""
    counted: list[str] = []
    for job, schedule in schedules.items():
        key = slot_key(schedule.slot(now))
        try:
            async with store.transaction() as session:
                lease = await session.get(SchedulerLease, job, with_for_update=True)
                if lease is None:
                    session.add(SchedulerLease(job=job, completed_key=key, completed_at=now))
                elif lease.completed_key is None and lease.run_key is None:
                    lease.completed_key, lease.completed_at = key, now
                    session.add(lease)
                else:
                    continue
        except IntegrityError:
            continue  # another process starting at the same moment recorded it first
        counted.append(job)
    if counted:
        log.info("first start for scheduled job(s) %s: counted from now", ", ".join(counted))
    return counted


async def claim(
    store: Store, job: str, run_key: str, *, holder: str, now: datetime, ttl: timedelta
) -> bool:
    """Take ``(job, run_key)`` for this process; False if it ran or is running elsewhere."""
    await _ensure_row(store, job)
    async with store.transaction() as session:
        lease = (
            await session.exec(
                select(SchedulerLease)
                .where(SchedulerLease.job == job)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        ).one()
        if lease.completed_key is not None and lease.completed_key >= run_key:
            return False  # this slot (or a later one) already ran
        held = lease.leased_until is not None and lease.leased_until > now
        if held and lease.run_key is not None and lease.run_key >= run_key:
            return False  # somebody is running it right now
        lease.run_key = run_key
        lease.holder = holder
        lease.leased_until = now + ttl
        session.add(lease)
    return True


async def complete(store: Store, job: str, run_key: str, *, holder: str, now: datetime) -> None:
    async with store.transaction() as session:
        lease = (
            await session.exec(
                select(SchedulerLease).where(SchedulerLease.job == job).with_for_update()
            )
        ).one()
        if lease.completed_key is None or lease.completed_key < run_key:
            lease.completed_key = run_key
            lease.completed_at = now
        if lease.holder == holder and lease.run_key == run_key:
            lease.leased_until = None
        session.add(lease)


async def release(store: Store, job: str, run_key: str, *, holder: str) -> None:
    """Give up a failed run's claim at once, so the next firing (or process) may retry it."""
    async with store.transaction() as session:
        lease = await session.get(SchedulerLease, job)
        if lease is not None and lease.holder == holder and lease.run_key == run_key:
            lease.leased_until = None
            session.add(lease)


async def run_once(
    store: Store,
    job: str,
    schedule: Schedule,
    work: Callable[[], Awaitable[object]],
    *,
    holder: str,
    clock: Callable[[], datetime],
    ttl: timedelta = timedelta(minutes=30),
) -> bool:
    """Run ``work`` for the current slot of ``schedule`` unless it ran or runs elsewhere.

    Returns whether this process ran it. Call it on every firing and once at start-up: a slot
    missed while no process was up is then run once, and an already run slot is skipped.
    """
    now = clock()
    key = slot_key(schedule.slot(now))
    if not await claim(store, job, key, holder=holder, now=now, ttl=ttl):
        return False
    try:
        await work()
    except BaseException:
        log.exception("scheduled job %s (slot %s) failed; it will be retried", job, key)
        await release(store, job, key, holder=holder)
        raise
    await complete(store, job, key, holder=holder, now=clock())
    return True
