"""Input people send that used to be misread (issue 16 follow-up), through the engine, en and sw:
a lone photo for a submission waiting for better photos, "1" typed to a "how many?" question
with an "All N" shortcut, several skills typed at once, time words for a delivery, a count in a
photo's caption, "accept offer 160", and a refused admin command that says what is possible."""

from __future__ import annotations

import json

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations.i18n import t
from conversations.messages import MediaItem, Reply
from domain.model import (
    Delivery,
    Language,
    NameKind,
    Offer,
    OfferStatus,
    QcReview,
    Submission,
    SubmissionPhoto,
    SubmissionStatus,
)
from domain.services.names import add_area, set_name
from domain.services.work import request_better_photos, submit_work
from tests.integration.conversation_driver import Chat, state_of
from tests.integration.factory_fixtures import Floor, new_mobile, payloads


def photo(n: int) -> MediaItem:
    return MediaItem("image/jpeg", 50_000 + n, f"media/wa/lone-{n}.jpg")


async def _photos_of(floor: Floor, submission_id: int) -> tuple[SubmissionStatus, list[str]]:
    async with floor.store.transaction() as session:
        submission = await session.get(Submission, submission_id)
        assert submission is not None
        rows = await session.exec(
            select(SubmissionPhoto.media_ref)
            .where(SubmissionPhoto.submission_id == submission_id)
            .order_by(col(SubmissionPhoto.id))
        )
        return submission.status, list(rows)


async def _ask_better_photos(floor: Floor, artisan: int, pieces: int, made: int) -> int:
    allocation = await floor.allocation("HORN-PENDANT", artisan, pieces)
    submission_id = await floor.submitted(allocation, artisan, made)
    await floor.act(
        lambda s: request_better_photos(
            s,
            submission_id=submission_id,
            reviewer_id=floor.factory.agent,
            note="Giza",
            now=floor.clock.now(),
        )
    )
    return submission_id


# --- 1. a lone photo goes to the submission waiting for better photos -----------------------


async def test_a_lone_photo_is_added_to_the_one_submission_waiting_for_better_photos_sw(
    floor: Floor,
) -> None:
    submission_id = await _ask_better_photos(floor, floor.factory.otieno, 4, 4)  # nothing left
    got, more = await floor.otieno.send(media=(photo(1),))
    assert got.text == t("sw", "input.photos_for_submission", id=submission_id)
    assert more.text == t("sw", "artisan.photos_got", count=1)
    assert t("sw", "artisan.photo_no_work") not in more.text
    [added] = await floor.otieno.send("tayari")
    assert added.text == t("sw", "artisan.photos_added", id=submission_id)
    status, refs = await _photos_of(floor, submission_id)
    assert status is SubmissionStatus.PENDING_REVIEW
    assert refs[-1] == "media/wa/lone-1.jpg"


async def test_photos_sent_while_two_things_could_take_them_ask_which_en(floor: Floor) -> None:
    # 4 of 10 made and waiting for better photos: the other 6 are still open work.
    submission_id = await _ask_better_photos(floor, floor.factory.wanjiru, 10, 4)
    [which] = await floor.wanjiru.send(media=(photo(1),))
    assert which.text == t("en", "input.photos_which", count=1)
    assert payloads(which) == [f"better:{submission_id}", "better:new"]
    [which] = await floor.wanjiru.send(media=(photo(2),))  # the rest of the album is kept
    assert which.text == t("en", "input.photos_which", count=2)
    [kept] = await floor.wanjiru.send("1")
    assert kept.text == t("en", "artisan.photos_got", count=2)
    [added] = await floor.wanjiru.send("done")
    assert added.text == t("en", "artisan.photos_added", id=submission_id)
    _, refs = await _photos_of(floor, submission_id)
    assert refs[-2:] == ["media/wa/lone-1.jpg", "media/wa/lone-2.jpg"]


# --- 2. a typed number is always the quantity ----------------------------------------------


