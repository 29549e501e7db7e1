"""The scheduler's daily and weekly jobs fire at their local times in the configured TIMEZONE."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from bot.scheduling import JobSettings, karakana_jobs, trigger_for
from conversations.i18n import Catalogue
from domain.store import Store
from scheduler.leases import NAIROBI, Daily, Weekly

LAGOS = ZoneInfo("Africa/Lagos")  # UTC+1 all year, two hours behind Nairobi
MONDAY_NOON_UTC = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def _jobs(store: Store, settings: JobSettings) -> dict[str, Daily | Weekly]:
    listed = karakana_jobs(
        store, clock=lambda: MONDAY_NOON_UTC, catalogue=Catalogue.load(), settings=settings
    )
    return {
        job.name: job.schedule
        for job in listed
        if isinstance(job.schedule, Daily | Weekly)  # intervals do not depend on a zone
    }


def _next_firing(schedule: Daily | Weekly) -> datetime:
    fired: datetime = trigger_for(schedule).get_next_fire_time(None, MONDAY_NOON_UTC)
    return fired.astimezone(UTC)


def test_daily_and_weekly_jobs_keep_the_configured_local_time(store: Store) -> None:
    settings = JobSettings(
        zone=LAGOS, reminders_time=time(8, 0), payout_weekday=4, payout_time=time(10, 0)
    )

    schedules = _jobs(store, settings)

    assert {name: schedule.zone for name, schedule in schedules.items()} == {
        "reminders": LAGOS,
        "material_reminders": LAGOS,
        "weekly_payout_batch": LAGOS,
        "housekeeping": LAGOS,
    }
    # 08:00 in Lagos is 07:00 UTC, the next morning; Friday 10:00 in Lagos is 09:00 UTC.
    assert _next_firing(schedules["reminders"]) == datetime(2026, 3, 3, 7, 0, tzinfo=UTC)
    assert _next_firing(schedules["weekly_payout_batch"]) == datetime(2026, 3, 6, 9, 0, tzinfo=UTC)
    # The lease's slot agrees with the trigger, so a run is claimed for the slot that fired.
    assert schedules["reminders"].slot(datetime(2026, 3, 3, 7, 0, tzinfo=UTC)) == datetime(
        2026, 3, 3, 8, 0, tzinfo=LAGOS
    )


def test_without_a_zone_the_jobs_keep_nairobi_time(store: Store) -> None:
    schedules = _jobs(store, JobSettings(reminders_time=time(8, 0)))

    assert {schedule.zone for schedule in schedules.values()} == {NAIROBI}
    assert _next_firing(schedules["reminders"]) == datetime(2026, 3, 3, 5, 0, tzinfo=UTC)
