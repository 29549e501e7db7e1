"""Every choice works, through the engine, in English and Kiswahili (issue 16, items 1-4):

1. a button of an older menu runs its item whatever question is open; a button whose question
   is gone says so in one line and shows what is possible now;
2. a bare number picks from the last list shown, even once the reply that showed it finished;
   a label or a close word picks too, and typed command words have their Kiswahili forms;
3. words that answer nothing get "Sorry, I didn't understand “…”" and what to send, never a
   silent menu;
4. a photo sent on its own starts "submit finished work" for an artisan with work in progress.
"""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta

from sqlmodel import col, select

from conversations.i18n import t
from conversations.messages import MediaItem, Reply
from domain.explosion import FACTORY_ZONE
from domain.model import Allocation, Offer, OfferStatus, Submission, SubmissionPhoto
from tests.integration.conversation_driver import Chat, state_of
from tests.integration.factory_fixtures import Floor, texts

PHOTO = MediaItem("image/jpeg", 48_213, "media/wa/unasked-1.jpg")
PHOTO_2 = MediaItem("image/jpeg", 51_007, "media/wa/unasked-2.jpg")
PDF = MediaItem("application/pdf", 9_000, "media/wa/invoice.pdf")


def _menu_labels(reply: Reply) -> list[str]:
    return [choice.payload for choice in reply.choices]


def _unclear(language: str, text: str) -> str:
    return t(language, "engine.didnt_understand", text=f"“{text}”")


async def _offer_status(floor: Floor, offer_id: int) -> OfferStatus:
    async with floor.store.transaction() as session:
        offer = await session.get(Offer, offer_id)
        assert offer is not None
        return offer.status


# --- 1. buttons on older messages -----------------------------------------------------------


async def test_kazi_zangu_on_the_menu_works_after_going_into_ofa_za_kazi(floor: Floor) -> None:
    await floor.offer("HORN-PENDANT", floor.factory.otieno, 6)
    [menu] = await floor.otieno.send("habari")
    assert "menu:jobs" in _menu_labels(menu)
    [offers] = await floor.otieno.send(payload="menu:offers")
    assert [c.payload for c in offers.choices] == ["pick:1"]

    replies = await floor.otieno.send(payload="menu:jobs")  # on the older menu

    assert texts(replies) == [t("sw", "artisan.no_jobs")]
    # The offers question was left, as MENU would: "1" is no longer its answer.
    assert t("sw", "artisan.offer_accept_all") not in "".join(
        c.label for r in await floor.otieno.send("menyu") for c in r.choices
    )


async def test_my_earnings_on_an_older_menu_works_while_a_question_is_open(floor: Floor) -> None:
    await floor.offer("HORN-PENDANT", floor.factory.wanjiru, 6)
    await floor.wanjiru.send("hi")
    await floor.wanjiru.send(payload="menu:offers")
    await floor.wanjiru.send("1")  # the offer: accept all, part or decline?

    [earnings] = await floor.wanjiru.send(payload="menu:earnings")

    assert earnings.text.startswith("Your earnings")


async def test_the_admins_statistics_button_works_on_an_older_menu(floor: Floor) -> None:
    await floor.admin.send("hi")
    await floor.admin.send(payload="menu:orders")
    await floor.admin.send("/neworder")  # a question is open now

    [stats] = await floor.admin.send(payload="menu:stats")

    assert stats.text.startswith("The last 4 weeks")


async def test_the_agents_jobs_at_risk_button_works_on_an_older_menu(floor: Floor) -> None:
    await floor.agent.send("hi")
    await floor.agent.send(payload="menu:visit")  # nothing to visit: answered at once
    await floor.agent.send("/qc")

    assert await floor.agent.say(payload="menu:atrisk") == t("en", "agent.atrisk.none")


async def test_an_option_of_an_answered_offer_says_so_and_shows_the_menu(floor: Floor) -> None:
    offer_id = await floor.offer("HORN-PENDANT", floor.factory.otieno, 6)
    await floor.otieno.send("habari")
    await floor.otieno.send(payload="menu:offers")
    await floor.otieno.send("1")
    await floor.otieno.send(payload="act:accept")
    assert await _offer_status(floor, offer_id) is OfferStatus.ACCEPTED

    stale, menu = await floor.otieno.send(payload="act:decline")

    assert stale.text == t("sw", "engine.button_expired")
    assert menu.text == t("sw", "menu.title", name="Otieno")
    assert await _offer_status(floor, offer_id) is OfferStatus.ACCEPTED


async def test_a_button_of_a_question_no_longer_open_re_asks_the_open_one(floor: Floor) -> None:
    await floor.offer("HORN-PENDANT", floor.factory.wanjiru, 6)
    await floor.wanjiru.send("hi")
    [asked] = await floor.wanjiru.send(payload="menu:offers")

    stale, again = await floor.wanjiru.send(payload="why:busy")

    assert stale.text == t("en", "engine.button_expired")
    assert (again.text, again.choices) == (asked.text, asked.choices)


