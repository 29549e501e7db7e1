"""Artisans submit finished work, hear QC results and send better photos, through the engine."""

from __future__ import annotations

from sqlmodel import col, select

from conversations.i18n import t
from conversations.messages import MediaItem
from domain.model import QcReason, Submission, SubmissionPhoto, SubmissionStatus
from domain.services.work import request_better_photos
from tests.integration.conversation_driver import VOICE, state_of
from tests.integration.factory_fixtures import PHOTO, Floor, payloads, texts

PDF = MediaItem("application/pdf", 120_000, "invoice.pdf")


def photo(n: int) -> MediaItem:
    return MediaItem("image/jpeg", 50_000 + n, f"media/wa/album-{n}.jpg")


async def _submissions(floor: Floor) -> list[tuple[Submission, list[str]]]:
    async with floor.store.transaction() as session:
        rows = (await session.exec(select(Submission).order_by(col(Submission.id)))).all()
        found = []
        for row in rows:
            photos = await session.exec(
                select(SubmissionPhoto.media_ref)
                .where(SubmissionPhoto.submission_id == row.id)
                .order_by(col(SubmissionPhoto.id))
            )
            found.append((row, list(photos.all())))
        return found


async def test_an_album_of_three_photos_then_done_and_a_count_goes_to_qc(floor: Floor) -> None:
    allocation = await floor.allocation("HORN-PENDANT", floor.factory.wanjiru, 10)
    job = floor.order.jobs["HORN-PENDANT"]  # shown by the job's own number, as staff see it
    await floor.wanjiru.send("hi")

    [ask] = await floor.wanjiru.send("Submit finished work")  # one job: straight to photos
    assert ask.text == t("en", "artisan.photos_ask", id=job, component="Carved horn pendant")
    for n in (1, 2, 3):  # an album arrives as one message per photo
        [got] = await floor.wanjiru.send(media=(photo(n),))
        assert got.text == t("en", "artisan.photos_got", count=n)
    assert payloads(got) == ["sub:done"]
    [count] = await floor.wanjiru.send("done")
    assert count.text == t("en", "artisan.count_ask", max=10)
    assert await floor.wanjiru.say("11") == t("en", "artisan.count_invalid", max=10)
    [confirm] = await floor.wanjiru.send("I made 8")
    assert confirm.text == t(
        "en",
        "artisan.submit_confirm",
        count=8,
        component="Carved horn pendant",
        id=job,
        photos="3 photos",
    )
    [sent] = await floor.wanjiru.send("1")

    [(submission, photos)] = await _submissions(floor)
    assert sent.text == t("en", "artisan.submitted", id=submission.id, count=8)
    assert (submission.allocation_id, submission.count) == (allocation, 8)
    assert submission.status is SubmissionStatus.PENDING_REVIEW
    assert photos == [f"media/wa/album-{n}.jpg" for n in (1, 2, 3)]


async def test_a_pdf_or_voice_note_is_refused_and_text_gets_a_hint_while_photos_are_expected(
    floor: Floor,
) -> None:
    await floor.allocation("HORN-PENDANT", floor.factory.wanjiru, 10)
    await floor.wanjiru.send("hi")
    await floor.wanjiru.send("3")  # submit work
    before = await state_of(floor.store, floor.wanjiru)

    assert await floor.wanjiru.say(media=(PDF,)) == t("en", "artisan.photo_not_image")
    assert await floor.wanjiru.say(media=(VOICE,)) == t("en", "artisan.photo_not_image")
    assert await floor.wanjiru.say("here they are") == t("en", "artisan.photos_hint")
    assert await floor.wanjiru.say("done") == t("en", "artisan.photos_none_yet")

    after = await state_of(floor.store, floor.wanjiru)
    assert before is not None
    assert after is not None
    assert (after.flow, after.step, after.data) == (before.flow, before.step, before.data)
    assert await _submissions(floor) == []


async def test_with_several_jobs_the_artisan_chooses_which_one_first(floor: Floor) -> None:
    await floor.allocation("HORN-PENDANT", floor.factory.wanjiru, 10)
    bangles = await floor.allocation("BRASS-BANGLE", floor.factory.wanjiru, 6)
    await floor.wanjiru.send("hi")
    [which] = await floor.wanjiru.send("3")
    assert which.text == t("en", "artisan.submit_which_job")
    assert [c.label for c in which.choices] == [  # same due date: in the order accepted
        # The jobs' own numbers, as staff see them (not the artisan's share of each).
        f"#{floor.order.jobs['HORN-PENDANT']} Carved horn pendant (10 pieces)",
        f"#{floor.order.jobs['BRASS-BANGLE']} Brass bangle (6 pieces)",
    ]
    [ask] = await floor.wanjiru.send(payload=f"job:{bangles}")
    job = floor.order.jobs["BRASS-BANGLE"]
    assert ask.text == t("en", "artisan.photos_ask", id=job, component="Brass bangle")


