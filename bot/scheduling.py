"""APScheduler's AsyncIOScheduler, with Karakana's jobs and their dependencies wired in.

Every job fires on its trigger *and once at start-up*; each firing goes through
``scheduler.leases.run_once``, so with several bot processes on one database each scheduled run
happens in exactly one of them, and a run missed while every process was down happens once when
the first one starts (the lease remembers the last slot that ran). A job that never ran on this
database missed nothing: ``record_baselines`` (called before the scheduler starts) counts it from
now, so a fresh database does not run every daily and weekly job at start-up. APScheduler's own
``coalesce`` and ``misfire_grace_time`` fold runs missed while the process was merely busy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler  # type: ignore[import-untyped]
from apscheduler.triggers.base import BaseTrigger  # type: ignore[import-untyped]
from apscheduler.triggers.cron import CronTrigger  # type: ignore[import-untyped]
from apscheduler.triggers.interval import IntervalTrigger  # type: ignore[import-untyped]

from bot.payments.runner import PayoutRunner
from conversations.i18n import Catalogue
from conversations.notices import RevenueBand
from conversations.registry import REGISTRY
from domain.store import Store
from scheduler import jobs
from scheduler.leases import NAIROBI, Daily, Every, Schedule, Weekly, record_baselines, run_once

log = logging.getLogger(__name__)

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, slots=True)
class ScheduledJob:
    name: str
    schedule: Schedule
    work: Callable[[], Awaitable[object]]
    ttl: timedelta = timedelta(minutes=30)  # how long a claim holds before another may take over


def default_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def trigger_for(schedule: Schedule) -> BaseTrigger:
    if isinstance(schedule, Every):
        # Counted from the same epoch as the slots, so firings land on slot boundaries.
        return IntervalTrigger(
            seconds=schedule.interval.total_seconds(),
            start_date=schedule.slot(datetime(2000, 1, 3, tzinfo=NAIROBI)),
            timezone=NAIROBI,
        )
    if isinstance(schedule, Daily):
        at = schedule.at
        return CronTrigger(hour=at.hour, minute=at.minute, second=at.second, timezone=schedule.zone)
    at = schedule.at
    return CronTrigger(
        day_of_week=WEEKDAYS[schedule.weekday],
        hour=at.hour,
        minute=at.minute,
        second=at.second,
        timezone=schedule.zone,
    )


class InFlight:
    """The firings running now — lease claim, work and completion — so a graceful stop can wait
    for all of it. Tracking only the work is not enough: a firing still waiting for its lease
    (SQLite's write lock, at start-up when every job catches up at once) would be cut off mid
    transaction when the loop closes."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    @contextlib.contextmanager
    def tracking(self) -> Iterator[None]:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            yield
        finally:
            self._tasks.discard(task)

    async def wait(self, *, grace: float) -> None:
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=grace)


async def _fire(
    store: Store,
    job: ScheduledJob,
    holder: str,
    clock: Callable[[], datetime],
    in_flight: InFlight,
) -> None:
    with in_flight.tracking():
        try:
            ran = await run_once(
                store, job.name, job.schedule, job.work, holder=holder, clock=clock, ttl=job.ttl
            )
        except Exception:
            return  # logged by run_once; the claim is released so the next firing retries
    if ran:
        log.info("scheduled job %s ran", job.name)


async def record_first_runs(
    store: Store, scheduled: Sequence[ScheduledJob], *, clock: Callable[[], datetime]
) -> list[str]:
    """Before the scheduler starts: a job that never ran on this database is counted from now
    (see ``scheduler.leases.record_baselines``), so its start-up firing does not run it."""
    return await record_baselines(store, {job.name: job.schedule for job in scheduled}, now=clock())


def build_scheduler(
    store: Store,
    scheduled: Sequence[ScheduledJob],
    *,
    clock: Callable[[], datetime],
    holder: str | None = None,
    catch_up: bool = True,
    in_flight: InFlight | None = None,
) -> AsyncIOScheduler:
    """A scheduler (not started) firing ``scheduled``; start it inside the running loop.

    Pass ``in_flight`` to be able to wait for running firings before the loop stops.
    """
    who = holder or default_holder()
    tracker = in_flight if in_flight is not None else InFlight()
    scheduler = AsyncIOScheduler(
        timezone=NAIROBI,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
    )
    for job in scheduled:
        options: dict[str, object] = {}
        if catch_up:
            options["next_run_time"] = clock()  # a missed slot runs now; a done one is skipped
        scheduler.add_job(
            partial(_fire, store, job, who, clock, tracker),
            trigger_for(job.schedule),
            id=job.name,
            name=job.name,
            replace_existing=True,
            **options,
        )
    return scheduler


