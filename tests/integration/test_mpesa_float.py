"""The M-Pesa float, through the fake Daraja over loopback: each send run asks M-Pesa's Account
Balance first (answered by callback on our token-guarded routes); /payouts shows it against the
batch; approval, and sending, are refused while it is short; a lost balance callback is asked
again.
"""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import col, select

from bot.payments.daraja import parse_balance_result
from bot.payments.waker import PayoutWaker
from conversations.engine import Engine
from conversations.formatting import numeric_date_time
from conversations.i18n import t
from conversations.messages import Reply
from conversations.ports import AdminPolicy
from conversations.registry import REGISTRY
from domain.model import (
    Channel,
    FloatBalanceQuery,
    FloatQueryStatus,
    Language,
    OutboxKind,
    PayoutBatch,
    PayoutBatchStatus,
    PayoutStatus,
    Person,
)
from domain.payouts import (
    KnownFloat,
    begin_balance_query,
    create_payout_batch,
    current_float,
    known_float,
    record_balance,
)
from domain.store import Store
from tests.conftest import FakeClock
from tests.fakes.daraja_api import FakeDaraja
from tests.integration.conversation_driver import Chat, outbox
from tests.integration.mpesa_harness import (
    Harness,
    all_payouts,
    approved_batch,
    mpesa_harness,
    owed_artisans,
)
from tests.integration.payout_chat import approve_in_chat


async def run_to_rest(h: Harness[FakeDaraja]) -> None:
    await h.runner.run()
    await h.settle()


async def float_known(store: Store) -> KnownFloat | None:
    async with store.transaction() as session:
        return await known_float(session)


async def queries(store: Store) -> list[tuple[FloatQueryStatus, int | None]]:
    async with store.transaction() as session:
        rows = await session.exec(select(FloatBalanceQuery).order_by(col(FloatBalanceQuery.id)))
        return [(q.status, q.available_cents) for q in rows]


def test_the_float_is_the_utility_accounts_available_amount() -> None:
    body = {
        "Result": {
            "ResultType": 0,
            "ResultCode": 0,
            "ResultDesc": "The service request is processed successfully.",
            "OriginatorConversationID": "AG_1",
            "ConversationID": "AG_1",
            "TransactionID": "OA90000000",
            "ResultParameters": {
                "ResultParameter": [
                    {
                        "Key": "AccountBalance",
                        "Value": "Working Account|KES|700000.00|700000.00|0.00|0.00"
                        "&Float Account|KES|0.00|0.00|0.00|0.00"
                        "&Utility Account|KES|228037.00|228000.50|37.00|0.00"
                        "&Charges Paid Account|KES|-1540.00|-1540.00|0.00|0.00",
                    },
                    {"Key": "BOCompletedTime", "Value": 20200109125710},
                ]
            },
        }
    }
    result = parse_balance_result(body)
    assert (result.available_cents, result.result_code) == (22_800_050, 0)
    failed = parse_balance_result(
        {"Result": {"ResultCode": 2001, "ResultDesc": "The initiator information is invalid."}}
    )
    assert (failed.available_cents, failed.result_desc) == (
        None,
        "The initiator information is invalid.",
    )


