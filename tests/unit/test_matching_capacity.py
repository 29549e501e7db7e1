"""Capacity evidence is remembered: stretched weeks do not age out with the recent window."""

from __future__ import annotations

from matching.capacity import WeekOfWork, capacity_evidence, effective_capacity


def test_stretched_weeks_are_remembered_after_the_recent_window_moves_on() -> None:
    stretched = [WeekOfWork(20, True) for _ in range(4)]
    kept_up = [WeekOfWork(15, False) for _ in range(8)]  # given less once capacity was learned

    recent_only = effective_capacity(60.0, kept_up)
    remembered = effective_capacity(60.0, capacity_evidence(kept_up, stretched))

    assert recent_only == 60.0  # the evidence evaporated: back to the declaration
    assert remembered < 35.0  # (2 x 60 + 4 x 20) / 6 = 33.3


def test_only_the_latest_stretched_weeks_are_remembered() -> None:
    older = [WeekOfWork(i, i % 2 == 0) for i in range(1, 21)]
    recent = [WeekOfWork(5, False)]

    kept = capacity_evidence(recent, older, remembered=3)

    assert kept == [WeekOfWork(16, True), WeekOfWork(18, True), WeekOfWork(20, True), recent[0]]
