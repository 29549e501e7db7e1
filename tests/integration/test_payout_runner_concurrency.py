"""The payout runner sends several payouts at once, and still each exactly once.

Against a gateway fake that answers at once (no HTTP): what matters here is the claiming, not
Daraja; the full round trip with callbacks is in test_mpesa_payouts.py and the SIGKILL test.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from bot.payments.daraja import RequestAnswer, RequestOutcome
from bot.payments.runner import PayoutRunner
from domain.model import PayoutStatus
from domain.store import Store
from tests.conftest import FakeClock
from tests.integration.mpesa_harness import all_payouts, approved_batch


class CountingGateway:
    """Accepts every request after a short wait, counting requests and how many overlap."""

    def __init__(self, *, fail_on: int | None = None) -> None:
        self.requests: Counter[str] = Counter()
        self.queried: Counter[str] = Counter()
        self.in_flight = 0
        self.most_in_flight = 0
        self.fail_on = fail_on

    async def send_payment(
        self, *, originator_conversation_id: str, msisdn: str, amount_cents: int, occasion: str = ""
    ) -> RequestAnswer:
        self.requests[originator_conversation_id] += 1
        if self.fail_on is not None and sum(self.requests.values()) == self.fail_on:
            raise RuntimeError("the gateway broke")
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.01)
        finally:
            self.in_flight -= 1
        return RequestAnswer(RequestOutcome.ACCEPTED, conversation_id="AG_1", code="0")

    async def query_status(
        self, *, originator_conversation_id: str, transaction_id: str | None = None
    ) -> bool:
        self.queried[originator_conversation_id] += 1
        return True


async def batch_of(store: Store, clock: FakeClock, count: int) -> list[str]:
    await approved_batch(store, clock.now(), [10_000] * count, with_identities=False)
    return [p.originator_conversation_id for p in await all_payouts(store)]


def runner(store: Store, gateway: CountingGateway, clock: FakeClock, n: int) -> PayoutRunner:
    return PayoutRunner(store, gateway, clock=clock.now, max_in_flight=n)


async def test_a_batch_is_sent_a_few_at_a_time_each_payout_once(
    store: Store, clock: FakeClock
) -> None:
    waiting = await batch_of(store, clock, 20)
    gateway = CountingGateway()

    report = await runner(store, gateway, clock, 4).run()

    assert report.sent == waiting  # in payout order, whatever order the answers came in
    assert gateway.requests == Counter(dict.fromkeys(waiting, 1))
    assert gateway.most_in_flight == 4
    assert {p.status for p in await all_payouts(store)} == {PayoutStatus.SENDING}


async def test_two_runs_at_once_never_send_the_same_payout_twice(
    store: Store, clock: FakeClock
) -> None:
    waiting = await batch_of(store, clock, 24)
    gateway = CountingGateway()

    first, second = await asyncio.gather(
        runner(store, gateway, clock, 3).run(), runner(store, gateway, clock, 5).run()
    )

    assert not set(first.sent) & set(second.sent)
    assert sorted(first.sent + second.sent) == sorted(waiting)
    assert max(gateway.requests.values()) == 1


async def test_a_failure_stops_the_run_and_what_was_claimed_is_queried_not_resent(
    store: Store, clock: FakeClock
) -> None:
    waiting = await batch_of(store, clock, 30)
    broken = CountingGateway(fail_on=5)

    with pytest.raises(RuntimeError, match="the gateway broke"):
        await runner(store, broken, clock, 4).run()

    statuses = Counter(p.status for p in await all_payouts(store))
    assert statuses[PayoutStatus.PENDING] > 0  # the run stopped early
    in_doubt = {
        p.originator_conversation_id
        for p in await all_payouts(store)
        if p.status is PayoutStatus.SENDING
    }
    assert set(broken.requests) <= in_doubt  # everything requested is in doubt, none pending

    healthy = CountingGateway()
    await runner(store, healthy, clock, 4).run()

    assert set(healthy.queried) == in_doubt  # asked about, never sent blindly again
    assert not set(healthy.requests) & in_doubt
    assert set(healthy.requests) | in_doubt == set(waiting)


def test_at_least_one_payout_must_be_in_flight(store: Store, clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="at least one payout"):
        runner(store, CountingGateway(), clock, 0)


async def test_a_payout_already_claimed_elsewhere_is_not_sent_from_here(
    store: Store, clock: FakeClock
) -> None:
    waiting = await batch_of(store, clock, 3)
    gateway = CountingGateway()
    first = runner(store, gateway, clock, 2)
    assert await first.send(waiting[0]) is True
    assert await first.send(waiting[0]) is False
    assert gateway.requests == Counter({waiting[0]: 1})
