"""Sending approved payouts to M-Pesa exactly once, and settling them from what M-Pesa says.

The rule that makes it exactly once: a payout's ``OriginatorConversationID`` is stored with the
payout when the batch is made, the payout is marked *sending* and committed before the request
goes out, and no transaction is open while we wait for M-Pesa. So whatever dies when:

- before the commit of *sending*: the payout is still pending and is simply sent next time;
- after it: the payout is in doubt (sending or unknown). It is never sent again blindly: a
  transaction status query asks M-Pesa, whose answer (by callback) settles it, or, if M-Pesa has
  no such payment, lets the same request — same originator id, which M-Pesa deduplicates — go
  again.

Settling posts or voids the payout's pending ledger transfer (``domain.payouts``) and queues the
messages about it in the same transaction.

Concurrency: up to ``max_in_flight`` payouts are requested at once. Nothing above depends on
order: a payout is still claimed (pending -> sending, committed) before its request goes out —
a few per transaction — and a claim re-reads it locked, so two runs cannot both claim it; each
request carries its own originator id. What bounds the rate at M-Pesa is the Daraja client's
pacing (``DarajaConfig.requests_per_second``); this bound keeps a large batch from opening
thousands of connections and transactions at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol, runtime_checkable

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.group_commit import GroupCommit
from bot.payments.daraja import (
    BalanceResult,
    PaymentResult,
    PaymentState,
    RequestAnswer,
    RequestOutcome,
    StatusResult,
)
from domain import events, payouts
from domain.errors import DomainError, NotFound
from domain.model import PAYOUT_TRANSITIONS, Payout, PayoutStatus
from domain.phone import mask
from domain.store import Store

log = logging.getLogger(__name__)

DEFAULT_MAX_IN_FLIGHT = 8
"""Payment requests awaiting Daraja's answer at once. Each answer takes a round trip to
Safaricom, so one at a time pays at most one artisan per round trip however many transactions a
second the shortcode is granted; a few in flight keep that rate busy without a flood."""

Notifier = Callable[[AsyncSession, Sequence[events.Event], datetime], Awaitable[object]]
"""Turns the events of a settlement into outbox messages, inside its transaction."""


class PaymentGateway(Protocol):
    """What the runner needs from M-Pesa (``bot.payments.daraja.DarajaClient`` in production)."""

    async def send_payment(
        self, *, originator_conversation_id: str, msisdn: str, amount_cents: int, occasion: str = ""
    ) -> RequestAnswer: ...

    async def query_status(
        self, *, originator_conversation_id: str, transaction_id: str | None = None
    ) -> bool: ...


@runtime_checkable
class BalanceGateway(Protocol):
    """M-Pesa's Account Balance query (``DarajaClient``); a gateway without it sends unchecked."""

    async def query_balance(self, *, query_id: int) -> bool: ...


DEFAULT_BALANCE_RETRY_AFTER = timedelta(minutes=10)
"""A balance query unanswered this long lost its callback: it is asked again."""


class Applied(StrEnum):
    """What a callback or answer did to a payout."""

    SETTLED = "settled"  # the payout is now paid or failed
    UNCHANGED = "unchanged"  # it was already final, or the news changes nothing (a repeat)
    IN_DOUBT = "in_doubt"  # now waiting for a status query
    RESENT = "resent"  # M-Pesa never got it: the same request went again
    UNKNOWN_ID = "unknown_id"  # no payout has this originator id: ignored
    CONFLICT = "conflict"  # contradicts what we recorded: left alone for a person to check


@dataclass
class RunReport:
    sent: list[str] = field(default_factory=list)  # originator ids requested
    queried: list[str] = field(default_factory=list)  # originator ids asked about
    balance_query: int | None = None  # the float query asked before this run, if any
    float_short_cents: int = 0  # > 0: nothing was sent, the last known float lacks this much


async def no_notifications(_s: AsyncSession, _e: Sequence[events.Event], _n: datetime) -> None:
    return None


def _failure_code(answer: RequestAnswer) -> str:
    code = (answer.code or "").strip()
    return code if code.lstrip("-").isdigit() else "-1"