async def test_a_menu_button_not_on_the_persons_menu_is_not_run(floor: Floor) -> None:
    await floor.agent.send("hi")

    stale, menu = await floor.agent.send(payload="menu:earnings")  # an artisan's item

    assert stale.text == t("en", "engine.button_expired")
    assert menu.text == t("en", "menu.title", name="Kamau")


# --- 2. numbers and words -------------------------------------------------------------------


async def test_a_number_after_a_menu_item_picks_from_that_menu(floor: Floor) -> None:
    await floor.otieno.send("habari")
    await floor.otieno.send("5")  # Mapato yangu: answered, no list of its own

    chose, jobs = await floor.otieno.send("2")

    assert chose.text.startswith("Umechagua “" + t("sw", "menu.item.jobs") + "”")
    assert jobs.text == t("sw", "artisan.no_jobs")
    # And again: the menu is still the last list shown.
    assert (await floor.otieno.send("5"))[-1].text.startswith("Mapato")


async def test_a_number_after_a_button_of_an_older_menu_picks_from_that_menu(floor: Floor) -> None:
    await floor.wanjiru.send("hi")
    await floor.wanjiru.send(payload="menu:earnings")

    chose, jobs = await floor.wanjiru.send("2")

    assert chose.text.startswith("You chose “" + t("en", "menu.item.jobs") + "”")
    assert jobs.text == t("en", "artisan.no_jobs")


async def test_a_number_picks_from_a_finished_reply_that_offered_choices(floor: Floor) -> None:
    slow = await floor.allocation("HORN-PENDANT", floor.factory.wanjiru, 10)
    async with floor.store.transaction() as session:
        allocation = await session.get(Allocation, slow)
        assert allocation is not None
        due = datetime.combine(allocation.due_date, time(10), tzinfo=FACTORY_ZONE)
    floor.clock.advance(seconds=(due - timedelta(days=2) - floor.clock.now()).total_seconds())
    await floor.agent.send("hi")
    [listed] = await floor.agent.send(payload="menu:atrisk")
    assert [c.payload for c in listed.choices] == [f"visit:{slow}"]

    chose, ask = await floor.agent.send("1")

    assert chose.text.startswith("You chose “")
    assert "How many pieces are done so far" in ask.text


async def test_a_choice_is_picked_by_a_close_word_in_either_language(floor: Floor) -> None:
    await floor.wanjiru.send("hi")
    assert (await floor.wanjiru.send("EARNINGS"))[-1].text.startswith("Your earnings")
    await floor.otieno.send("habari")
    assert (await floor.otieno.send("mapato"))[-1].text.startswith("Mapato yako")
    await floor.otieno.send("menyu")
    assert (await floor.otieno.send("MÁPATO YANGU!"))[-1].text.startswith("Mapato yako")
    [menu] = await floor.otieno.send("menyu")
    # "kazi" is in three of Otieno's menu items: not a choice, and said so with the list.
    [said] = await floor.otieno.send("kazi")
    assert said.text == _unclear("sw", "kazi")
    assert said.choices == menu.choices


async def test_a_skill_is_picked_by_its_first_word_while_registering_in_kiswahili(
    floor: Floor,
) -> None:
    stranger = Chat(floor.engine, floor.clock, address="+254799123123")
    for answer in ("Habari", "2", "Amina Wairimu", "Pembe Group"):
        await stranger.send(answer)

    [area] = await stranger.send("Horn")  # for "horn carving"

    assert area.text == t("sw", "registration.ask_area")
    state = await state_of(floor.store, stranger)
    assert state is not None
    assert json.loads(state.data)["skills"] == ["horn carving"]


async def test_a_menu_item_typed_by_name_when_nothing_is_open_runs_it(floor: Floor) -> None:
    await floor.wanjiru.send("hi")
    await floor.wanjiru.send("My earnings")  # answered: nothing open now

    assert await floor.wanjiru.say("my jobs") == t("en", "artisan.no_jobs")


async def test_nakubali_and_nakataa_answer_offers_like_kubali_and_kataa(floor: Floor) -> None:
    taken = await floor.offer("HORN-PENDANT", floor.factory.otieno, 6)
    turned = await floor.offer("BRASS-BANGLE", floor.factory.otieno, 4)

    await floor.otieno.send(f"Nakubali {taken}")
    await floor.otieno.send(f"nakataa {turned} nina kazi nyingi")

    assert await _offer_status(floor, taken) is OfferStatus.ACCEPTED
    assert await _offer_status(floor, turned) is OfferStatus.DECLINED


# --- 3. not understood ----------------------------------------------------------------------


async def test_words_the_open_menu_cannot_use_are_quoted_back_with_the_list(floor: Floor) -> None:
    [menu] = await floor.wanjiru.send("hi")

    [said] = await floor.wanjiru.send("what is this")

    assert said.text == _unclear("en", "what is this")
    assert said.choices == menu.choices


async def test_words_when_nothing_is_open_are_not_understood_and_the_menu_shown(
    floor: Floor,
) -> None:
    await floor.otieno.send("habari")
    await floor.otieno.send("5")  # answered: nothing open now

    said, menu = await floor.otieno.send("nataka pesa")

    assert said.text == _unclear("sw", "nataka pesa")
    assert "MENYU" in said.text
    assert menu.text == t("sw", "menu.title", name="Otieno")


