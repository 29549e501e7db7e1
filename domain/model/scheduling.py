"""Scheduler leases: which process runs a scheduled job's current run, and which run was last.

With several bot processes on one database, each scheduled run of a job (named by its slot,
e.g. the Monday 09:00 payout batch) is claimed by one process in one short transaction. The
claim expires, so a run whose process died is taken over; the last completed slot tells a
process starting up whether it missed a run while nobody was up.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from domain.model.columns import UTCDateTime


class SchedulerLease(SQLModel, table=True):
    __tablename__ = "scheduler_lease"

    job: str = Field(primary_key=True, max_length=60)
    run_key: str | None = Field(default=None, max_length=40)  # the slot being run or last run
    holder: str | None = Field(default=None, max_length=120)
    leased_until: datetime | None = Field(default=None, sa_type=UTCDateTime())
    completed_key: str | None = Field(default=None, max_length=40)  # last slot run to the end
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