async def test_kiswahili_photos_end_with_tayari(floor: Floor) -> None:
    await floor.allocation("BRASS-BANGLE", floor.factory.otieno, 6)
    await floor.otieno.send("habari")
    await floor.otieno.send("3")
    await floor.otieno.send(media=(photo(1),))
    [count] = await floor.otieno.send("tayari")
    assert count.text == t("sw", "artisan.count_ask", max=6)
    await floor.otieno.send("6")
    [sent] = await floor.otieno.send("ndiyo")
    [(submission, _)] = await _submissions(floor)
    assert sent.text == t("sw", "artisan.submitted", id=submission.id, count=6)


async def test_qc_results_are_explained_with_reasons_and_the_rework_due_date(floor: Floor) -> None:
    allocation = await floor.allocation("HORN-PENDANT", floor.factory.wanjiru, 10)
    first = await floor.submitted(allocation, floor.factory.wanjiru, 4)
    await floor.review(first, 4)
    second = await floor.submitted(allocation, floor.factory.wanjiru, 5)
    await floor.review(second, 3, 2, QcReason.BROKEN, QcReason.WRONG_SIZE)

    passed, mixed = texts(await floor.told(floor.wanjiru))[-2:]
    assert passed == t(
        "en", "artisan.qc_all_passed", id=first, passed=4, component="Carved horn pendant"
    )
    # Rework is due after the pendant's 5-day lead time, from Monday 02/03 in Nairobi.
    assert mixed == t(
        "en",
        "artisan.qc_some_rejected",
        id=second,
        passed=3,
        rejected=2,
        component="Carved horn pendant",
        reasons="broken or cracked, wrong size",
        due="Saturday 7 March",
    )

    await floor.wanjiru.send("hi")
    [jobs] = await floor.wanjiru.send("My jobs")
    assert "Passed: 7 · Awaiting QC: 0 · To make: 1" in jobs.text
    assert t("en", "artisan.job_rework", count=2, due="Saturday 7 March") in jobs.text


async def test_better_photos_button_collects_new_photos_for_that_submission(floor: Floor) -> None:
    allocation = await floor.allocation("HORN-PENDANT", floor.factory.wanjiru, 10)
    submission_id = await floor.submitted(allocation, floor.factory.wanjiru, 4)
    await floor.act(
        lambda s: request_better_photos(
            s,
            submission_id=submission_id,
            reviewer_id=floor.factory.agent,
            note="Too dark",
            now=floor.clock.now(),
        )
    )
    request = (await floor.told(floor.wanjiru))[-1]
    assert t("en", "artisan.qc_note", note="“Too dark”") in request.text
    assert payloads(request) == [f"morephotos:{submission_id}"]

    # Someone else's submission is refused, and nothing starts.
    assert await floor.otieno.say(payload=f"morephotos:{submission_id}") == t(
        "sw", "artisan.submission_not_yours", id=submission_id
    )

    [ask] = await floor.wanjiru.send(payload=f"morephotos:{submission_id}")
    assert ask.text == t("en", "artisan.better_photos_ask", id=submission_id)
    await floor.wanjiru.send(media=(photo(7),))
    [added] = await floor.wanjiru.send(payload="sub:done")
    assert added.text == t("en", "artisan.photos_added", id=submission_id)

    [(submission, photos)] = await _submissions(floor)
    assert submission.status is SubmissionStatus.PENDING_REVIEW
    assert photos == [PHOTO.media_ref, "media/wa/album-7.jpg"]
    # The typed code works too, but only while the submission waits for QC.
    await floor.review(submission_id, 4)
    assert await floor.wanjiru.say(f"PHOTOS {submission_id}") == t(
        "en", "artisan.photos_closed", id=submission_id
    )


async def test_nothing_to_submit_is_said_plainly(floor: Floor) -> None:
    await floor.wanjiru.send("hi")
    assert await floor.wanjiru.say("3") == t("en", "artisan.nothing_to_submit")
    assert await floor.wanjiru.say("hi") == t("en", "menu.title", name="Wanjiru")
