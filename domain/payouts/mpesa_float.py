"""The M-Pesa float: what the B2C shortcode can still pay, asked of M-Pesa before money goes.

M-Pesa answers an Account Balance query by callback, so each query is a row
(``FloatBalanceQuery``) made before it is sent and answered when the callback comes. The float
is the newest answer's ``available_cents``. A query still unanswered after a while (its callback
lost) is asked again (:func:`queries_to_retry`); the payout runner asks before each send run.

:func:`float_shortfall` is the one rule: a batch of ``total`` cents may be approved, and sent,
only if the last known float covers it. With no answer yet, or when the newest query failed
(:func:`current_float`), approval is refused (:class:`FloatUnknown`) and M-Pesa is asked again
(:func:`float_wanted`); a send run of an already approved batch goes on the last answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain import events
from domain.errors import NotFound, PayoutError
from domain.model import FloatBalanceQuery, FloatQueryStatus, PayoutBatch, PayoutBatchStatus


@dataclass(frozen=True, slots=True)
class KnownFloat:
    available_cents: int
    as_of: datetime


class FloatUnknown(PayoutError):
    """M-Pesa has not told us the float (no answer yet, or the last query failed): a batch is
    not approved blind. Asking again is :func:`float_wanted`'s and the payout waker's."""

    def __init__(self, batch_id: int, total_cents: int) -> None:
        super().__init__(
            f"payout batch {batch_id} pays {total_cents} cents and the M-Pesa float is not known"
        )
        self.batch_id = batch_id
        self.total_cents = total_cents


class FloatTooLow(PayoutError):
    """The last known float does not cover the batch."""

    def __init__(self, batch_id: int, total_cents: int, available_cents: int) -> None:
        super().__init__(
            f"payout batch {batch_id} pays {total_cents} cents but the M-Pesa float holds "
            f"{available_cents} cents"
        )
        self.batch_id = batch_id
        self.total_cents = total_cents
        self.available_cents = available_cents


async def begin_balance_query(session: AsyncSession, *, now: datetime) -> int:
    """A new query, recorded before it is sent; its id goes in the callback URL."""
    query = FloatBalanceQuery(asked_at=now)
    session.add(query)
    await session.flush()
    assert query.id is not None
    return query.id


async def record_balance(
    session: AsyncSession,
    *,
    query_id: int,
    available_cents: int | None,
    now: datetime,
    result_desc: str = "",
) -> bool:
    """M-Pesa's answer to query ``query_id``: the float (None: M-Pesa could not say). False for
    a repeat or a late answer to a query already settled; NotFound for a query we never made."""
    query = (
        await session.exec(
            select(FloatBalanceQuery)
            .where(FloatBalanceQuery.id == query_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).first()
    if query is None:
        raise NotFound("float balance query", query_id)
    if query.status is not FloatQueryStatus.ASKED:
        return False
    if available_cents is not None and await current_float(session) is None:
        # Approval had no float to rely on until now: the admins hear it has come.
        events.record(session, events.FloatArrived(available_cents, now))
    query.status = FloatQueryStatus.FAILED if available_cents is None else FloatQueryStatus.ANSWERED
    query.available_cents = available_cents
    query.answered_at = now
    query.result_desc = result_desc[:300] or None
    session.add(query)
    return True


async def known_float(session: AsyncSession) -> KnownFloat | None:
    """The newest answer M-Pesa gave about the float, if any."""
    query = (
        await session.exec(
            select(FloatBalanceQuery)
            .where(FloatBalanceQuery.status == FloatQueryStatus.ANSWERED)
            .order_by(col(FloatBalanceQuery.answered_at).desc(), col(FloatBalanceQuery.id).desc())
            .limit(1)
        )
    ).first()
    if query is None or query.available_cents is None or query.answered_at is None:
        return None
    return KnownFloat(query.available_cents, query.answered_at)


async def current_float(session: AsyncSession) -> KnownFloat | None:
    """The float approval may rely on: the newest settled query's answer; None when there is no
    answer yet or the newest settled query failed (M-Pesa could not say, or its callback was
    lost and the query is being asked again)."""
    query = (
        await session.exec(
            select(FloatBalanceQuery)
            .where(FloatBalanceQuery.status != FloatQueryStatus.ASKED)
            .order_by(col(FloatBalanceQuery.answered_at).desc(), col(FloatBalanceQuery.id).desc())
            .limit(1)
        )
    ).first()
    if (
        query is None
        or query.status is not FloatQueryStatus.ANSWERED
        or query.available_cents is None
        or query.answered_at is None
    ):
        return None
    return KnownFloat(query.available_cents, query.answered_at)


FLOAT_ASK_AGAIN_AFTER = timedelta(minutes=1)
"""While a batch waits for approval and the float is not known, M-Pesa is asked at most this
often (each admin message wakes the payout waker, which asks :func:`float_wanted`)."""


async def float_wanted(
    session: AsyncSession, *, now: datetime, every: timedelta = FLOAT_ASK_AGAIN_AFTER
) -> bool:
    """Whether M-Pesa should be asked for the float now, outside a send run: a batch waits for
    approval, the float is not known (:func:`current_float`), and no query was asked in the last
    ``every``. (A query still awaited is not asked twice: the runner's ``ask_float`` waits for
    it, or, once its callback counts as lost, closes it and asks again.)"""
    waiting = await session.exec(
        select(PayoutBatch.id).where(PayoutBatch.status == PayoutBatchStatus.AWAITING_APPROVAL)
    )
    if waiting.first() is None or await current_float(session) is not None:
        return False
    last = (
        await session.exec(
            select(FloatBalanceQuery.asked_at)
            .order_by(col(FloatBalanceQuery.asked_at).desc())
            .limit(1)
        )
    ).first()
    return last is None or last <= now - every


async def queries_to_retry(session: AsyncSession, *, now: datetime, after: timedelta) -> list[int]:
    """Queries asked at least ``after`` ago and never answered (their callback lost): each is
    closed as failed, and the caller asks again with a new one."""
    rows = list(
        await session.exec(
            select(FloatBalanceQuery).where(
                FloatBalanceQuery.status == FloatQueryStatus.ASKED,
                col(FloatBalanceQuery.asked_at) <= now - after,
            )
        )
    )
    for query in rows:
        query.status = FloatQueryStatus.FAILED
        query.result_desc = "no answer from M-Pesa: asked again"
        query.answered_at = now
        session.add(query)
    return [query.id for query in rows if query.id is not None]


async def query_in_flight(session: AsyncSession) -> bool:
    """Whether a query is still waiting for its answer."""
    waiting = await session.exec(
        select(FloatBalanceQuery.id).where(FloatBalanceQuery.status == FloatQueryStatus.ASKED)
    )
    return waiting.first() is not None


def float_shortfall(known: KnownFloat | None, total_cents: int) -> int:
    """How many cents the last known float lacks to pay ``total_cents`` (0: enough, or not
    known)."""
    if known is None:
        return 0
    return max(0, total_cents - known.available_cents)