async def _deliveries(floor: Floor) -> list[Delivery]:
    async with floor.store.transaction() as session:
        return list((await session.exec(select(Delivery).order_by(col(Delivery.id)))).all())


async def test_a_typed_1_books_one_piece_and_all_is_a_word_or_button_en(floor: Floor) -> None:
    await floor.passed_pieces("HORN-PENDANT", floor.factory.wanjiru, 10)
    await floor.wanjiru.send("hi")
    await floor.wanjiru.send("Arrange a delivery")
    [how_many] = await floor.wanjiru.send("1")  # drop-off
    assert not how_many.numbered  # the shortcut shows no number to be read as "1"
    assert [c.label for c in how_many.choices] == ["All 10"]
    assert t("en", "input.quantity_or_all", label="All 10") in how_many.text
    assert "1. All 10" not in how_many.as_plain_text()
    await floor.wanjiru.send("1")  # one piece, not "All 10"
    await floor.wanjiru.send("1")  # the first slot
    [delivery] = await _deliveries(floor)
    assert delivery.declared_quantity == 1


async def test_a_count_typed_after_a_new_offer_arrived_is_still_the_count_en(
    floor: Floor,
) -> None:
    await floor.passed_pieces("HORN-PENDANT", floor.factory.wanjiru, 10)
    await floor.wanjiru.send(payload="menu:delivery")
    await floor.wanjiru.send(payload="how:drop_off")
    await floor.offer("BRASS-HOOK", floor.factory.wanjiru, 2)  # its buttons arrive meanwhile
    assert (await floor.told(floor.wanjiru))[-1].choices
    await floor.wanjiru.send("2")  # two pieces, not the offer's second button
    await floor.wanjiru.send("1")  # the first slot
    [delivery] = await _deliveries(floor)
    assert delivery.declared_quantity == 2


async def test_vyote_or_zote_books_them_all_sw(floor: Floor) -> None:
    await floor.passed_pieces("HORN-PENDANT", floor.factory.otieno, 10)
    await floor.otieno.send("habari")
    await floor.otieno.send(payload="menu:delivery")
    [how_many] = await floor.otieno.send("1")
    assert t("sw", "input.quantity_or_all", label="Vyote 10") in how_many.text
    assert t("sw", "artisan.delivery_count_invalid", max=10) in await floor.otieno.say("vingi")
    await floor.otieno.send("zote")
    await floor.otieno.send("1")
    [delivery] = await _deliveries(floor)
    assert delivery.declared_quantity == 10


async def test_the_agents_receipt_reads_1_as_one_piece_and_vyote_as_all_sw(floor: Floor) -> None:
    allocation = await floor.passed_pieces("HORN-PENDANT", floor.factory.wanjiru, 4)
    first = await floor.drop_off(allocation, floor.factory.wanjiru, 2)
    second = await floor.drop_off(allocation, floor.factory.wanjiru, 2)
    agent = floor.agent
    await agent.send("lugha sw")
    [count] = await agent.send(f"/receipt {first}")
    assert not count.numbered
    assert t("sw", "input.quantity_or_all", label="Vyote 2 vimefika") in count.text
    assert "Umehesabu 1, lakini vilitajwa 2" in await agent.say("1")
    await agent.send("menu")
    await agent.send(f"/receipt {second}")
    said = await agent.say("vyote")
    async with floor.store.transaction() as session:
        delivery = await session.get(Delivery, second)
        assert delivery is not None
        assert delivery.received_quantity == 2, said


# --- 3 and 4. several skills at once; every area listed; /artisans by a word ----------------

AREAS = (
    "Dandora", "Eastleigh", "Githurai", "Kariobangi", "Kawangware", "Kibera", "Korogocho",
    "Mathare", "Mukuru", "Ngong Road", "Ruiru", "Umoja",
)  # fmt: skip
SW = {"horn carving": "uchongaji wa pembe", "brass smithing": "ufundi wa shaba",
      "beadwork": "kazi ya shanga"}  # fmt: skip


