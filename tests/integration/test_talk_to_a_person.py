"""An artisan talks to a person: the question reaches their area's field agent (or the admins),
the answer comes back to the artisan's chat, staff list what waits, and a question left too long
is reminded about once. Through the engine, in English and Kiswahili."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from conversations.i18n import default_catalogue, t
from domain.limits import MAX_QUESTION_LENGTH
from domain.model import Channel, Language, Question
from scheduler import jobs
from tests.integration.conversation_driver import Chat
from tests.integration.factory_fixtures import Floor, active_artisan, ident, payloads


async def _questions(floor: Floor) -> list[Question]:
    async with floor.store.transaction() as session:
        return list((await session.exec(select(Question).order_by(Question.id))).all())  # type: ignore[arg-type]


async def test_a_question_reaches_the_areas_agent_and_the_answer_comes_back(floor: Floor) -> None:
    await floor.wanjiru.send("hi")
    [ask] = await floor.wanjiru.send("Talk to a person")
    whom = t("en", "questions.whom_agent", names="“Kamau”")
    assert ask.text == t("en", "questions.ask_question", whom=whom, max=MAX_QUESTION_LENGTH)
    [sent] = await floor.wanjiru.send("When will the brass wire come?")
    [question] = await _questions(floor)
    assert sent.text == t("en", "questions.sent", id=question.id, whom=whom)
    assert question.area == "Kibera"

    # Kamau (Kibera) reads who asked and where, numbered; Njeri (Githurai) hears nothing.
    [notice] = await floor.told(floor.agent)
    assert notice.text == t(
        "en",
        "questions.asked_notice",
        id=question.id,
        name="“Wanjiru”",
        area="“Kibera”",
        text="“When will the brass wire come?”",
    )
    assert payloads(notice) == [f"reply:{question.id}"]
    assert await floor.told(floor.far_agent) == []

    # The Answer button asks for the words; they go to Wanjiru's chat with who answered.
    [asks] = await floor.agent.send(payload=f"reply:{question.id}")
    assert "“When will the brass wire come?”" in asks.text
    assert await floor.agent.say("Tomorrow morning, I bring it myself.") == t(
        "en", "questions.answered", id=question.id, name="“Wanjiru”"
    )
    [*_, answer] = await floor.told(floor.wanjiru)
    assert answer.text == t(
        "en",
        "questions.answer_from_agent",
        name="“Kamau”",
        id=question.id,
        question="“When will the brass wire come?”",
        answer="“Tomorrow morning, I bring it myself.”",
    )
    assert payloads(answer) == ["menu:talk"]
    # ...and "Write back" opens the question again.
    [again] = await floor.wanjiru.send(payload="menu:talk")
    assert again.text.startswith(
        t("en", "questions.ask_question", whom=whom, max=MAX_QUESTION_LENGTH)[:20]
    )
    assert await floor.agent.say("/questions") == t("en", "questions.none_open")


async def test_kiswahili_ask_and_reply_with_refusals(floor: Floor) -> None:
    # /ask with the words sends at once; Otieno is in Githurai, so Njeri answers.
    assert (await floor.otieno.say("/ask Naomba shanga zaidi")).startswith("Imetumwa")
    [question] = await _questions(floor)
    qid = ident(question)
    [notice] = await floor.told(floor.far_agent)
    assert "“Otieno”" in notice.text
    assert "“Githurai”" in notice.text

    # Kamau covers Kibera only: refused politely, nothing answered.
    assert await floor.agent.say(f"/reply {qid} Sawa") == t(
        "en", "questions.not_your_area", id=qid, area="“Githurai”"
    )
    assert await floor.far_agent.say("/reply 999 Sawa") == t("en", "questions.not_found", id=999)
    assert await floor.far_agent.say("/reply kesho") == t("en", "questions.reply_usage")
    long = "x" * (MAX_QUESTION_LENGTH + 1)
    assert await floor.far_agent.say(f"/reply {qid} {long}") == t(
        "en", "questions.too_long", length=MAX_QUESTION_LENGTH + 1, max=MAX_QUESTION_LENGTH
    )
    # Typed without the slash (REPLY 12 ... / JIBU 12 ...) it answers at once.
    assert await floor.far_agent.say(f"jibu {qid} Zitafika Ijumaa") == t(
        "en", "questions.answered", id=qid, name="“Otieno”"
    )
    [*_, answer] = await floor.told(floor.otieno)
    assert answer.text == t(
        "sw",
        "questions.answer_from_agent",
        name="“Njeri”",
        id=qid,
        question="“Naomba shanga zaidi”",
        answer="“Zitafika Ijumaa”",
    )
    # A second answer is refused; the artisan hears nothing more.
    assert await floor.far_agent.say(f"/reply {qid} Tena") == t(
        "en", "questions.already_answered", id=qid, by="“Njeri”", answer="“Zitafika Ijumaa”"
    )
    assert len(await floor.told(floor.otieno)) == 1
    # "Talk to a person" is in the artisan's help, and in the staff's the commands to answer.
    assert t("sw", "questions.help_ask") in await floor.otieno.say("msaada")
    assert t("en", "questions.help_reply") in await floor.far_agent.say("help")
    # Artisans cannot answer questions.
    assert await floor.otieno.say(f"/reply {qid} mimi") == t("sw", "command.forbidden")


async def test_bad_questions_get_polite_refusals_and_nothing_is_sent(floor: Floor) -> None:
    await floor.otieno.send("habari")
    await floor.otieno.send("Ongea na mtu")
    long = "a" * (MAX_QUESTION_LENGTH + 1)
    # The same limit, whichever way it comes: typed in the flow, or after /ask.
    assert await floor.otieno.say(long) == t("sw", "engine.too_long", max=MAX_QUESTION_LENGTH)
    assert await floor.otieno.say(f"/ask {long}") == t(
        "sw", "questions.too_long", length=MAX_QUESTION_LENGTH + 1, max=MAX_QUESTION_LENGTH
    )
    assert await floor.otieno.say("🙂🙂") == t("sw", "engine.not_understood")
    assert await floor.otieno.say("/ask ???") == t("sw", "questions.question_empty")
    assert await _questions(floor) == []
    # Still asked: a good question now goes.
    assert (await floor.otieno.say("Kuna kazi wiki hii?")).startswith("Imetumwa")


async def test_an_area_without_an_agent_asks_the_admins_and_they_see_every_question(
    floor: Floor,
) -> None:
    async with floor.store.transaction() as session:
        amina = await active_artisan(
            session,
            verified_by=floor.factory.admin,
            now=floor.clock.now(),
            name="Amina",
            area="Mathare",
            language=Language.EN,
        )
    channel, address = await _address(floor, ident(amina))
    chat = Chat(floor.engine, floor.clock, address=address, channel=channel)
    assert await chat.say("/ask Who collects on Friday?") == t(
        "en", "questions.sent", id=1, whom=t("en", "questions.whom_office")
    )
    await floor.wanjiru.say("/ask Is there horn?")
    [notice] = await floor.told(floor.admin)
    assert "“Mathare”" in notice.text
    floor.clock.advance(hours=5)
    listed = await floor.admin.say("/questions")
    assert "#1 “Amina” (“Mathare”), waiting 5h: “Who collects on Friday?”" in listed
    assert "#2 “Wanjiru” (“Kibera”)" in listed
    # Kamau sees only Kibera's.
    mine = await floor.agent.say("/questions")
    assert "#2 “Wanjiru”" in mine
    assert "Amina" not in mine
    assert await floor.admin.say("reply 1 Our driver, at noon.") == t(
        "en", "questions.answered", id=1, name="“Amina”"
    )
    [*_, answer] = await floor.told(chat)
    assert answer.text.startswith("Reply from “Achieng” (Karakana office)")


async def test_a_question_left_waiting_is_reminded_about_once(floor: Floor) -> None:
    await floor.wanjiru.say("/ask Where do I bring the pendants?")
    remind = jobs.remind_questions
    catalogue = default_catalogue()
    after = timedelta(hours=4)
    assert await remind(floor.store, clock=floor.clock.now, catalogue=catalogue, after=after) == 0
    floor.clock.advance(hours=4, minutes=1)
    # Kamau (who answers Kibera) and the admin, once each; a second run sends nothing.
    assert await remind(floor.store, clock=floor.clock.now, catalogue=catalogue, after=after) == 2
    assert await remind(floor.store, clock=floor.clock.now, catalogue=catalogue, after=after) == 0
    [*_, reminder] = await floor.told(floor.agent)
    assert reminder.text.startswith("Still waiting for an answer after 4h: question #1")
    assert payloads(reminder) == ["reply:1"]


async def _address(floor: Floor, person_id: int) -> tuple[Channel, str]:
    from domain.model import ChannelIdentity

    async with floor.store.transaction() as session:
        identity = (
            await session.exec(
                select(ChannelIdentity).where(ChannelIdentity.person_id == person_id)
            )
        ).one()
    return identity.channel, identity.address


def test_the_question_reminder_is_a_scheduled_job_reading_its_setting(floor: Floor) -> None:
    from bot.scheduling import JobSettings, karakana_jobs
    from scheduler.leases import Every

    settings = JobSettings(question_reminder_after=timedelta(hours=2))
    listed = karakana_jobs(
        floor.store, clock=floor.clock.now, catalogue=default_catalogue(), settings=settings
    )
    [job] = [job for job in listed if job.name == "question_reminders"]
    assert job.schedule == Every(timedelta(minutes=15))
    assert job.work.keywords["after"] == timedelta(hours=2)  # type: ignore[attr-defined]