class PayoutRunner:
    """Drives payouts through M-Pesa; shared by the batch job and the callback routes."""

    def __init__(
        self,
        store: Store,
        gateway: PaymentGateway,
        *,
        clock: Callable[[], datetime],
        notify: Notifier = no_notifications,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        balance_retry_after: timedelta = DEFAULT_BALANCE_RETRY_AFTER,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError(f"at least one payout must be in flight, not {max_in_flight}")
        self.store = store
        self.gateway = gateway
        self.clock = clock
        self.notify = notify
        self.max_in_flight = max_in_flight
        self.balance_retry_after = balance_retry_after
        self._results = GroupCommit[_Waiting](self._settle_group)
        self._answers = GroupCommit[tuple[str, str]](self._keep_conversation_ids)

    # -- sending -------------------------------------------------------------------------------

    async def run(self, *, in_doubt_after: timedelta = timedelta(0)) -> RunReport:
        """Resolve payouts left in doubt (by a query, never a resend), then send every payout of
        an approved batch that has not gone yet. Safe to run again at any time."""
        report = RunReport()
        report.queried = await self.query_in_doubt(older_than=in_doubt_after)
        report.balance_query = await self.ask_float()
        async with self.store.read() as session:
            to_send = await payouts.payouts_to_send(session)
            waiting = [p.originator_conversation_id for p in to_send]
            total = sum(p.amount_cents for p in to_send)
            known = await payouts.known_float(session)
        short = payouts.float_shortfall(known, total)
        if short:
            # Sending part of it would pay some and fail the rest at M-Pesa; nothing goes
            # until the float is topped up (the next run asks again).
            log.warning(
                "%d approved payouts wait: the M-Pesa float is %s cents short", len(waiting), short
            )
            report.float_short_cents = short
            return report
        claimed: asyncio.Queue[Payout | None] = asyncio.Queue(maxsize=self.max_in_flight)
        sent: set[str] = set()
        failures: list[Exception] = []

        async def claim_all() -> None:
            # A claim of a few payouts at once is one transaction instead of one each; they are
            # requested right after it, so a crash in between leaves only those few in doubt.
            try:
                for start in range(0, len(waiting), self.max_in_flight):
                    if failures:
                        break
                    for payout in await self._claim(waiting[start : start + self.max_in_flight]):
                        await claimed.put(payout)
            except Exception as exc:
                failures.append(exc)
            for _ in range(self.max_in_flight):
                await claimed.put(None)  # no more: each worker stops at one of these

        async def request_claimed() -> None:
            # After a failure (the database gone, say) nothing more is requested, but requests
            # in flight finish and are recorded: cancelling one mid-transaction would help no one.
            # What was claimed and not requested is in doubt, and the next run queries it.
            while (payout := await claimed.get()) is not None:
                if failures:
                    continue
                try:
                    await self._request(payout)
                except Exception as exc:
                    failures.append(exc)
                else:
                    sent.add(payout.originator_conversation_id)

        await asyncio.gather(claim_all(), *(request_claimed() for _ in range(self.max_in_flight)))
        if failures:
            raise failures[0]
        report.sent = [originator_id for originator_id in waiting if originator_id in sent]
        return report

    async def ask_float(self) -> int | None:
        """Ask M-Pesa what the float holds (its answer comes by callback): the query's id, or
        None when the gateway cannot ask or a query is still awaited. A query unanswered for
        ``balance_retry_after`` lost its callback: it is closed and asked again."""
        if not isinstance(self.gateway, BalanceGateway):
            return None
        now = self.clock()
        async with self.store.transaction() as session:
            lost = await payouts.queries_to_retry(session, now=now, after=self.balance_retry_after)
            if await payouts.query_in_flight(session):
                return None
            query_id = await payouts.begin_balance_query(session, now=now)
        if lost:
            log.warning("balance queries %s got no answer; asked again as %s", lost, query_id)
        if not await self.gateway.query_balance(query_id=query_id):
            async with self.store.transaction() as session:
                await payouts.record_balance(
                    session,
                    query_id=query_id,
                    available_cents=None,
                    now=self.clock(),
                    result_desc="Daraja did not take the query",
                )
        return query_id

    async def apply_balance_result(self, query_id: int, result: BalanceResult) -> Applied:
        """An Account Balance answer (or, with no amount, its failure or queue timeout)."""
        try:
            async with self.store.transaction() as session:
                recorded = await payouts.record_balance(
                    session,
                    query_id=query_id,
                    available_cents=result.available_cents,
                    now=self.clock(),
                    result_desc=result.result_desc,
                )
                await self.notify(session, events.drain(session), self.clock())
        except NotFound:
            return Applied.UNKNOWN_ID
        if recorded and result.available_cents is not None:
            log.info("M-Pesa float: %s cents (query %s)", result.available_cents, query_id)
        return Applied.SETTLED if recorded else Applied.UNCHANGED

    async def send(self, originator_id: str) -> bool:
        """Send one payout that has not been sent; False if it was no longer waiting."""
        claimed = await self._claim([originator_id])
        if not claimed:
            return False
        await self._request(claimed[0])
        return True

    async def _claim(self, originator_ids: Sequence[str]) -> list[Payout]:
        """Mark those still pending as sending, committed before any of them is requested.

        One that is no longer pending was sent meanwhile (another run): it is in doubt, so it is
        queried, never resent from here.
        """
        async with self.store.transaction() as session:
            claimed = await payouts.claim_for_sending(session, originator_ids, now=self.clock())
        # Committed: from here on a crash leaves these payouts in doubt, to be queried.
        return claimed

    async def _each(self, items: Sequence[str], step: Callable[[str], Awaitable[None]]) -> None:
        """``step`` for every item, at most ``max_in_flight`` at once.

        The first failure (the database gone, say) stops new steps; the steps in flight finish,
        so no request is cut off between its answer and recording it, and the failure is raised.
        """
        queue = iter(items)
        failures: list[Exception] = []

        async def worker() -> None:
            for item in queue:  # one iterator shared by all workers: each item is taken once
                if failures:
                    return
                try:
                    await step(item)
                except Exception as exc:
                    failures.append(exc)
                    return

        await asyncio.gather(*(worker() for _ in range(self.max_in_flight)))
        if failures:
            raise failures[0]

    async def _request(self, payout: Payout) -> Applied:
        answer = await self.gateway.send_payment(
            originator_conversation_id=payout.originator_conversation_id,
            msisdn=payout.msisdn,
            amount_cents=payout.amount_cents,
            occasion=f"payout {payout.id}",
        )
        return await self.record_answer(payout.originator_conversation_id, answer)

    async def record_answer(self, originator_id: str, answer: RequestAnswer) -> Applied:
        """Record M-Pesa's immediate answer to a payment request.

        The result callback may have come first and settled the payout already; then only
        M-Pesa's ConversationID is kept.
        """
        now = self.clock()
        outcome = answer.outcome
        if outcome is RequestOutcome.ACCEPTED:
            # The usual answer, for every payout: the result callback settles it, so there is
            # nothing to read, only M-Pesa's ConversationID to keep (one UPDATE, shared with
            # the answers that arrive meanwhile).
            if answer.conversation_id:
                await self._answers.submit((originator_id, answer.conversation_id))
            return Applied.UNCHANGED
        async with self.store.transaction() as session:
            payout = await _locked(session, originator_id)
            if answer.conversation_id:
                await payouts.record_conversation_id(
                    session,
                    originator_conversation_id=originator_id,
                    conversation_id=answer.conversation_id,
                    now=now,
                )
            if PAYOUT_TRANSITIONS.is_final(payout.status):
                return Applied.UNCHANGED
            if outcome is RequestOutcome.REJECTED:
                await payouts.settle_failure(
                    session,
                    originator_conversation_id=originator_id,
                    result_code=_failure_code(answer),
                    result_desc=f"M-Pesa refused the request: {answer.code} {answer.description}",
                    now=now,
                )
                await self.notify(session, events.drain(session), now)
                log.warning("payout %s refused by M-Pesa: %s", payout.id, answer.description)
                return Applied.SETTLED
            await payouts.mark_unknown(session, originator_conversation_id=originator_id, now=now)
        if outcome is RequestOutcome.DUPLICATE:
            # M-Pesa already has this request: ask what became of it, never send it again.
            await self.gateway.query_status(originator_conversation_id=originator_id)
        return Applied.IN_DOUBT

    async def query_in_doubt(self, *, older_than: timedelta = timedelta(0)) -> list[str]:
        """Ask M-Pesa about every payout sent without a final answer for ``older_than``."""
        cutoff = self.clock() - older_than
        async with self.store.read() as session:
            doubtful = [
                (p.originator_conversation_id, p.mpesa_receipt)
                for p in await payouts.payouts_in_doubt(session)
                if p.updated_at <= cutoff
            ]
        receipts = dict(doubtful)
        asked: set[str] = set()

        async def ask(originator_id: str) -> None:
            if await self.gateway.query_status(
                originator_conversation_id=originator_id, transaction_id=receipts[originator_id]
            ):
                asked.add(originator_id)

        await self._each(list(receipts), ask)
        return [originator_id for originator_id, _ in doubtful if originator_id in asked]

    # -- settling from callbacks ------------------------------------------------------------------

    async def apply_payment_result(self, result: PaymentResult) -> Applied:
        """A B2C result callback: settle the payout from its originator id alone (it may come
        before the request's own answer). A repeat changes nothing.

        Returns once the settlement is committed, together with whatever other results
        arrived meanwhile (a group commit: one transaction for all of them), so the callback is
        answered only after its result is safe; if the process dies first, Daraja, getting no
        answer, sends the callback again.
        """
        waiting = _Waiting(_outcome(result), receiver=result.receiver_public_name)
        await self._results.submit(waiting)
        if waiting.error is not None:
            raise waiting.error
        settlement = waiting.settlement
        assert settlement is not None
        originator_id = result.originator_conversation_id
        if settlement.verdict is payouts.Verdict.UNKNOWN_ID:
            return Applied.UNKNOWN_ID
        if settlement.verdict is payouts.Verdict.CONFLICT:
            log.error("payout result for %s not applied: %s", originator_id, settlement.refused)
            return Applied.CONFLICT
        if settlement.verdict is payouts.Verdict.UNCHANGED:
            return Applied.UNCHANGED
        assert settlement.status is not None
        log.info(
            "payout %s to %s %s",
            settlement.payout_id,
            mask(settlement.msisdn),
            settlement.status.value,
        )
        return Applied.SETTLED

    async def _settle_group(self, group: Sequence[_Waiting]) -> None:
        """Settle the results that arrived together in one transaction, with their messages.

        What cannot apply (an unknown id, a contradiction) is a verdict, not an error, so it
        spoils nothing for the others. If the transaction fails all the same (the database, a
        message that cannot be queued), nothing of it was recorded, and each result is settled
        again alone: one bad result must not keep the good ones from being recorded.
        """
        now = self.clock()
        try:
            async with self.store.transaction() as session:
                settled = await payouts.settle_outcomes(
                    session, [waiting.outcome for waiting in group], now=now
                )
                await _check_payees(session, group, settled, now)
                await self.notify(session, events.drain(session), now)
        except Exception as exc:
            if len(group) == 1:
                _fail(group[0], exc)
                return
            log.warning(
                "%d payout results could not be settled together; settling each alone",
                len(group),
                exc_info=True,
            )
            for waiting in group:
                await self._settle_alone(waiting)
            return
        for waiting, settlement in zip(group, settled, strict=True):
            waiting.settlement = settlement

    async def _settle_alone(self, waiting: _Waiting) -> None:
        now = self.clock()
        try:
            async with self.store.transaction() as session:
                (waiting.settlement,) = await payouts.settle_outcomes(
                    session, [waiting.outcome], now=now
                )
                await _check_payees(session, [waiting], [waiting.settlement], now)
                await self.notify(session, events.drain(session), now)
        except Exception as exc:
            waiting.settlement = None
            _fail(waiting, exc)

    async def _keep_conversation_ids(self, answers: Sequence[tuple[str, str]]) -> None:
        async with self.store.transaction() as session:
            await payouts.record_conversation_ids(session, answers, now=self.clock())

    async def apply_queue_timeout(self, originator_id: str) -> Applied:
        """M-Pesa's queue timed out on a request: its fate is unknown until a status query."""
        now = self.clock()
        try:
            async with self.store.transaction() as session:
                payout = await _locked(session, originator_id)
                if payout.status is not PayoutStatus.SENDING:
                    return Applied.UNCHANGED  # already final (out of order) or already in doubt
                await payouts.mark_unknown(
                    session, originator_conversation_id=originator_id, now=now
                )
        except NotFound:
            return Applied.UNKNOWN_ID
        return Applied.IN_DOUBT

    async def apply_status_result(self, originator_id: str, status: StatusResult) -> Applied:
        """A transaction status query's answer: settle, or resend the very same request."""
        if status.state is PaymentState.PAID:
            assert status.receipt is not None
            return await self.apply_payment_result(
                PaymentResult(
                    originator_conversation_id=originator_id,
                    conversation_id=None,
                    result_code=0,
                    result_desc=status.result_desc,
                    transaction_id=status.receipt,
                    completed_at=None,
                )
            )
        if status.state is PaymentState.FAILED:
            return await self.apply_payment_result(
                PaymentResult(
                    originator_conversation_id=originator_id,
                    conversation_id=None,
                    result_code=status.result_code if status.result_code != 0 else -1,
                    result_desc=status.result_desc,
                    transaction_id=None,
                    completed_at=None,
                )
            )
        if status.state is PaymentState.PENDING:
            return Applied.UNCHANGED
        return await self.resend(originator_id)

    async def resend(self, originator_id: str) -> Applied:
        """M-Pesa has no payment with this id: send the same request again (same id, so if the
        first copy turns up after all, M-Pesa refuses one of them as a duplicate)."""
        now = self.clock()
        try:
            async with self.store.transaction() as session:
                payout = await _locked(session, originator_id)
                if payout.status not in (PayoutStatus.SENDING, PayoutStatus.UNKNOWN):
                    return Applied.UNCHANGED
                payout = await payouts.mark_sending(
                    session, originator_conversation_id=originator_id, now=now
                )
        except NotFound:
            return Applied.UNKNOWN_ID
        applied = await self._request(payout)
        return Applied.RESENT if applied is not Applied.SETTLED else applied


async def _locked(session: AsyncSession, originator_id: str) -> Payout:
    """The payout, locked for this transaction and re-read (callbacks and answers may race)."""
    payout = (
        await session.exec(
            select(Payout)
            .where(Payout.originator_conversation_id == originator_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).first()
    if payout is None:
        raise NotFound("payout with originator conversation id", originator_id)
    return payout


@dataclass(slots=True)
class _Waiting:
    """A payment result waiting for its group's commit, then what became of it."""

    outcome: payouts.PaymentOutcome
    receiver: str | None = None  # ReceiverPartyPublicName, for the payee name check
    settlement: payouts.Settlement | None = None
    error: Exception | None = None


async def _check_payees(
    session: AsyncSession,
    group: Sequence[_Waiting],
    settled: Sequence[payouts.Settlement],
    now: datetime,
) -> None:
    """The payee name check of every payout this group just paid, in its transaction: a
    receiver not named as the artisan holds their next payouts (``domain.payouts.payees``)."""
    await payouts.check_payees(
        session,
        [
            (settlement.payout_id, waiting.receiver)
            for waiting, settlement in zip(group, settled, strict=True)
            if settlement.verdict is payouts.Verdict.SETTLED
            and settlement.status is PayoutStatus.SUCCEEDED
            and settlement.payout_id is not None
            and waiting.receiver
        ],
        now=now,
    )


def _outcome(result: PaymentResult) -> payouts.PaymentOutcome:
    return payouts.PaymentOutcome(
        originator_conversation_id=result.originator_conversation_id,
        result_code=result.result_code,
        mpesa_receipt=result.transaction_id if result.succeeded else None,
        result_desc=result.result_desc or None,
        conversation_id=result.conversation_id,
    )


def _fail(waiting: _Waiting, exc: Exception) -> None:
    """What a result alone met: a rule of the domain is a refused result (answered, logged);
    anything else (the database) is the caller's error, so Daraja is not told it was recorded."""
    if isinstance(exc, DomainError):
        waiting.settlement = payouts.Settlement(payouts.Verdict.CONFLICT, refused=exc)
    else:
        waiting.error = exc