async def test_a_short_float_is_shown_in_payouts_and_refuses_approval_until_topped_up(
    store: Store, clock: FakeClock
) -> None:
    await owed_artisans(store, clock.now(), [150_000, 90_000])
    async with store.transaction() as session:
        batch = await create_payout_batch(session, minimum_cents=100, now=clock.now())
    assert batch is not None
    admin = Chat(
        Engine(store, registry=REGISTRY, admin_policy=AdminPolicy()),
        clock,
        address="tg-a",
        channel=Channel.TELEGRAM,
    )
    daraja = FakeDaraja(float_cents=200_000)  # KES 2,000 against a KES 2,400 batch
    async with mpesa_harness(store, clock.now, daraja=daraja) as h:
        unknown = await admin.say("/payouts")
        await run_to_rest(h)  # the run asks for the float before sending (nothing approved)

        preview = await admin.say("/payouts")
        refused = await admin.say("/approve_payouts")

        assert t("en", "admin.float_unknown") in unknown
        assert (
            t(
                "en",
                "admin.float_short",
                available="KES 2,000",
                total="KES 2,400",
                short="KES 400",
            )
            in preview
        )
        assert refused == t(
            "en",
            "admin.approve_float_short",
            id=batch.id,
            total="KES 2,400",
            available="KES 2,000",
            short="KES 400",
        )
        async with store.transaction() as session:
            stored = await session.get(PayoutBatch, batch.id)
            assert stored is not None
            assert stored.status is PayoutBatchStatus.AWAITING_APPROVAL

        h.daraja.float_cents = 1_000_000  # topped up to KES 10,000
        await run_to_rest(h)
        approved = await approve_in_chat(admin)
        assert approved.startswith("Approved payout batch")
        await run_to_rest(h)
    assert [p.status for p in await all_payouts(store)] == [PayoutStatus.SUCCEEDED] * 2
    # Every balance answer came back on the token-guarded route.
    assert all("/balance/result?query=" in c.url for c in h.daraja.balance_callbacks)
    assert {c.answer["ResultDesc"] for c in h.daraja.balance_callbacks if c.answer} == {"settled"}


async def test_a_send_run_sends_nothing_while_the_known_float_is_short(
    store: Store, clock: FakeClock
) -> None:
    daraja = FakeDaraja(float_cents=100_000)
    async with mpesa_harness(store, clock.now, daraja=daraja) as h:
        await run_to_rest(h)  # learns the float: KES 1,000
        await approved_batch(store, clock.now(), [150_000])

        report = await h.runner.run()
        await h.settle()

    assert report.float_short_cents == 50_000
    assert h.daraja.b2c_requests == []
    assert [p.status for p in await all_payouts(store)] == [PayoutStatus.PENDING]


async def test_a_lost_balance_callback_is_asked_again_on_a_later_run(
    store: Store, clock: FakeClock
) -> None:
    daraja = FakeDaraja(float_cents=700_000, lose_balance_callbacks=1)
    async with mpesa_harness(store, clock.now, daraja=daraja) as h:
        await run_to_rest(h)
        assert await queries(store) == [(FloatQueryStatus.ASKED, None)]
        await run_to_rest(h)  # too soon: the first query may still be answered
        assert len(h.daraja.balance_requests) == 1

        clock.advance(minutes=11)
        await run_to_rest(h)

    assert await queries(store) == [
        (FloatQueryStatus.FAILED, None),
        (FloatQueryStatus.ANSWERED, 700_000),
    ]
    assert len(h.daraja.balance_requests) == 2
    known = await float_known(store)
    assert known is not None
    assert known.available_cents == 700_000


async def test_an_unknown_float_refuses_approval_asks_m_pesa_and_a_lost_answer_is_asked_again(
    store: Store, clock: FakeClock
) -> None:
    admin_id, _ = await owed_artisans(store, clock.now(), [150_000, 90_000])
    async with store.transaction() as session:
        batch = await create_payout_batch(session, minimum_cents=100, now=clock.now())
        admin = await session.get(Person, admin_id)
        assert admin is not None
        admin.language = Language.SW
        session.add(admin)
    assert batch is not None
    chat = Chat(
        Engine(store, registry=REGISTRY, admin_policy=AdminPolicy()),
        clock,
        address="tg-a",
        channel=Channel.TELEGRAM,
    )
    unknown = t("sw", "admin.approve_float_unknown", id=batch.id, total="KES 2,400")
    daraja = FakeDaraja(float_cents=1_000_000, lose_balance_callbacks=1)
    async with mpesa_harness(store, clock.now, daraja=daraja) as h:
        waker = PayoutWaker(store, h.runner, in_doubt_after=timedelta(minutes=10))
        assert await chat.say("/approve_payouts") == unknown  # no question: nothing to confirm
        await waker.send_waiting()  # what every handled message does: M-Pesa is asked
        await h.settle()
        assert len(h.daraja.balance_requests) == 1  # ...and its answer is lost

        assert await chat.say("/approve_payouts") == unknown
        clock.advance(minutes=2)
        await waker.send_waiting()  # asked again soon, but the first query may still come
        assert len(h.daraja.balance_requests) == 1

        clock.advance(minutes=9)
        await waker.send_waiting()  # unanswered for 11 minutes: lost, so asked again
        await h.settle()
        approved = await approve_in_chat(chat, answer="ndiyo")

    assert len(h.daraja.balance_requests) == 2
    assert await queries(store) == [
        (FloatQueryStatus.FAILED, None),
        (FloatQueryStatus.ANSWERED, 1_000_000),
    ]
    assert approved == t(
        "sw",
        "admin.approved",
        id=batch.id,
        by=t("sw", "admin.batch_scheduled"),
        count=2,
        total="KES 2,400",
    )
    assert h.daraja.b2c_requests == []  # approved; the send run is the waker's next wake


