"""Questions to a person: an artisan's words reach their area's field agent (the admins when
nobody covers the area), and the answer comes back to the artisan's own chat.

- ``ask_a_person``: the question is stored, numbered (its id), with the artisan's area at the
  time, and ``QuestionAsked`` is recorded (conversations/questions.py tells whoever answers);
- ``answer_question``: a field agent covering that area, or any admin, answers it once;
  ``QuestionAnswered`` tells the artisan;
- ``open_questions``: what is still waiting, oldest first (in some areas, or everywhere);
- ``questions_to_remind`` / ``mark_reminded``: questions that waited longer than the setting
  ``QUESTION_REMINDER_AFTER`` and were not yet reminded about (once each).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain import events
from domain.errors import DomainError, Forbidden
from domain.limits import MAX_QUESTION_LENGTH
from domain.model import Person, Question, Role
from domain.services.guards import clean_text, load, person_in_role
from domain.services.materials import agent_covers

STAFF = frozenset({Role.FIELD_AGENT, Role.ADMIN})


class AlreadyAnswered(DomainError):
    """The question has its answer already; a second one is refused, not appended."""

    def __init__(self, question_id: int) -> None:
        super().__init__(f"question {question_id} has already been answered")
        self.question_id = question_id


async def ask_a_person(
    session: AsyncSession, *, artisan_id: int, text: str, now: datetime
) -> Question:
    """The artisan's question, stored with their area and numbered; refused when empty or longer
    than ``MAX_QUESTION_LENGTH``."""
    artisan = await person_in_role(session, artisan_id, {Role.ARTISAN}, to="ask a person")
    words = clean_text(text, field="question", max_length=MAX_QUESTION_LENGTH)
    question = Question(artisan_id=artisan_id, area=artisan.area, text=words, asked_at=now)
    session.add(question)
    await session.flush()
    assert question.id is not None
    events.record(session, events.QuestionAsked(question_id=question.id, artisan_id=artisan_id))
    return question


async def may_answer(session: AsyncSession, staff: Person, question: Question) -> bool:
    """Admins answer any question; a field agent those of the areas they cover (every area
    while they cover none yet, as their lists of work show them everything)."""
    if staff.role is Role.ADMIN:
        return True
    assert staff.id is not None
    return staff.role is Role.FIELD_AGENT and await agent_covers(session, staff.id, question.area)


async def answer_question(
    session: AsyncSession, *, question_id: int, by_id: int, text: str, now: datetime
) -> Question:
    """``by_id``'s answer to an open question they may answer; locked, so two people answering
    at once cannot both answer it."""
    staff = await person_in_role(session, by_id, STAFF, to="answer artisans' questions")
    question = await load(session, Question, question_id, what="question", for_update=True)
    if not await may_answer(session, staff, question):
        raise Forbidden(f"question {question_id} is from an area person {by_id} does not cover")
    if question.answered_at is not None:
        raise AlreadyAnswered(question_id)
    question.answer = clean_text(text, field="answer", max_length=MAX_QUESTION_LENGTH)
    question.answered_by = by_id
    question.answered_at = now
    await session.flush()
    events.record(
        session,
        events.QuestionAnswered(
            question_id=question_id, artisan_id=question.artisan_id, by_id=by_id
        ),
    )
    return question


async def open_questions(
    session: AsyncSession, *, areas: Sequence[str] | None = None, limit: int | None = None
) -> list[tuple[Question, Person]]:
    """Questions nobody has answered yet, oldest first, with who asked; only those asked in
    ``areas`` (folded) when given."""
    statement = (
        select(Question, Person)
        .join(Person, col(Person.id) == col(Question.artisan_id))
        .where(col(Question.answered_at).is_(None))
        .order_by(col(Question.asked_at), col(Question.id))
    )
    if areas:
        statement = statement.where(func.lower(col(Question.area)).in_(list(areas)))
    if limit is not None:
        statement = statement.limit(limit)
    return list((await session.exec(statement)).all())


async def questions_to_remind(
    session: AsyncSession, *, now: datetime, after: timedelta
) -> list[tuple[Question, Person]]:
    """Open questions asked more than ``after`` ago that nobody was reminded of yet."""
    statement = (
        select(Question, Person)
        .join(Person, col(Person.id) == col(Question.artisan_id))
        .where(
            col(Question.answered_at).is_(None),
            col(Question.reminded_at).is_(None),
            col(Question.asked_at) <= now - after,
        )
        .order_by(col(Question.asked_at), col(Question.id))
    )
    return list((await session.exec(statement)).all())


async def mark_reminded(
    session: AsyncSession, questions: Sequence[Question], now: datetime
) -> None:
    """These questions' reminder has gone: they are not reminded about again."""
    for question in questions:
        question.reminded_at = now
    await session.flush()
