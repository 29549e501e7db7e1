"""A batch sent through the runner to the fake Daraja, settled by its callbacks on our routes.

Every callback ordering Daraja can produce: before the request's answer, after it, late, twice,
out of order, never (then a status query decides), and for ids we never made.
"""

from __future__ import annotations

import json

import httpx
import pytest
from sqlmodel import col, select

from bot.payments.runner import Applied
from domain import ledger
from domain.model import OutboxMessage, PayoutBatch, PayoutBatchStatus, PayoutStatus
from domain.store import Store
from tests.conftest import FakeClock
from tests.fakes.daraja_api import Answer, Callback, FakeDaraja, Plan
from tests.fakes.daraja_process import DarajaProcess, Paid
from tests.integration.mpesa_harness import (
    CALLBACK_TOKEN,
    Harness,
    all_payouts,
    approved_batch,
    harness_with,
    mpesa_harness,
)


async def balances_hold(store: Store, artisans: list[int]) -> None:
    async with store.read() as session:
        assert (await ledger.trial_balance(session)).balanced
        for artisan in artisans:
            b = await ledger.artisan_balance(session, artisan)
            assert b.paid_cents + b.in_flight_cents + b.available_cents == b.earned_cents


async def outbox_texts(store: Store) -> list[str]:
    async with store.read() as session:
        rows = (await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all()
        return [json.loads(r.body)["text"] for r in rows]


async def run_to_rest(h: Harness[FakeDaraja]) -> None:
    await h.runner.run()
    await h.settle()


@pytest.mark.parametrize(
    "callback",
    [Callback.BEFORE, Callback.AFTER, Callback.LATE, Callback.TWICE, Callback.RESULT_THEN_TIMEOUT],
)
async def test_every_payout_is_paid_once_whenever_its_result_arrives(
    store: Store, clock: FakeClock, callback: Callback
) -> None:
    batch_id, artisans = await approved_batch(store, clock.now(), [150_000, 90_000])
    async with mpesa_harness(store, clock.now) as h:
        h.daraja.default = Plan(callback=callback)
        await run_to_rest(h)
    paid = await all_payouts(store)
    assert [p.status for p in paid] == [PayoutStatus.SUCCEEDED] * 2
    assert [p.mpesa_receipt for p in paid] == [
        h.daraja.paid[p.originator_conversation_id].receipt for p in paid
    ]
    assert all(p.conversation_id for p in paid)
    assert set(h.daraja.accepted.values()) == {1}
    await balances_hold(store, artisans)
    async with store.read() as session:
        assert (await session.get(PayoutBatch, batch_id)).status is PayoutBatchStatus.COMPLETED  # type: ignore[union-attr]
        assert (await ledger.artisan_balance(session, artisans[0])).paid_cents == 150_000


async def test_artisans_get_a_receipt_and_admins_a_summary(store: Store, clock: FakeClock) -> None:
    await approved_batch(store, clock.now(), [150_000])
    async with mpesa_harness(store, clock.now) as h:
        await run_to_rest(h)
    (payout,) = await all_payouts(store)
    texts = await outbox_texts(store)
    receipt = next(t for t in texts if "M-Pesa transaction" in t)
    assert "KSh 1,500" in receipt
    assert payout.mpesa_receipt is not None
    assert payout.mpesa_receipt in receipt
    assert "02/03/2026" in receipt
    summary = next(t for t in texts if "is complete" in t)
    assert "1 paid (KSh 1,500), 0 failed" in summary
    assert "no revenue share" in summary  # these earnings came from no delivered order


async def test_a_failed_payout_returns_the_money_and_says_why(
    store: Store, clock: FakeClock
) -> None:
    _, artisans = await approved_batch(store, clock.now(), [150_000])
    async with mpesa_harness(store, clock.now) as h:
        h.daraja.plan(Plan(result_code=2040))
        await run_to_rest(h)
    (payout,) = await all_payouts(store)
    assert payout.status is PayoutStatus.FAILED
    assert h.daraja.paid == {}
    async with store.read() as session:
        balance = await ledger.artisan_balance(session, artisans[0])
    assert (balance.available_cents, balance.in_flight_cents) == (150_000, 0)
    texts = await outbox_texts(store)
    assert any("not a registered M-Pesa customer" in t for t in texts)
    assert any("still yours" in t for t in texts)
    await balances_hold(store, artisans)


async def test_a_payment_whose_result_never_comes_is_settled_by_a_status_query(
    store: Store, clock: FakeClock
) -> None:
    _, artisans = await approved_batch(store, clock.now(), [150_000])
    async with mpesa_harness(store, clock.now) as h:
        h.daraja.plan(Plan(callback=Callback.NEVER))
        await run_to_rest(h)
        assert [p.status for p in await all_payouts(store)] == [PayoutStatus.SENDING]
        report = await h.runner.run()
        await h.settle()
    assert len(report.queried) == 1
    assert report.sent == []
    assert [p.status for p in await all_payouts(store)] == [PayoutStatus.SUCCEEDED]
    assert len(h.daraja.b2c_requests) == 1
    await balances_hold(store, artisans)


@pytest.mark.parametrize("answer", [Answer.HANG, Answer.SERVER_ERROR_AFTER])
async def test_a_lost_answer_leaves_the_payout_in_doubt_never_resent(
    store: Store, clock: FakeClock, answer: Answer
) -> None:
    _, artisans = await approved_batch(store, clock.now(), [150_000])
    async with mpesa_harness(store, clock.now, request_timeout=0.3, hang=0.6) as h:
        h.daraja.plan(Plan(answer=answer, callback=Callback.NEVER))
        await run_to_rest(h)
        assert [p.status for p in await all_payouts(store)] == [PayoutStatus.UNKNOWN]
        await run_to_rest(h)  # the next run asks; M-Pesa says it paid
    assert [p.status for p in await all_payouts(store)] == [PayoutStatus.SUCCEEDED]
    assert len(h.daraja.b2c_requests) == 1
    await balances_hold(store, artisans)


async def test_a_request_m_pesa_never_got_is_sent_again_with_the_same_id(
    store: Store, clock: FakeClock
) -> None:
    _, artisans = await approved_batch(store, clock.now(), [150_000])
    async with mpesa_harness(store, clock.now) as h:
        h.daraja.plan(Plan(answer=Answer.LOST))
        await run_to_rest(h)
        # The query's "not found" is acknowledged before the resend goes; settled all the same.
        await run_to_rest(h)
        (payout,) = await all_payouts(store)
        assert payout.status is PayoutStatus.SUCCEEDED
    ids = [r["OriginatorConversationID"] for r in h.daraja.b2c_requests]
    assert ids == [payout.originator_conversation_id] * 2
    assert h.daraja.accepted == {payout.originator_conversation_id: 1}
    await balances_hold(store, artisans)


async def test_a_queue_timeout_then_the_result_settles_once(store: Store, clock: FakeClock) -> None:
    _, artisans = await approved_batch(store, clock.now(), [150_000])
    async with mpesa_harness(store, clock.now) as h:
        h.daraja.plan(Plan(callback=Callback.TIMEOUT_THEN_RESULT))
        await run_to_rest(h)
    assert [p.status for p in await all_payouts(store)] == [PayoutStatus.SUCCEEDED]
    answers = [c.answer for c in h.daraja.callbacks]
    assert answers == [
        {"ResultCode": 0, "ResultDesc": "in_doubt"},
        {"ResultCode": 0, "ResultDesc": "settled"},
    ]
    await balances_hold(store, artisans)


async def test_a_second_callback_changes_nothing_and_says_so(
    store: Store, clock: FakeClock
) -> None:
    await approved_batch(store, clock.now(), [150_000])
    async with mpesa_harness(store, clock.now) as h:
        h.daraja.plan(Plan(callback=Callback.TWICE))
        await run_to_rest(h)
        messages_after_first = len(await outbox_texts(store))
    assert [c.answer["ResultDesc"] for c in h.daraja.callbacks if c.answer] == [
        "settled",
        "unchanged",
    ]
    assert len(await outbox_texts(store)) == messages_after_first


async def test_a_callback_for_an_id_we_never_made_is_acknowledged_and_ignored(
    store: Store, clock: FakeClock
) -> None:
    await approved_batch(store, clock.now(), [150_000])
    async with mpesa_harness(store, clock.now) as h:
        body = {
            "Result": {
                "ResultType": 0,
                "ResultCode": 0,
                "ResultDesc": "ok",
                "OriginatorConversationID": "forged-id",
                "ConversationID": "AG_x",
                "TransactionID": "FAKE123",
            }
        }
        async with httpx.AsyncClient(
            base_url=f"{h.callbacks_url}/mpesa/{CALLBACK_TOKEN}"
        ) as client:
            result = await client.post("b2c/result", json=body)
            timeout = await client.post("b2c/timeout", json=body)
            garbage = await client.post("b2c/result", content=b"not json")
    assert [r.status_code for r in (result, timeout, garbage)] == [200, 200, 200]
    assert "unknown OriginatorConversationID" in result.json()["ResultDesc"]
    assert "unknown OriginatorConversationID" in timeout.json()["ResultDesc"]
    assert garbage.json()["ResultDesc"].startswith("ignored")
    assert [p.status for p in await all_payouts(store)] == [PayoutStatus.PENDING]


async def test_a_callback_without_the_secret_path_token_is_not_found_and_changes_nothing(
    store: Store, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    await approved_batch(store, clock.now(), [150_000])
    (payout,) = await all_payouts(store)
    body = {
        "Result": {
            "ResultType": 0,
            "ResultCode": 0,
            "ResultDesc": "ok",
            "OriginatorConversationID": payout.originator_conversation_id,
            "ConversationID": "AG_x",
            "TransactionID": "FORGED1",
        }
    }
    near_miss = CALLBACK_TOKEN[:-1] + "X"
    async with (
        mpesa_harness(store, clock.now) as h,
        httpx.AsyncClient(base_url=h.callbacks_url) as client,
    ):
        refused = [
            await client.post(path, json=body)
            for path in (
                "/mpesa/b2c/result",
                f"/mpesa/{near_miss}/b2c/result",
                f"/mpesa/{near_miss}/status/result?originator=x",
                "/mpesa/b2c/timeout",
            )
        ]
    assert [r.status_code for r in refused] == [404, 404, 404, 404]
    assert [p.status for p in await all_payouts(store)] == [PayoutStatus.PENDING]
    lines = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(lines) == 4
    assert not any(near_miss in line or CALLBACK_TOKEN in line for line in lines)


async def test_a_success_contradicting_a_recorded_failure_moves_no_money(
    store: Store, clock: FakeClock
) -> None:
    _, artisans = await approved_batch(store, clock.now(), [150_000])
    async with mpesa_harness(store, clock.now) as h:
        h.daraja.plan(Plan(result_code=1))
        await run_to_rest(h)
        (payout,) = await all_payouts(store)
        from bot.payments.daraja import PaymentResult

        applied = await h.runner.apply_payment_result(
            PaymentResult(payout.originator_conversation_id, None, 0, "ok", "LATE1", None)
        )
    assert applied is Applied.CONFLICT
    assert [p.status for p in await all_payouts(store)] == [PayoutStatus.FAILED]
    await balances_hold(store, artisans)


async def test_a_batch_against_the_fake_daraja_in_its_own_process_is_paid_once(
    store: Store, clock: FakeClock
) -> None:
    # The benchmark's set-up: Safaricom's side in another process, callbacks over loopback.
    _, artisans = await approved_batch(store, clock.now(), [150_000, 90_000, 40_000])
    async with harness_with(store, clock.now, DarajaProcess(latency=0.05), max_in_flight=3) as h:
        report = await h.runner.run()
        await h.settle()
        truth = await h.daraja.truth()
    paid = await all_payouts(store)
    assert len(report.sent) == 3
    assert [p.status for p in paid] == [PayoutStatus.SUCCEEDED] * 3
    assert truth.accepted == {p.originator_conversation_id: 1 for p in paid}
    assert [truth.paid[p.originator_conversation_id] for p in paid] == [
        Paid(p.mpesa_receipt or "", p.amount_cents // 100) for p in paid
    ]
    assert 1 <= truth.most_in_flight <= 3  # never more than the runner keeps out
    await balances_hold(store, artisans)