async def test_a_failed_balance_query_makes_the_float_unknown_again(
    store: Store, clock: FakeClock
) -> None:
    async with store.transaction() as session:
        first = await begin_balance_query(session, now=clock.now())
        await record_balance(session, query_id=first, available_cents=500_000, now=clock.now())
        assert await current_float(session) == KnownFloat(500_000, clock.now())
        clock.advance(minutes=5)
        second = await begin_balance_query(session, now=clock.now())
        await record_balance(
            session, query_id=second, available_cents=None, now=clock.now(), result_desc="2001"
        )
        assert await current_float(session) is None  # approval may not trust the old answer


async def test_the_float_arriving_after_a_refusal_tells_the_admin_once_with_an_approve_button(
    store: Store, clock: FakeClock
) -> None:
    admin_id, _ = await owed_artisans(store, clock.now(), [150_000, 90_000])
    async with store.transaction() as session:
        batch = await create_payout_batch(session, minimum_cents=100, now=clock.now())
        admin = await session.get(Person, admin_id)
        assert admin is not None
        admin.language = Language.SW
        session.add(admin)
    assert batch is not None
    chat = Chat(
        Engine(store, registry=REGISTRY, admin_policy=AdminPolicy()),
        clock,
        address="tg-a",
        channel=Channel.TELEGRAM,
    )
    async with mpesa_harness(store, clock.now, daraja=FakeDaraja(float_cents=1_000_000)) as h:
        waker = PayoutWaker(store, h.runner, in_doubt_after=timedelta(minutes=10))
        refused = await chat.say("/approve_payouts")
        assert refused == t("sw", "admin.approve_float_unknown", id=batch.id, total="KES 2,400")
        await waker.send_waiting()  # M-Pesa is asked; its answer comes by callback
        await h.settle()

        [told] = [Reply.from_json(m.body) for m in await outbox(store, kind=OutboxKind.BUSINESS)]
        async with store.read() as session:
            known = await known_float(session)
        assert known is not None
        assert told.text == "\n".join(
            [
                t(
                    "sw",
                    "polish.float_arrived",
                    available="KES 10,000",
                    when=numeric_date_time(known.as_of),
                    id=batch.id,
                    total="KES 2,400",
                ),
                t("sw", "polish.float_arrived_enough", id=batch.id),
            ]
        )
        assert [c.payload for c in told.choices] == [f"approve_payouts:{batch.id}"]

        # Its button asks to confirm, as /approve_payouts does; "ndiyo" approves.
        [asked] = await chat.send(payload=f"approve_payouts:{batch.id}")
        assert "payapprove:yes" in [c.payload for c in asked.choices]
        approved = await chat.say("ndiyo")
        assert approved == t(
            "sw",
            "admin.approved",
            id=batch.id,
            by=t("sw", "admin.batch_scheduled"),
            count=2,
            total="KES 2,400",
        )

        # A later balance answer, with the float already known, tells nobody again.
        await h.runner.ask_float()
        await h.settle()
    assert len(await outbox(store, kind=OutboxKind.BUSINESS)) == 1