async def _named_catalogue(floor: Floor) -> None:
    async def name_all(session: AsyncSession) -> None:
        for skill, swahili in SW.items():
            await set_name(
                session, kind=NameKind.SKILL, code=skill, language=Language.SW, name=swahili
            )
        for area in AREAS:
            await add_area(session, area)

    await floor.act(name_all)


def _stranger(floor: Floor) -> Chat:
    return Chat(floor.engine, floor.clock, address=f"whatsapp:{new_mobile()}")


async def _skills_step(floor: Floor, language: str) -> tuple[Chat, Reply]:
    chat = _stranger(floor)
    await chat.send("Hello")
    await chat.send("1" if language == "en" else "2")
    await chat.send("Amina")
    [skills] = await chat.send("Amina Crafts")
    assert skills.text == t(language, "registration.ask_skills")
    return chat, skills


async def test_skills_typed_as_a_list_of_words_in_either_language(floor: Floor) -> None:
    await _named_catalogue(floor)
    for language, typed, meant in (
        ("en", "brass and bead", ["brass smithing", "beadwork"]),
        ("en", "brass, horn", ["brass smithing", "horn carving"]),
        ("en", "horn carving and brass smithing", ["horn carving", "brass smithing"]),
        ("en", "beadwork & horn", ["beadwork", "horn carving"]),
        ("sw", "shaba na shanga", ["brass smithing", "beadwork"]),
        ("sw", "pembe, shanga", ["horn carving", "beadwork"]),
    ):
        chat, _ = await _skills_step(floor, language)
        [area] = await chat.send(typed)
        assert area.text == t(language, "registration.ask_area"), typed
        state = await state_of(floor.store, chat)
        assert state is not None
        assert json.loads(state.data)["skills"] == meant, typed
    chat, _ = await _skills_step(floor, "en")
    assert t("en", "registration.skills_invalid", count=3) in await chat.say("brass and gold")


async def test_registration_lists_every_known_area(floor: Floor) -> None:
    await _named_catalogue(floor)
    chat, _ = await _skills_step(floor, "sw")
    [area] = await chat.send("1")
    labels = [c.label for c in area.choices]
    assert {"Mathare", "Mukuru", "Ngong Road", "Ruiru"} <= set(labels)
    assert len(labels) >= len(AREAS)
    await chat.send("Ruiru")  # listed, so taken (it used to be "choose the nearest one")
    state = await state_of(floor.store, chat)
    assert state is not None
    assert json.loads(state.data)["area"] == "Ruiru"


async def test_admin_filters_artisans_by_a_word_of_a_skill_or_area_in_either_language(
    floor: Floor,
) -> None:
    await _named_catalogue(floor)
    horn = await floor.admin.say("/artisans horn")
    assert t("en", "admin.artisans_title", count=2) in horn  # Wanjiru and Otieno
    await floor.admin.send("lugha sw")
    shaba = await floor.admin.say("/artisans shaba")
    assert t("sw", "admin.artisans_title", count=2) in shaba
    assert t("sw", "admin.artisans_title", count=1) in await floor.admin.say("/artisans githu")
    near = await floor.admin.say("/artisans pembee")
    assert near == t("sw", "words.filter_did_you_mean", typed="“pembee”", area="uchongaji wa pembe")


# --- 5. reasonable input understood --------------------------------------------------------


async def test_accept_with_the_word_offer_before_its_number_en_and_sw(floor: Floor) -> None:
    mine = await floor.offer("HORN-PENDANT", floor.factory.otieno, 3)
    theirs = await floor.offer("BRASS-HOOK", floor.factory.wanjiru, 2)
    await floor.otieno.send(f"Nakubali ofa {mine}")
    await floor.wanjiru.send(f"accept offer {theirs}")
    async with floor.store.transaction() as session:
        for offer_id in (mine, theirs):
            offer = await session.get(Offer, offer_id)
            assert offer is not None
            assert offer.status is OfferStatus.ACCEPTED