async def test_a_greeting_when_nothing_is_open_gets_the_menu_only(floor: Floor) -> None:
    await floor.otieno.send("habari")
    await floor.otieno.send("5")

    assert texts(await floor.otieno.send("Habari!")) == [t("sw", "menu.title", name="Otieno")]


# --- 4. a photo on its own ------------------------------------------------------------------


async def _photos_of(floor: Floor, submission_id: int) -> list[str]:
    async with floor.store.transaction() as session:
        rows = await session.exec(
            select(SubmissionPhoto.media_ref)
            .where(SubmissionPhoto.submission_id == submission_id)
            .order_by(col(SubmissionPhoto.id))
        )
        return list(rows)


async def _submission(floor: Floor) -> Submission:
    async with floor.store.transaction() as session:
        return (await session.exec(select(Submission))).one()


async def test_a_photo_alone_with_one_job_asks_how_many_and_submits_it(floor: Floor) -> None:
    job = await floor.allocation("HORN-PENDANT", floor.factory.wanjiru, 10)
    await floor.wanjiru.send("hi")

    got, count = await floor.wanjiru.send(media=(PHOTO,))
    assert got.text == t(
        "en", "artisan.photos_got_for_job", count=1, id=job, component="Carved horn pendant"
    )
    assert count.text == t("en", "artisan.count_ask", max=10)
    # The rest of the album arrives while the count is asked: kept too.
    kept, again = await floor.wanjiru.send(media=(PHOTO_2,))
    assert (kept.text, again.text) == (t("en", "artisan.photos_kept", count=2), count.text)
    [confirm] = await floor.wanjiru.send("4")
    assert "with 2 photos" in confirm.text
    [done] = await floor.wanjiru.send("yes")

    submission = await _submission(floor)
    assert done.text == t("en", "artisan.submitted", id=submission.id, count=4)
    assert (submission.allocation_id, submission.count) == (job, 4)
    assert submission.id is not None
    assert await _photos_of(floor, submission.id) == [PHOTO.ref, PHOTO_2.ref]


async def test_a_photo_alone_with_two_jobs_asks_which_job_then_how_many_in_kiswahili(
    floor: Floor,
) -> None:
    await floor.allocation("HORN-PENDANT", floor.factory.otieno, 5)
    bangles = await floor.allocation("BRASS-BANGLE", floor.factory.otieno, 3)
    await floor.otieno.send("habari")
    await floor.otieno.send(payload="menu:offers")  # a question that wants no photo is open

    [which] = await floor.otieno.send(media=(PHOTO,))
    assert which.text == t("sw", "artisan.photos_which_job", count=1)
    assert [c.payload for c in which.choices][1] == f"job:{bangles}"
    [count] = await floor.otieno.send("2")
    assert count.text == t("sw", "artisan.count_ask", max=3)
    await floor.otieno.send("3")
    [done] = await floor.otieno.send("ndiyo")

    submission = await _submission(floor)
    assert done.text == t("sw", "artisan.submitted", id=submission.id, count=3)
    assert (submission.allocation_id, submission.count) == (bangles, 3)


async def test_a_photo_alone_without_work_in_progress_gets_a_polite_line(floor: Floor) -> None:
    await floor.otieno.send("habari")

    said, menu = await floor.otieno.send(media=(PHOTO,))

    assert said.text == t("sw", "artisan.photo_no_work")
    assert menu.text == t("sw", "menu.title", name="Otieno")
    async with floor.store.transaction() as session:
        assert (await session.exec(select(Submission))).all() == []


async def test_a_photo_from_a_field_agent_with_nothing_open_gets_a_polite_line(
    floor: Floor,
) -> None:
    await floor.agent.send("hi")
    await floor.agent.send(payload="menu:pending")

    said, menu = await floor.agent.send(media=(PHOTO,))

    assert said.text == t("en", "engine.photo_not_needed")
    assert menu.text == t("en", "menu.title", name="Kamau")


async def test_a_file_that_is_not_a_photo_does_not_start_submitting(floor: Floor) -> None:
    await floor.allocation("HORN-PENDANT", floor.factory.wanjiru, 10)
    [menu] = await floor.wanjiru.send("hi")

    [hint] = await floor.wanjiru.send(media=(PDF,))

    assert hint.text == t("en", "engine.media_not_expected")
    assert hint.choices == menu.choices


async def test_on_telegram_where_buttons_show_a_typed_number_still_picks(floor: Floor) -> None:
    [menu] = await floor.far_agent.send("hi")
    assert menu.choices[1].payload == "menu:qc"

    assert await floor.far_agent.say("2") == t("en", "agent.qc.queue_empty")


async def test_a_long_label_typed_in_full_picks_its_choice(floor: Floor) -> None:
    await floor.agent.send("hi")

    assert await floor.agent.say("record a workshop visit") == t("en", "agent.visit.none_active")
