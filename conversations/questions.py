"""Answering artisans' questions to a person, which field agents and admins both do: the other
side of the artisan's "Talk to a person" flow (conversations/artisan/flows/talk_to_person.py).

- ``QuestionAsked``: the field agents covering the artisan's area hear the numbered question,
  with who asked and where, and an "Answer" button (``reply:<id>``); the admins hear it when
  nobody covers the area, so a question is never left unseen;
- "Answer" (or ``/reply 12``) asks for the answer (the ``question_reply`` flow, drawn in
  ``question_reply.mmd`` beside this file); ``/reply 12 <answer>`` (or ``REPLY 12 ...`` /
  ``JIBU 12 ...`` typed without the slash) answers at once (``answer_question``);
- ``QuestionAnswered``: the artisan reads "Reply from Kamau (field agent) to your question #12"
  in their own chat and language, with a button to write back;
- ``/questions``: open questions with how long each has waited, oldest first: in the agent's
  areas (everywhere for admins, and for agents who cover no area yet, as ``/materials`` does);
- ``queue_question_reminders``: the scheduler's reminder about a question that has waited longer
  than ``QUESTION_REMINDER_AFTER``, once per question, to whoever answers it and to the admins.

An empty or too long answer, an unknown number, a question already answered and a question from
an area the agent does not cover each get a polite line; nothing is half-saved.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations.flow import (
    DONE,
    Answer,
    Ask,
    Command,
    Context,
    Expect,
    Finish,
    Flow,
    Outcome,
    Start,
    Step,
    as_command_replies,
)
from conversations.formatting import Say
from conversations.i18n import N_, Catalogue
from conversations.materials import age, answerers
from conversations.messages import Choice, Reply
from conversations.notices import NoticeContext, NoticeTable, tell
from conversations.queries import agent_areas
from domain import events
from domain.errors import Forbidden, NotFound
from domain.limits import MAX_ID, MAX_QUESTION_LENGTH
from domain.model import Language, Person, Question, Role
from domain.numbers import or_none, whole_number
from domain.services.guards import InvalidField
from domain.services.questions import (
    AlreadyAnswered,
    answer_question,
    mark_reminded,
    may_answer,
    open_questions,
    questions_to_remind,
)
from domain.statemachine import Transitions
from domain.text import quoted

log = logging.getLogger(__name__)

STAFF = frozenset({Role.FIELD_AGENT, Role.ADMIN})
REPLY = "question_reply"
MAX_LISTED = 15
MAX_BUTTONS = 3
# The menu item that starts "Talk to a person": its button under an answer lets the artisan
# write back (a ``menu:<key>`` button works from any message).
TALK_MENU_KEY = "talk"


# --- words ------------------------------------------------------------------------------------


def _question_id(argument: str) -> int | None:
    """``12`` or ``#12`` as a number; None for anything else."""
    return or_none(whole_number, argument.strip().removeprefix("#"), most=MAX_ID, strict=True)


def _answer_button(catalogue: Catalogue, language: Language, question_id: int) -> Choice:
    return Choice(f"reply:{question_id}", catalogue.t(language, "questions.answer_button"))


def _asked(question: Question, artisan: Person) -> dict[str, object]:
    return {
        "id": question.id,
        "name": quoted(artisan.name),
        "area": quoted(question.area),
        "text": quoted(question.text),
    }


def too_long(t: Say, text: str) -> str | None:
    """The polite refusal for words longer than a question or an answer may be, else None."""
    if len(text) <= MAX_QUESTION_LENGTH:
        return None
    return t("questions.too_long", length=len(text), max=MAX_QUESTION_LENGTH)


async def who_answers(session: AsyncSession, area: str | None) -> tuple[bool, list[Person]]:
    """Whoever answers questions from ``area``, and whether they are its field agents (False:
    nobody covers the area, so the admins do)."""
    people = await answerers(session, area)
    return any(p.role is Role.FIELD_AGENT for p in people), people


# --- the notices ------------------------------------------------------------------------------