async def test_a_delivery_time_in_words_en_and_sw(floor: Floor) -> None:
    # Monday 10:00 in Nairobi: tomorrow morning is Tuesday 09:00.
    for chat, artisan, words, bad in (
        (floor.wanjiru, floor.factory.wanjiru, "tomorrow morning", "tonight, evening"),
        (floor.otieno, floor.factory.otieno, "kesho asubuhi", "kesho jioni"),
    ):
        await floor.passed_pieces("HORN-PENDANT", artisan, 5)
        await chat.send(payload="menu:delivery")
        await chat.send(payload="how:drop_off")
        await chat.send("2")
        language = "en" if chat is floor.wanjiru else "sw"
        assert t(language, "input.slot_not_offered", text=f"“{bad}”") == await chat.say(bad)
        await chat.send(words)
    booked = await _deliveries(floor)
    assert [d.slot_start.isoformat() for d in booked] == ["2026-03-03T06:00:00+00:00"] * 2


async def test_a_photo_captioned_with_a_count_goes_straight_to_confirm_en_and_sw(
    floor: Floor,
) -> None:
    await floor.allocation("HORN-PENDANT", floor.factory.wanjiru, 10)
    await floor.allocation("BRASS-HOOK", floor.factory.otieno, 2)
    _, confirm = await floor.wanjiru.send("6 pieces", media=(photo(1),))
    assert confirm.text.startswith("Send 6 ×")
    _, confirm = await floor.otieno.send("vipande 2", media=(photo(2),))
    assert [c.payload for c in confirm.choices] == ["sub:yes", "sub:change"]
    assert "2 ×" in confirm.text
    # Not clear (two numbers, or more than are left): the count is asked as before.
    await floor.wanjiru.send("menu")
    _, ask = await floor.wanjiru.send("6 or 7", media=(photo(3),))
    assert ask.text == t("en", "artisan.count_ask", max=10)


async def test_an_artisan_refused_an_admin_command_hears_what_they_can_do(floor: Floor) -> None:
    assert await floor.otieno.say("/match") == (
        "Samahani, huruhusiwi kufanya hivyo. Tuma MENYU kuona unachoweza kufanya, au MSAADA kwa "
        "msaada."
    )
    assert "Send MENU to see what you can do" in await floor.wanjiru.say("/match")


async def test_photos_sent_unasked_can_still_be_new_work_sw(floor: Floor) -> None:
    await _ask_better_photos(floor, floor.factory.otieno, 10, 4)  # 6 still to make
    [which] = await floor.otieno.send("vipande 5", media=(photo(1),))
    assert which.text == t("sw", "input.photos_which", count=1)
    assert [c.label for c in which.choices][-1] == t("sw", "input.photos_new_work")
    *_, confirm = await floor.otieno.send(payload="better:new")
    assert [c.payload for c in confirm.choices] == ["sub:yes", "sub:change"]  # 5 from the caption
    assert "5 ×" in confirm.text


async def test_the_receipt_qc_count_takes_vyote_as_all_and_a_number_as_a_count_sw(
    floor: Floor,
) -> None:
    allocation = await floor.allocation("HORN-PENDANT", floor.factory.wanjiru, 6)
    submission = await floor.act(
        lambda s: submit_work(
            s,
            allocation_id=allocation,
            artisan_id=floor.factory.wanjiru,
            count=5,
            photos=[],
            now=floor.clock.now(),
            qc_at_receipt=True,
        )
    )
    submission_id = submission.id
    agent = floor.agent
    await agent.send("lugha sw")
    await agent.send("/receipt")
    [passed] = await agent.send(payload=f"rcpt:s{submission_id}")
    assert not passed.numbered
    assert t("sw", "input.quantity_or_all", label="Vyote 5 vimepita") in passed.text
    await agent.send("vyote")
    async with floor.store.transaction() as session:
        reviewed = await session.get(Submission, submission_id)
        assert reviewed is not None
        assert reviewed.status is SubmissionStatus.REVIEWED
        review = (await session.exec(select(QcReview))).one()
        assert (review.passed, review.rejected) == (5, 0)