# --- Karakana's jobs ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JobSettings:
    """The settings the jobs read; bot/main.py fills it from ``Settings``."""

    match_interval: timedelta = timedelta(minutes=15)
    offer_expiry_interval: timedelta = timedelta(minutes=5)
    payout_weekday: int = 4  # Friday
    payout_time: time = time(10, 0)
    payout_minimum_cents: int = 50_000
    payout_auto_approve_limit_cents: int = 0  # 0: an admin always approves
    payout_max_per_artisan_cents: int | None = None  # None: no limit
    payout_max_per_batch_cents: int | None = None
    payout_send_interval: timedelta = timedelta(minutes=10)
    payouts_in_doubt_after: timedelta = timedelta(minutes=10)
    reminders_time: time = time(8, 0)
    reminders_due_soon: timedelta = timedelta(days=2)
    material_request_reminder_after: timedelta = timedelta(days=2)
    question_reminder_after: timedelta = timedelta(hours=4)
    question_reminder_interval: timedelta = timedelta(minutes=15)  # how often it looks
    housekeeping_time: time = time(3, 0)
    retraining_time: time = time(2, 0)
    media_root: Path | None = None
    stored_media: jobs.StoredMedia | None = None  # the object store's media (bot/storage)
    media_max_age: timedelta = timedelta(days=30)
    outbox_max_age: timedelta = timedelta(days=30)
    revenue_band: RevenueBand | None = None  # the configured REVENUE_SHARE band
    zone: ZoneInfo = NAIROBI  # TIMEZONE: the daily and weekly times above are read in it


def karakana_jobs(
    store: Store,
    *,
    clock: Callable[[], datetime],
    catalogue: Catalogue,
    settings: JobSettings,
    runner: PayoutRunner | None = None,
    match: jobs.MatchRound | None = None,
    retrain: Callable[[], Awaitable[object]] | None = None,
) -> list[ScheduledJob]:
    """The standard job list; a job whose dependency is missing (no M-Pesa, no matching model
    yet) is left out rather than failing at run time."""
    # The registry's one notifier: every job's events go through the same table as the engine's.
    notify = REGISTRY.notifier(catalogue, settings.revenue_band)
    listed: list[ScheduledJob] = []
    if match is not None:
        listed.append(
            ScheduledJob(
                "matching_round",
                Every(settings.match_interval),
                partial(jobs.run_matching_round, store, clock=clock, match=match, notify=notify),
            )
        )
    listed.append(
        ScheduledJob(
            "expire_offers",
            Every(settings.offer_expiry_interval),
            partial(jobs.expire_offers, store, clock=clock, notify=notify, rematch=match),
        )
    )
    listed.append(
        ScheduledJob(
            "reminders",
            Daily(settings.reminders_time, settings.zone),
            partial(
                jobs.send_reminders,
                store,
                clock=clock,
                catalogue=catalogue,
                due_soon=settings.reminders_due_soon,
            ),
        )
    )
    listed.append(
        ScheduledJob(
            "material_reminders",
            Daily(settings.reminders_time, settings.zone),
            partial(
                jobs.remind_material_requests,
                store,
                clock=clock,
                catalogue=catalogue,
                after=settings.material_request_reminder_after,
            ),
        )
    )
    listed.append(
        ScheduledJob(
            "question_reminders",
            Every(settings.question_reminder_interval),
            partial(
                jobs.remind_questions,
                store,
                clock=clock,
                catalogue=catalogue,
                after=settings.question_reminder_after,
            ),
        )
    )
    # The batch is made (and approved or put to admins) even without M-Pesa: nothing is sent
    # then, and admins are told M-Pesa is not configured when they look or approve.
    send = (
        None
        if runner is None
        else partial(runner.run, in_doubt_after=settings.payouts_in_doubt_after)
    )
    listed.append(
        ScheduledJob(
            "weekly_payout_batch",
            Weekly(settings.payout_weekday, settings.payout_time, settings.zone),
            partial(
                jobs.weekly_payout_batch,
                store,
                clock=clock,
                minimum_cents=settings.payout_minimum_cents,
                auto_approve_limit_cents=settings.payout_auto_approve_limit_cents,
                max_per_artisan_cents=settings.payout_max_per_artisan_cents,
                max_batch_cents=settings.payout_max_per_batch_cents,
                notify=notify,
                send=send,
            ),
            ttl=timedelta(hours=2),
        )
    )
    if runner is not None:
        # Sends batches an admin approved since, and asks M-Pesa about payouts in doubt.
        listed.append(
            ScheduledJob(
                "send_payouts",
                Every(settings.payout_send_interval),
                partial(runner.run, in_doubt_after=settings.payouts_in_doubt_after),
                ttl=timedelta(hours=1),
            )
        )
    listed.append(
        ScheduledJob(
            "housekeeping",
            Daily(settings.housekeeping_time, settings.zone),
            partial(
                jobs.housekeeping,
                store,
                clock=clock,
                media_root=settings.media_root,
                stored_media=settings.stored_media,
                media_max_age=settings.media_max_age,
                outbox_max_age=settings.outbox_max_age,
            ),
        )
    )
    if retrain is not None:
        listed.append(
            ScheduledJob(
                "nightly_retraining",
                Daily(settings.retraining_time, settings.zone),
                partial(jobs.nightly_retraining, retrain),
                ttl=timedelta(hours=3),
            )
        )
    return listed