async def _question_asked(
    session: AsyncSession, event: events.QuestionAsked, ctx: NoticeContext
) -> int:
    question = await session.get(Question, event.question_id)
    artisan = await session.get(Person, event.artisan_id)
    if question is None or artisan is None:
        return 0
    _, people = await who_answers(session, question.area)
    if not people:
        log.warning("question %s asked but nobody can answer it", event.question_id)
    sent = 0
    for person in people:
        text = ctx.catalogue.t(
            person.language, "questions.asked_notice", **_asked(question, artisan)
        )
        reply = Reply(
            text, choices=(_answer_button(ctx.catalogue, person.language, event.question_id),)
        )
        sent += await tell(session, person, reply, ctx.now)
    return sent


async def _question_answered(
    session: AsyncSession, event: events.QuestionAnswered, ctx: NoticeContext
) -> int:
    question = await session.get(Question, event.question_id)
    artisan = await session.get(Person, event.artisan_id)
    staff = await session.get(Person, event.by_id)
    if question is None or artisan is None or staff is None:
        return 0
    language = artisan.language
    msgid = (
        N_("questions.answer_from_agent")
        if staff.role is Role.FIELD_AGENT
        else N_("questions.answer_from_office")
    )
    text = ctx.catalogue.t(
        language,
        msgid,
        name=quoted(staff.name),
        id=question.id,
        question=quoted(question.text),
        answer=quoted(question.answer),
    )
    write_back = Choice(f"menu:{TALK_MENU_KEY}", ctx.catalogue.t(language, "questions.write_back"))
    return await tell(session, artisan, Reply(text, choices=(write_back,)), ctx.now)


NOTICES: NoticeTable = {
    events.QuestionAsked: _question_asked,
    events.QuestionAnswered: _question_answered,
}


# --- the list ---------------------------------------------------------------------------------


async def list_open(ctx: Context) -> list[Reply]:
    """``/questions``: open questions, oldest first, with how long each has waited."""
    assert ctx.person is not None
    assert ctx.person.id is not None
    areas: list[str] = []
    if ctx.person.role is Role.FIELD_AGENT:
        areas = await agent_areas(ctx.session, ctx.person.id)
    rows = await open_questions(ctx.session, areas=areas or None, limit=MAX_LISTED + 1)
    if not rows:
        return [Reply(ctx.t("questions.none_open"))]
    lines = [
        ctx.t(
            "questions.open_line",
            number=number,
            age=age(ctx.catalogue, ctx.language, ctx.now - question.asked_at),
            **_asked(question, artisan),
        )
        for number, (question, artisan) in enumerate(rows[:MAX_LISTED], start=1)
    ]
    text = ctx.t("questions.open_title") + "\n\n" + "\n".join(lines)
    if len(rows) > MAX_LISTED:
        text += "\n" + ctx.t("questions.open_more")
    choices = tuple(
        Choice(f"reply:{question.id}", ctx.t("questions.answer_numbered", id=question.id))
        for question, _ in rows[:MAX_BUTTONS]
    )
    return [Reply(text, choices=choices)]


# --- answering --------------------------------------------------------------------------------


async def _open_question(ctx: Context, question_id: int) -> tuple[Question, Person] | str:
    """The open question this person may answer, with who asked; or what to tell them."""
    assert ctx.person is not None
    question = await ctx.session.get(Question, question_id)
    if question is None:
        return ctx.t("questions.not_found", id=question_id)
    if not await may_answer(ctx.session, ctx.person, question):
        return ctx.t("questions.not_your_area", id=question_id, area=quoted(question.area))
    if question.answered_at is not None:
        by = (
            None
            if question.answered_by is None
            else await ctx.session.get(Person, question.answered_by)
        )
        return ctx.t(
            "questions.already_answered",
            id=question_id,
            by=quoted(None if by is None else by.name),
            answer=quoted(question.answer),
        )
    artisan = await ctx.session.get(Person, question.artisan_id)
    assert artisan is not None  # a foreign key
    return question, artisan


