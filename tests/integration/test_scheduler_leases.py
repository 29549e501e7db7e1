"""Each scheduled run happens in exactly one process, and a run missed while down happens once."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, time, timedelta
from functools import partial
from typing import Any

import pytest

from bot.scheduling import ScheduledJob, build_scheduler, record_first_runs
from domain.store import Store
from scheduler import leases
from scheduler.leases import Daily, Every, Weekly, run_once, slot_key
from tests.conftest import FakeClock, _fresh_schema


def test_slots_fall_on_the_schedule_in_nairobi_time() -> None:
    tuesday = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)  # 15:00 in Nairobi
    assert slot_key(Weekly(0, time(9, 0)).slot(tuesday)) == "2026-03-02T09:00:00"
    assert slot_key(Weekly(1, time(16, 0)).slot(tuesday)) == "2026-02-24T16:00:00"
    assert slot_key(Daily(time(15, 0)).slot(tuesday)) == "2026-03-03T15:00:00"
    assert slot_key(Every(timedelta(minutes=15)).slot(tuesday + timedelta(minutes=7))) == (
        "2026-03-03T15:00:00"
    )


async def test_a_run_missed_while_down_happens_once_at_start_up(
    any_store: Store, clock: FakeClock
) -> None:
    ran: list[datetime] = []

    async def work() -> None:
        ran.append(clock.now())

    weekly = Weekly(0, time(9, 0))  # Mondays 09:00 Nairobi; the clock starts Monday 10:00
    assert await run_once(any_store, "payouts", weekly, work, holder="a", clock=clock.now)
    clock.advance(days=8)  # down over the next Monday's run
    assert await run_once(any_store, "payouts", weekly, work, holder="b", clock=clock.now)
    assert not await run_once(any_store, "payouts", weekly, work, holder="c", clock=clock.now)
    clock.advance(hours=1)
    assert not await run_once(any_store, "payouts", weekly, work, holder="a", clock=clock.now)
    assert len(ran) == 2


async def test_a_failed_run_is_released_and_retried(any_store: Store, clock: FakeClock) -> None:
    attempts: list[int] = []

    async def flaky() -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("M-Pesa was down")

    daily = Daily(time(8, 0))
    with pytest.raises(RuntimeError, match="M-Pesa was down"):
        await run_once(any_store, "reminders", daily, flaky, holder="a", clock=clock.now)
    assert await run_once(any_store, "reminders", daily, flaky, holder="b", clock=clock.now)
    assert len(attempts) == 2


async def test_many_processes_firing_the_same_slot_run_it_once(backend_url: str) -> None:
    stores = [Store.from_url(backend_url) for _ in range(4)]
    await _fresh_schema(stores[0])
    ran: list[str] = []

    async def work(who: str) -> None:
        ran.append(who)
        await asyncio.sleep(0.05)

    now = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
    try:
        results = await asyncio.gather(
            *(
                run_once(
                    s,
                    "matching_round",
                    Every(timedelta(minutes=15)),
                    partial(work, f"p{n}"),
                    holder=f"p{n}",
                    clock=lambda: now,
                )
                for n, s in enumerate(stores)
                for _ in range(3)
            )
        )
    finally:
        for s in stores:
            await s.close()
    assert sum(results) == 1
    assert len(ran) == 1


async def test_two_schedulers_on_one_database_run_each_job_run_once(
    backend_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    stores = [Store.from_url(backend_url), Store.from_url(backend_url)]
    await _fresh_schema(stores[0])
    won: list[tuple[str, str]] = []  # (holder, slot) of every claim that won
    ran: list[str] = []

    # Record the slot each run claimed, not the clock when its work starts: on a loaded machine
    # a claim made at :01.9 can start its work at :02, beside the other process's :02 run.
    real_claim = leases.claim

    async def recording_claim(store: Store, job: str, run_key: str, **kwargs: Any) -> bool:
        taken = await real_claim(store, job, run_key, **kwargs)
        if taken:
            won.append((kwargs["holder"], run_key))
        return taken

    monkeypatch.setattr(leases, "claim", recording_claim)

    def now() -> datetime:
        return datetime.now(UTC)

    def job_for(holder: str) -> ScheduledJob:
        async def work() -> None:
            ran.append(holder)

        return ScheduledJob("tick", Every(timedelta(seconds=1)), work)

    schedulers = [
        build_scheduler(store, [job_for(name)], clock=now, holder=name)
        for store, name in zip(stores, ("first", "second"), strict=True)
    ]
    try:
        for scheduler in schedulers:
            scheduler.start()
        await asyncio.sleep(2.6)
    finally:
        for scheduler in schedulers:
            scheduler.shutdown(wait=False)
        await asyncio.sleep(0.1)
        for store in stores:
            await store.close()
    per_slot = Counter(slot for _, slot in won)
    assert per_slot, "nothing ran"
    assert max(per_slot.values()) == 1, per_slot
    assert len(ran) == len(won)  # every won claim ran its work, and nothing else did
    assert len(per_slot) >= 2


# --- a fresh database against a slot really missed ------------------------------------------


def _factory_jobs(ran: list[str]) -> list[ScheduledJob]:
    """Reminders at 02:00, the payout batch on Fridays at 10:00, a round every 15 minutes."""

    def job(name: str, schedule: leases.Schedule) -> ScheduledJob:
        async def work() -> None:
            ran.append(name)

        return ScheduledJob(name, schedule, work)

    return [
        job("reminders", Daily(time(2, 0))),
        job("weekly_payout_batch", Weekly(4, time(10, 0))),
        job("matching_round", Every(timedelta(minutes=15))),
    ]


async def _start_up(store: Store, scheduled: list[ScheduledJob], clock: FakeClock) -> None:
    """What ``karakana run`` does at start-up: count new jobs from now, then fire every job."""
    await record_first_runs(store, scheduled, clock=clock.now)
    for job in scheduled:
        await run_once(store, job.name, job.schedule, job.work, holder="p", clock=clock.now)


async def test_a_fresh_database_runs_no_job_at_start_up_and_each_at_its_next_slot(
    any_store: Store, clock: FakeClock
) -> None:
    ran: list[str] = []
    scheduled = _factory_jobs(ran)
    await _start_up(any_store, scheduled, clock)  # Monday 10:00 in Nairobi
    assert ran == []
    clock.advance(minutes=5)  # 10:05: the 10:00 round was "now" at start-up, counted as done
    await _start_up(any_store, scheduled, clock)
    assert ran == []
    clock.advance(minutes=10)  # 10:15: the next round's slot
    await _start_up(any_store, scheduled, clock)
    assert ran == ["matching_round"]
    clock.advance(hours=16)  # Tuesday 02:15: the reminders' first slot since start-up
    await _start_up(any_store, scheduled, clock)
    assert ran == ["matching_round", "reminders", "matching_round"]


async def test_a_slot_really_missed_while_down_runs_once_at_start_up(
    any_store: Store, clock: FakeClock
) -> None:
    ran: list[str] = []
    scheduled = _factory_jobs(ran)
    await _start_up(any_store, scheduled, clock)  # Monday 10:00: counted from here
    clock.advance(days=4, hours=3)  # down from Monday until Friday 13:00
    await _start_up(any_store, scheduled, clock)
    assert sorted(ran) == ["matching_round", "reminders", "weekly_payout_batch"]
    await _start_up(any_store, scheduled, clock)  # restarted at once: nothing is due again
    assert len(ran) == 3


async def test_a_job_that_failed_its_first_run_is_retried_not_counted_from_now(
    any_store: Store, clock: FakeClock
) -> None:
    daily = Daily(time(8, 0))  # 08:00; the clock is at 10:00
    attempts: list[int] = []

    async def flaky() -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("the database was locked")

    with pytest.raises(RuntimeError, match="locked"):
        await run_once(any_store, "reminders", daily, flaky, holder="a", clock=clock.now)
    job = ScheduledJob("reminders", daily, flaky)
    assert await record_first_runs(any_store, [job], clock=clock.now) == []
    assert await run_once(any_store, "reminders", daily, flaky, holder="b", clock=clock.now)
    assert len(attempts) == 2
