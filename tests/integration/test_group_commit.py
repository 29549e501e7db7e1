"""Group commit: writes that arrive together share one batch, and each caller learns its fate."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from bot.group_commit import GroupCommit


async def test_items_that_arrive_while_a_batch_is_written_share_the_next_batch() -> None:
    batches: list[list[int]] = []
    gate = asyncio.Event()

    async def write(items: Sequence[int]) -> None:
        batches.append(list(items))
        if len(batches) == 1:
            await gate.wait()

    commit = GroupCommit[int](write)
    first = asyncio.create_task(commit.submit(1))
    await asyncio.sleep(0)  # the first batch is being written
    rest = [asyncio.create_task(commit.submit(n)) for n in (2, 3, 4)]
    await asyncio.sleep(0)
    assert not first.done()
    gate.set()
    await asyncio.gather(first, *rest)

    assert batches == [[1], [2, 3, 4]]


async def test_every_caller_in_a_failed_batch_gets_the_error_and_the_next_batch_still_runs() -> (
    None
):
    calls: list[list[str]] = []

    async def write(items: Sequence[str]) -> None:
        calls.append(list(items))
        if "bad" in items:
            raise RuntimeError("the transaction failed")

    commit = GroupCommit[str](write)
    results = await asyncio.gather(
        commit.submit("bad"), commit.submit("unlucky"), return_exceptions=True
    )
    assert [type(result) for result in results] == [RuntimeError, RuntimeError]

    await commit.submit("good")
    assert calls == [["bad", "unlucky"], ["good"]]


async def test_a_cancelled_caller_does_not_cancel_the_write_of_its_batch() -> None:
    written: list[int] = []
    gate = asyncio.Event()

    async def write(items: Sequence[int]) -> None:
        await gate.wait()
        written.extend(items)

    commit = GroupCommit[int](write)
    impatient = asyncio.create_task(commit.submit(1))
    patient = asyncio.create_task(commit.submit(2))
    await asyncio.sleep(0)
    impatient.cancel()
    with pytest.raises(asyncio.CancelledError):
        await impatient
    gate.set()
    await patient

    assert written == [1, 2]