async def _answer(ctx: Context, question_id: int, text: str) -> Outcome:
    """Answer the question: ``Finish`` saying so, ``Ask`` again when the words cannot go."""
    assert ctx.person is not None
    assert ctx.person.id is not None
    words = text.strip()
    problem = too_long(ctx.t, words)
    if problem is not None:
        return Ask(problem)
    if not any(ch.isalnum() for ch in words):
        return Ask(ctx.t("questions.answer_empty"))
    found = await _open_question(ctx, question_id)
    if isinstance(found, str):
        return Finish(say=(Reply(found),))
    _, artisan = found
    try:
        await answer_question(
            ctx.session, question_id=question_id, by_id=ctx.person.id, text=words, now=ctx.now
        )
    except InvalidField:
        return Ask(ctx.t("questions.answer_empty"))
    except (AlreadyAnswered, Forbidden, NotFound) as exc:
        # Someone answered first, or the agent's areas changed, between the check and the lock.
        log.info("question %s: answer by %s refused: %s", question_id, ctx.person.id, exc)
        again = await _open_question(ctx, question_id)
        return Finish(say=(Reply(again if isinstance(again, str) else ctx.t("command.forbidden")),))
    return Finish(
        say=(Reply(ctx.t("questions.answered", id=question_id, name=quoted(artisan.name))),)
    )


async def _reply(ctx: Context, argument: str) -> list[Reply] | Start:
    """``/reply 12 <answer>``; without an answer (or from the "Answer" button) it asks."""
    number, _, text = argument.strip().partition(" ")
    question_id = _question_id(number)
    if question_id is None:
        return [Reply(ctx.t("questions.reply_usage"))]
    found = await _open_question(ctx, question_id)
    if isinstance(found, str):
        return [Reply(found)]
    if not text.strip():
        return Start(REPLY, {"question": question_id})
    outcome = await _answer(ctx, question_id, text)
    assert isinstance(outcome, Ask | Finish)
    return as_command_replies(outcome)


COMMANDS: dict[str, Command] = {
    "questions": Command(STAFF, lambda ctx, _arg: list_open(ctx), N_("questions.help_questions")),
    "reply": Command(
        STAFF, _reply, N_("questions.help_reply"), button=True, words=("reply", "jibu")
    ),
}


# --- question_reply: the answer, asked for -----------------------------------------------------


class Replying(StrEnum):
    ANSWER = "answer"
    DONE = DONE


REPLY_TABLE: dict[Replying, frozenset[Replying]] = {
    Replying.ANSWER: frozenset({Replying.DONE}),
    Replying.DONE: frozenset(),
}


async def _ask_answer(ctx: Context) -> Reply:
    question = await ctx.session.get(Question, ctx.data["question"])
    assert question is not None
    artisan = await ctx.session.get(Person, question.artisan_id)
    assert artisan is not None
    return Reply(
        ctx.t("questions.ask_answer", max=MAX_QUESTION_LENGTH, **_asked(question, artisan))
    )


async def _on_answer(ctx: Context, answer: Answer) -> Outcome:
    return await _answer(ctx, int(ctx.data["question"]), answer.text)


REPLY_FLOW = Flow(
    name=REPLY,
    first=Replying.ANSWER,
    table=Transitions(REPLY, REPLY_TABLE),
    steps={Replying.ANSWER: Step(Expect.TEXT, _ask_answer, _on_answer)},
    diagram=Path(__file__).with_name("question_reply.mmd"),
)


# --- the reminder -----------------------------------------------------------------------------


async def queue_question_reminders(
    session: AsyncSession, *, catalogue: Catalogue, now: datetime, after: timedelta
) -> int:
    """Remind whoever answers a question (its area's field agents, else the admins), and the
    admins, of each question that has waited longer than ``after``: once per question, however
    often it runs. Returns how many messages were queued."""
    waiting = await questions_to_remind(session, now=now, after=after)
    if not waiting:
        return 0
    admins = list(
        await session.exec(select(Person).where(Person.role == Role.ADMIN).order_by(col(Person.id)))
    )
    sent = 0
    for question, artisan in waiting:
        assert question.id is not None
        _, people = await who_answers(session, question.area)
        told: set[int | None] = set()
        for person in [*people, *admins]:
            if person.id in told:
                continue
            told.add(person.id)
            text = catalogue.t(
                person.language,
                "questions.reminder",
                age=age(catalogue, person.language, now - question.asked_at),
                **_asked(question, artisan),
            )
            reply = Reply(text, choices=(_answer_button(catalogue, person.language, question.id),))
            sent += await tell(session, person, reply, now)
    await mark_reminded(session, [question for question, _ in waiting], now)
    return sent
