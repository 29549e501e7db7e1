"""Cancelling an order is honest to the artisans holding work on it (issue 15).

Each artisan with an open offer, a lot or a submission on a cancelled job is told, in their own
language, what stops and what happens to their pieces; pieces that passed QC are still delivered
and paid (or written off as paid by an admin); made pieces are accepted for QC during the grace
(``CANCELLED_WORK_GRACE_DAYS``) and politely refused after it; the cancellation hurts nobody's
record; and the ledger balances throughout.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date

import pytest
from sqlmodel import col, select

from conversations.formatting import weekday_date
from conversations.i18n import t
from conversations.messages import MediaItem
from domain import ledger
from domain.errors import CancelledWorkClosed
from domain.model import (
    Allocation,
    AllocationStatus,
    Delivery,
    DeliveryStatus,
    Job,
    JobStatus,
    QcReason,
    Submission,
    SubmissionStatus,
    Transfer,
    WriteOff,
)
from domain.reputation import artisan_history
from domain.services import orders
from domain.services.settlement import NothingToWriteOff, write_off
from matching.history import training_rows
from tests.integration.factory_fixtures import Floor, texts

PENDANT = "Carved horn pendant"
BANGLE = "Brass bangle"
GRACE_END = date(2026, 3, 9)  # the clock's Monday 2 March + the default 7 days


def _say(language: str) -> functools.partial[str]:
    return functools.partial(t, language)


@dataclass(frozen=True)
class Cancelled:
    pendant_lot: int  # Wanjiru's (English): 6 pieces, 4 passed QC and not delivered, 2 unmade
    bangle_lot: int  # Otieno's (Kiswahili): 6 pieces, 2 waiting for QC, 4 unmade
    hook_offer: int  # Wanjiru's open offer of 5 brass hooks


async def _cancel_midway(floor: Floor) -> Cancelled:
    f = floor.factory
    pendant_lot = await floor.allocation("HORN-PENDANT", f.wanjiru, 6)
    await floor.review(await floor.submitted(pendant_lot, f.wanjiru, 4), 4)
    bangle_lot = await floor.allocation("BRASS-BANGLE", f.otieno, 6)
    await floor.submitted(bangle_lot, f.otieno, 2)
    hook_offer = await floor.offer("BRASS-HOOK", f.wanjiru, 5)
    await floor.admin.say(f"/cancel {floor.order.order_id} customer withdrew")
    said = await floor.admin.say("yes")  # after seeing what stops (flows/cancel_order.py)
    assert said == t("en", "admin.cancelled", id=floor.order.order_id, jobs=3, count=3)
    return Cancelled(pendant_lot, bangle_lot, hook_offer)


async def _lot(floor: Floor, allocation_id: int) -> Allocation:
    async with floor.store.transaction() as session:
        found = await session.get(Allocation, allocation_id)
        assert found is not None
        return found


# --- who is told what --------------------------------------------------------------------------


async def test_each_artisan_holding_work_is_told_in_their_language_what_stops_and_is_paid(
    floor: Floor,
) -> None:
    cancelled = await _cancel_midway(floor)

    en = _say("en")
    wanjiru = texts(await floor.told(floor.wanjiru))
    assert (
        "\n".join(
            [
                en(
                    "artisan.job_cancelled_notice",
                    job=floor.order.jobs["HORN-PENDANT"],
                    quantity=6,
                    component=PENDANT,
                ),
                en("artisan.job_cancelled_deliver", count=4),
                en(
                    "artisan.job_cancelled_grace",
                    count=2,
                    date=weekday_date(en, GRACE_END),
                    days=7,
                ),
                en("artisan.job_cancelled_record"),
            ]
        )
        in wanjiru
    )
    assert (
        en(
            "artisan.offer_cancelled_notice",
            id=cancelled.hook_offer,
            quantity=5,
            component="Brass hook",
        )
        in wanjiru
    )

    sw = _say("sw")
    otieno = texts(await floor.told(floor.otieno))
    assert otieno[-1] == "\n".join(
        [
            sw(
                "artisan.job_cancelled_notice",
                job=floor.order.jobs["BRASS-BANGLE"],
                quantity=6,
                component=BANGLE,
            ),
            sw("artisan.job_cancelled_in_review", count=2),
            sw("artisan.job_cancelled_grace", count=4, date=weekday_date(sw, GRACE_END), days=7),
            sw("artisan.job_cancelled_record"),
        ]
    )
    assert "Jumatatu 9 Machi" in otieno[-1]  # the date in Kiswahili too

    lot = await _lot(floor, cancelled.pendant_lot)
    assert lot.status is AllocationStatus.CANCELLED
    assert (lot.cancelled_at, lot.submit_by) == (floor.clock.now(), GRACE_END)


async def test_the_grace_follows_the_setting_given_to_the_cancellation(floor: Floor) -> None:
    await floor.allocation("HORN-PENDANT", floor.factory.wanjiru, 6)
    await floor.act(
        lambda s: orders.cancel_order(
            s, floor.order.order_id, reason="no", now=floor.clock.now(), grace_days=2
        )
    )
    en = _say("en")
    assert texts(await floor.told(floor.wanjiru))[-1] == "\n".join(
        [
            en(
                "artisan.job_cancelled_notice",
                job=floor.order.jobs["HORN-PENDANT"],
                quantity=6,
                component=PENDANT,
            ),
            en(
                "artisan.job_cancelled_grace",
                count=6,
                date=weekday_date(en, date(2026, 3, 4)),
                days=2,
            ),
            en("artisan.job_cancelled_record"),
        ]
    )


# --- passed pieces are paid ---------------------------------------------------------------------


async def test_passed_pieces_of_a_cancelled_job_are_still_delivered_received_and_paid(
    floor: Floor,
) -> None:
    cancelled = await _cancel_midway(floor)
    chat = floor.wanjiru
    await chat.send("hi")
    [how] = await chat.send("Arrange a delivery")
    assert how.text == t("en", "artisan.delivery_how")
    [how_many] = await chat.send("1")  # drop-off; the cancelled lot is the one with passed pieces
    assert how_many.text.startswith(t("en", "artisan.delivery_how_many", max=4))
    await chat.send("4")
    [booked] = await chat.send("1")
    async with floor.store.transaction() as session:
        [delivery] = (await session.exec(select(Delivery))).all()
    assert delivery.id is not None
    assert (delivery.allocation_id, delivery.declared_quantity) == (cancelled.pendant_lot, 4)
    assert booked.text == t(
        "en",
        "artisan.delivery_booked_drop_off",
        job=floor.order.jobs["HORN-PENDANT"],
        count=4,
        when="Monday 2 March 14:00",
    )

    agent = floor.agent
    await agent.send("menu")
    [pick] = await agent.send(payload="menu:receipt")
    assert [c.payload for c in pick.choices] == [f"rcpt:{delivery.id}"]
    await agent.send("1")
    said = await agent.say("4")
    assert "KES 600" in said  # 4 pieces at KES 150

    assert texts(await floor.told(chat))[-1] == t(
        "en",
        "artisan.delivery_received",
        job=floor.order.jobs["HORN-PENDANT"],
        received=4,
        component=PENDANT,
        earned="KES 600",
    )
    async with floor.store.transaction() as session:
        received = await session.get(Delivery, delivery.id)
        assert received is not None
        assert received.status is DeliveryStatus.RECEIVED
        job = await session.get(Job, floor.order.jobs["HORN-PENDANT"])
        assert job is not None
        assert job.status is JobStatus.CANCELLED  # paid for, but still cancelled
        assert (await ledger.artisan_balance(session, floor.factory.wanjiru)).earned_cents == 60_000
        assert (await ledger.trial_balance(session)).balanced


async def test_an_admin_writes_passed_pieces_off_as_paid_and_the_artisan_is_told(
    floor: Floor,
) -> None:
    cancelled = await _cancel_midway(floor)
    admin = floor.admin
    lot = cancelled.pendant_lot
    assert await admin.say("/writeoff") == t("en", "admin.writeoff_usage")
    assert await admin.say(f"/writeoff {lot}") == t("en", "admin.writeoff_usage")
    assert await admin.say("/writeoff 9999 kept") == t("en", "admin.writeoff_not_found", id=9999)
    said = await admin.say(f"/writeoff {lot} artisan kept them, customer gone")
    async with floor.store.transaction() as session:
        [entry] = (await session.exec(select(WriteOff))).all()
        [transfer] = (
            await session.exec(select(Transfer).where(Transfer.code == ledger.WRITE_OFF))
        ).all()
        balance = await ledger.artisan_balance(session, floor.factory.wanjiru)
        assert (await ledger.trial_balance(session)).balanced
    assert said == t(
        "en",
        "admin.written_off",
        id=lot,
        job=floor.order.jobs["HORN-PENDANT"],
        artisan="“Wanjiru”",
        pieces=4,
        amount="KES 600",
        write_off=entry.id,
    )
    assert (entry.pieces, entry.amount_cents, entry.written_off_by) == (
        4,
        60_000,
        floor.factory.admin,
    )
    assert entry.reason == "artisan kept them, customer gone"
    assert (transfer.amount_cents, transfer.reference) == (60_000, f"write_off:{entry.id}")
    assert balance.earned_cents == 60_000

    assert texts(await floor.told(floor.wanjiru))[-1] == t(
        "en",
        "artisan.written_off_notice",
        job=floor.order.jobs["HORN-PENDANT"],
        pieces=4,
        component=PENDANT,
        amount="KES 600",
        reason="“artisan kept them, customer gone”",
    )
    # Written off, so no longer deliverable, and never paid twice.
    await floor.wanjiru.send("hi")
    assert await floor.wanjiru.say("Arrange a delivery") == t("en", "artisan.nothing_to_deliver")
    assert await admin.say(f"/writeoff {lot} again") == t("en", "admin.writeoff_nothing", id=lot)


async def test_only_a_cancelled_jobs_pieces_are_written_off(floor: Floor) -> None:
    lot = await floor.passed_pieces("HORN-PENDANT", floor.factory.wanjiru, 3)
    assert await floor.admin.say(f"/writeoff {lot} why not") == t(
        "en", "admin.writeoff_not_cancelled", id=lot
    )
    assert await floor.wanjiru.say("/writeoff 1 mine") == t("en", "command.forbidden")


# --- the grace for made pieces ------------------------------------------------------------------


def _photo() -> MediaItem:
    return MediaItem("image/jpeg", 40_000, "media/wa/made-before.jpg")


async def test_made_pieces_are_taken_during_the_grace_and_politely_refused_after(
    floor: Floor,
) -> None:
    cancelled = await _cancel_midway(floor)
    chat = floor.otieno  # Kiswahili
    floor.clock.advance(days=6)
    await chat.send("hi")
    [ask] = await chat.send("3")  # submit work: the cancelled lot, still within its grace
    bangles = floor.order.jobs["BRASS-BANGLE"]  # the job's own number, as staff see it
    assert ask.text == t("sw", "artisan.photos_ask", id=bangles, component=BANGLE)
    await chat.send(media=(_photo(),))
    [count] = await chat.send("tayari")
    assert count.text == t("sw", "artisan.count_ask", max=4)
    await chat.send("3")
    [sent] = await chat.send("1")
    *_, submission = await _submissions_of(floor, cancelled.bangle_lot)
    assert sent.text == t("sw", "artisan.submitted", id=submission, count=3)

    floor.clock.advance(days=2)  # Tuesday 10/03: the grace ended on Monday 09/03
    await chat.send("hi")
    sw = _say("sw")
    assert await chat.say("3") == t(
        "sw",
        "artisan.cancelled_work_closed",
        job=floor.order.jobs["BRASS-BANGLE"],
        component=BANGLE,
        date=weekday_date(sw, GRACE_END),
    )


async def test_a_submission_begun_in_the_grace_and_sent_after_it_is_refused_politely(
    floor: Floor,
) -> None:
    await _cancel_midway(floor)
    chat = floor.wanjiru
    floor.clock.advance(days=7, hours=10)  # Monday 09/03 20:00 in Nairobi: the last day
    await chat.send("hi")
    await chat.send("Submit finished work")
    await chat.send(media=(_photo(),))
    await chat.send("done")
    await chat.send("2")
    floor.clock.advance(hours=4)  # past midnight in Nairobi: Tuesday
    en = _say("en")
    assert await chat.say("1") == t(
        "en",
        "artisan.cancelled_work_closed",
        job=floor.order.jobs["HORN-PENDANT"],
        component=PENDANT,
        date=weekday_date(en, GRACE_END),
    )


async def test_the_grace_rule_follows_the_factory_calendar(floor: Floor) -> None:
    lot = await floor.allocation("HORN-PENDANT", floor.factory.wanjiru, 6)
    await floor.act(
        lambda s: orders.cancel_order(
            s, floor.order.order_id, reason="no", now=floor.clock.now(), grace_days=2
        )
    )
    floor.clock.advance(days=2, hours=13)  # Wednesday 04/03 23:00 in Nairobi: still in
    await floor.submitted(lot, floor.factory.wanjiru, 2)
    floor.clock.advance(hours=1)  # Thursday 00:00 in Nairobi: over
    with pytest.raises(CancelledWorkClosed):
        await floor.submitted(lot, floor.factory.wanjiru, 1)


async def test_pieces_submitted_in_the_grace_are_reviewed_and_paid_once_delivered(
    floor: Floor,
) -> None:
    cancelled = await _cancel_midway(floor)
    f = floor.factory
    floor.clock.advance(days=3)
    submission = await floor.submitted(cancelled.bangle_lot, f.otieno, 4)
    await floor.review(submission, 3, 1, QcReason.BROKEN)
    pending = (await _submissions_of(floor, cancelled.bangle_lot))[0]
    await floor.review(pending, 2)
    delivery = await floor.drop_off(cancelled.bangle_lot, f.otieno, 5)
    await floor.receive(delivery, 5)
    async with floor.store.transaction() as session:
        rate = await session.get(Allocation, cancelled.bangle_lot)
        assert rate is not None
        balance = await ledger.artisan_balance(session, f.otieno)
        assert balance.earned_cents == 5 * rate.piece_rate_cents
        assert (await ledger.trial_balance(session)).balanced
    with pytest.raises(NothingToWriteOff):
        await floor.act(
            lambda s: write_off(
                s,
                allocation_id=cancelled.bangle_lot,
                admin_id=f.admin,
                reason="x",
                now=floor.clock.now(),
            )
        )


async def test_rework_on_a_cancelled_lot_is_asked_for_by_the_end_of_its_grace(
    floor: Floor,
) -> None:
    lot = await floor.allocation("HORN-PENDANT", floor.factory.wanjiru, 6)
    submission = await floor.submitted(lot, floor.factory.wanjiru, 3)
    await floor.act(
        lambda s: orders.cancel_order(
            s, floor.order.order_id, reason="no", now=floor.clock.now(), grace_days=2
        )
    )
    await floor.review(submission, 2, 1, QcReason.BROKEN)  # rework would be due in 5 days
    en = _say("en")
    assert texts(await floor.told(floor.wanjiru))[-1].startswith(
        t(
            "en",
            "artisan.qc_some_rejected",
            id=submission,
            passed=2,
            rejected=1,
            component=PENDANT,
            reasons=t("en", "artisan.qc_reason.broken"),
            due=weekday_date(en, date(2026, 3, 4)),  # the grace's last day, not Saturday 7 March
        )
    )


async def _submissions_of(floor: Floor, allocation_id: int) -> list[int]:
    async with floor.store.transaction() as session:
        rows = await session.exec(
            select(Submission.id)
            .where(
                Submission.allocation_id == allocation_id,
                Submission.status == SubmissionStatus.PENDING_REVIEW,
            )
            .order_by(col(Submission.id))
        )
        return [i for i in rows.all() if i is not None]


# --- nobody's record is hurt --------------------------------------------------------------------


async def test_a_cancelled_lot_is_neither_late_nor_abandoned_and_a_withdrawn_offer_no_decline(
    floor: Floor,
) -> None:
    f = floor.factory
    await _cancel_midway(floor)
    floor.clock.advance(days=60)  # long past every due date and the grace
    async with floor.store.transaction() as session:
        wanjiru = await artisan_history(session, f.wanjiru, now=floor.clock.now())
        otieno = await artisan_history(session, f.otieno, now=floor.clock.now())
        rows = await training_rows(session, now=floor.clock.now())
    for history in (wanjiru, otieno):
        assert (history.allocations_due, history.allocations_on_time) == (0, 0)
        assert (history.offers_declined, history.offers_expired) == (0, 0)
    assert (wanjiru.offers_made, wanjiru.offers_accepted) == (2, 1)
    assert wanjiru.qc_pieces_passed == 4  # the work done still counts for them
    # What matching learns from: no on-time label for a cancelled lot, no refusal for the
    # offer withdrawn with the order (both accepted offers are 1s).
    assert rows.size("on_time") == 0
    assert rows.y["accept"].tolist() == [1, 1]
