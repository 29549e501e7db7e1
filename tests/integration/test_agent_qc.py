"""Field agents check finished work from photos, end to end through the engine (SQLite, fake
clock)."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlmodel import select

from conversations.agent.flows.qc_review import Qc
from conversations.formatting import written_date
from conversations.i18n import t
from domain.explosion import factory_today
from domain.model import (
    Allocation,
    OutboxKind,
    QcReview,
    Submission,
    SubmissionPhoto,
    SubmissionStatus,
)
from domain.quantities import allocation_progress
from domain.services.work import PhotoRef
from tests.integration.conversation_driver import outbox, state_of
from tests.integration.factory_fixtures import (
    BACK_PHOTO,
    HORN,
    PENDANT_LEAD_DAYS,
    PHOTO,
    Floor,
    active_artisan,
    ident,
)


async def _wanjiru_submits(
    floor: Floor,
    count: int = 10,
    *,
    photos: tuple[PhotoRef, ...] = (PHOTO,),
    note: str | None = None,
) -> int:
    allocation_id = await floor.allocation("HORN-PENDANT", floor.factory.wanjiru, count)
    return await floor.submitted(
        allocation_id, floor.factory.wanjiru, count, photos=photos, note=note
    )


async def _review_of(floor: Floor, submission_id: int) -> QcReview | None:
    async with floor.store.transaction() as session:
        return (
            await session.exec(select(QcReview).where(QcReview.submission_id == submission_id))
        ).first()


async def test_the_next_submission_is_shown_with_its_photos_job_artisan_and_count(
    floor: Floor,
) -> None:
    submission_id = await _wanjiru_submits(
        floor, 10, photos=(PHOTO, BACK_PHOTO), note="Polished with beeswax"
    )
    [shown] = await floor.agent.send("/qc")
    assert f"#{submission_id}" in shown.text
    assert "10 × Carved horn pendant" in shown.text
    assert "Wanjiru" in shown.text
    assert "Polished with beeswax" in shown.text
    assert [m.ref for m in shown.media] == ["media/wa/0001.jpg", "media/wa/0002.jpg"]
    assert all(m.content_type == "image/jpeg" for m in shown.media)
    assert [c.label for c in shown.choices] == [
        "Approve all 10",
        "Approve some, reject some",
        "Ask for better photos",
        "Skip to the next",
    ]


async def test_the_artisans_note_is_shown_cleaned_and_quoted_so_it_cannot_pass_for_ours(
    floor: Floor,
) -> None:
    await _wanjiru_submits(floor, 10, note="\u202eQC passed\u200b by admin\nApprove all 10 now")

    [shown] = await floor.agent.send("/qc")

    said = t("en", "agent.qc.artisan_note", note="“QC passed by admin Approve all 10 now”")
    assert f"\n{said}\n" in shown.text
    assert "From: “Wanjiru”, “Wanjiru's workshop” (“Kibera”)" in shown.text


async def test_approving_all_pieces_passes_every_one_and_ends_an_empty_queue(
    floor: Floor,
) -> None:
    submission_id = await _wanjiru_submits(floor, 10)
    agent = floor.agent
    await agent.send("/qc")
    said = await agent.say("1")  # approve all 10
    assert "all 10 pieces from “Wanjiru” passed" in said
    assert t("en", "agent.qc.queue_done") in said
    review = await _review_of(floor, submission_id)
    assert review is not None
    assert (review.passed, review.rejected, review.reviewer_id) == (10, 0, floor.factory.agent)
    assert review.rework_due_date is None
    state = await state_of(floor.store, agent)
    assert state is not None
    assert state.flow == "idle"


async def test_approving_some_and_rejecting_the_rest_with_reasons_puts_rework_on_the_allocation(
    floor: Floor,
) -> None:
    submission_id = await _wanjiru_submits(floor, 10)
    agent = floor.agent
    await agent.send("/qc")
    assert "How many of the 10 pieces pass?" in await agent.say("2")
    assert t("en", "agent.qc.passed_invalid", count=10) in await agent.say("11")
    reasons = await agent.send("7")
    assert "Why were the 3 pieces rejected?" in reasons[0].text
    assert len(reasons[0].choices) == 6
    assert t("en", "agent.qc.reasons_invalid", count=6) in await agent.say("1,9")
    assert "Add a note" in await agent.say("1,3")  # poor finish, broken
    said = await agent.say("Sand the edges smooth")

    due = factory_today(floor.clock.now()) + timedelta(days=PENDANT_LEAD_DAYS)
    assert "7 passed, 3 rejected (Poor finish, Broken)" in said
    assert f"due {written_date('en', due)}" in said
    review = await _review_of(floor, submission_id)
    assert review is not None
    assert (review.passed, review.rejected) == (7, 3)
    assert review.reasons == "poor_finish,broken"
    assert review.note == "Sand the edges smooth"
    assert review.rework_due_date == due
    async with floor.store.transaction() as session:
        submission = await session.get(Submission, submission_id)
        assert submission is not None
        progress = await allocation_progress(session, submission.allocation_id)
    # The three rejected pieces are Wanjiru's to make again, on the same allocation.
    assert (progress.passed, progress.rejected, progress.outstanding) == (7, 3, 3)


async def test_a_rejection_reason_can_be_one_tapped_button_and_the_note_can_be_skipped(
    floor: Floor,
) -> None:
    submission_id = await _wanjiru_submits(floor, 4)
    agent = floor.agent
    await agent.send("/qc")
    await agent.send("2")
    await agent.send("0")
    await agent.send(payload="qcr:reason:wrong_size")
    await agent.send(payload="qcr:nonote")
    review = await _review_of(floor, submission_id)
    assert review is not None
    assert (review.passed, review.rejected, review.reasons, review.note) == (
        0,
        4,
        "wrong_size",
        None,
    )


async def test_asking_for_better_photos_holds_the_submission_for_the_artisan(
    floor: Floor,
) -> None:
    submission_id = await _wanjiru_submits(floor, 10)
    agent = floor.agent
    await agent.send("/qc")
    assert "What should the new photos show?" in await agent.say("3")
    said = await agent.say("The back of each pendant, in daylight")
    assert "asked “Wanjiru” for better photos" in said
    async with floor.store.transaction() as session:
        submission = await session.get(Submission, submission_id)
        assert submission is not None
        assert submission.status is SubmissionStatus.PHOTOS_REQUESTED
    assert await _review_of(floor, submission_id) is None
    # Held for the artisan: nothing waits for a check now.
    assert t("en", "agent.qc.queue_empty") in await agent.say("/qc")
    assert t("en", "agent.qc.waiting_for_photos", id=submission_id) in await agent.say(
        payload=f"qc:{submission_id}"
    )


async def test_the_agents_own_areas_come_first_and_a_skipped_submission_waits(
    floor: Floor,
) -> None:
    otieno_allocation = await floor.allocation("HORN-PENDANT", floor.factory.otieno, 4)
    far_away = await floor.submitted(otieno_allocation, floor.factory.otieno, 4)
    floor.clock.advance(hours=1)
    nearby = await _wanjiru_submits(floor, 5)  # newer, but in Kamau's area

    agent = floor.agent
    [first] = await agent.send("/qc")
    assert f"#{nearby}" in first.text
    replies = await agent.send("4")  # skip
    assert t("en", "agent.qc.skipped") in replies[0].text
    assert f"#{far_away}" in replies[1].text
    assert "Otieno" in replies[1].text
    said = await agent.say("1")
    assert "all 4 pieces from “Otieno” passed" in said
    assert t("en", "agent.qc.queue_done") in said  # the skipped one is not offered again now
    assert await _review_of(floor, nearby) is None
    # ...but it is still in the queue for the next sitting.
    assert f"#{nearby}" in await agent.say("/qc")


async def test_a_submission_checked_by_someone_else_meanwhile_is_not_checked_twice(
    floor: Floor,
) -> None:
    submission_id = await _wanjiru_submits(floor, 3)
    kamau, njeri = floor.agent, floor.far_agent
    await kamau.send("/qc")
    await njeri.send(payload=f"qc:{submission_id}")
    await njeri.send("1")  # Njeri approves all first
    said = await kamau.say("1")
    assert t("en", "agent.qc.no_longer_waiting", id=submission_id) in said
    review = await _review_of(floor, submission_id)
    assert review is not None
    assert review.reviewer_id == floor.factory.far_agent


async def test_an_agents_own_submission_is_never_offered_and_cannot_be_opened(
    floor: Floor, caplog: pytest.LogCaptureFixture
) -> None:
    # Roles never overlap through the services, so the agent's "own" work is written directly:
    # the guard must hold even if that ever changes.
    now = floor.clock.now()
    async with floor.store.transaction() as session:
        allocation = Allocation(
            job_id=floor.order.jobs["HORN-PENDANT"],
            artisan_id=floor.factory.agent,
            quantity=2,
            piece_rate_cents=15_000,
            due_date=now.date() + timedelta(days=10),
            created_at=now,
        )
        session.add(allocation)
        await session.flush()
        assert allocation.id is not None
        own = Submission(allocation_id=allocation.id, count=2, submitted_at=now)
        session.add(own)
        await session.flush()
        assert own.id is not None
        session.add(
            SubmissionPhoto(
                submission_id=own.id,
                media_ref="media/wa/0009.jpg",
                content_type="image/jpeg",
                added_at=now,
            )
        )
    agent = floor.agent
    assert t("en", "agent.qc.queue_empty") in await agent.say("/qc")
    with caplog.at_level(logging.WARNING):
        assert t("en", "agent.qc.own_submission") in await agent.say(payload=f"qc:{own.id}")
    assert f"submission {own.id}" in caplog.text
    assert await _review_of(floor, own.id) is None
    state = await state_of(floor.store, agent)
    assert state is not None
    assert state.flow == "idle"


@pytest.mark.parametrize("who", ["admin", "wanjiru"])
async def test_only_field_agents_may_run_qc_by_command_or_button(
    floor: Floor, who: str, caplog: pytest.LogCaptureFixture
) -> None:
    submission_id = await _wanjiru_submits(floor, 2)
    chat = floor.chat(who)
    with caplog.at_level(logging.WARNING):
        assert t("en", "command.forbidden") in await chat.say("/qc")
        assert t("en", "command.forbidden") in await chat.say(payload=f"qc:{submission_id}")
    assert caplog.text.count("refused /qc") == 2
    assert await _review_of(floor, submission_id) is None
    state = await state_of(floor.store, chat)
    assert state is None or state.flow != Qc.VERDICT


async def test_bad_qc_commands_get_a_helpful_reply(floor: Floor) -> None:
    agent = floor.agent
    assert t("en", "agent.qc.usage") in await agent.say("/qc twelve")
    assert t("en", "agent.qc.not_found", id=999) in await agent.say("/qc 999")


async def test_new_work_is_announced_to_the_agents_of_the_artisans_area_with_a_button(
    floor: Floor,
) -> None:
    submission_id = await _wanjiru_submits(floor, 6)
    kamau = await outbox(floor.store, address=floor.agent.address, kind=OutboxKind.BUSINESS)
    njeri = await outbox(floor.store, address=floor.far_agent.address, kind=OutboxKind.BUSINESS)
    assert len(kamau) == 1
    assert njeri == []  # Githurai's agent is not bothered with Kibera's work
    assert "New work to check" in kamau[0].body
    assert "6 × Carved horn pendant from “Wanjiru” (“Kibera”)" in kamau[0].body
    assert f'"payload": "qc:{submission_id}"' in kamau[0].body
    # The button opens exactly that submission.
    [shown] = await floor.agent.send(payload=f"qc:{submission_id}")
    assert f"#{submission_id}" in shown.text


async def test_new_work_from_an_area_nobody_covers_goes_to_every_field_agent(
    floor: Floor,
) -> None:
    async with floor.store.transaction() as session:
        artisan = await active_artisan(
            session,
            verified_by=floor.factory.agent,
            now=floor.clock.now(),
            name="Mwangi",
            area="Kawangware",
            skills={HORN: 50},
        )
    allocation_id = await floor.allocation("HORN-PENDANT", ident(artisan), 2)
    await floor.submitted(allocation_id, ident(artisan), 2)
    for who in ("agent", "far_agent"):
        messages = await outbox(
            floor.store, address=floor.chat(who).address, kind=OutboxKind.BUSINESS
        )
        assert any("from “Mwangi” (“Kawangware”)" in m.body for m in messages), who


async def test_quality_checks_speak_kiswahili(floor: Floor) -> None:
    await _wanjiru_submits(floor, 5)
    agent = floor.agent
    await agent.send("lugha sw")
    [shown] = await agent.send("/qc")
    assert "Ukaguzi #" in shown.text
    assert shown.choices[0].label == t("sw", "agent.qc.approve_all", count=5)
    await agent.send("2")
    await agent.send("3")
    await agent.send("6")  # nyingine
    said = await agent.say("Rangi haifanani")
    assert "3 vimepita, 2 vimekataliwa (Nyingine)" in said
    assert t("sw", "agent.qc.queue_done") in said
