"""Talk to a person: an artisan writes to their area's field agent (the admins when nobody
covers the area), and the answer comes back here, in their chat.

``write`` (what to ask, in one message) -> ``ask_a_person``: the question is numbered and goes,
with who asked and where, to whoever answers it (conversations/questions.py). Also started by
``/ask`` without words; ``/ask <question>`` sends it at once.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from conversations.flow import (
    DONE,
    Answer,
    Ask,
    Context,
    Expect,
    Finish,
    Flow,
    Outcome,
    Start,
    Step,
)
from conversations.formatting import me
from conversations.messages import Reply
from conversations.questions import too_long, who_answers
from domain.errors import Forbidden
from domain.limits import MAX_QUESTION_LENGTH
from domain.services.guards import InvalidField
from domain.services.questions import ask_a_person
from domain.statemachine import Transitions
from domain.text import quoted

NAME = "talk_to_person"


class Talk(StrEnum):
    WRITE = "write"
    DONE = DONE


TABLE: dict[Talk, frozenset[Talk]] = {
    Talk.WRITE: frozenset({Talk.DONE}),
    Talk.DONE: frozenset(),
}


async def menu_talk(ctx: Context) -> Start:
    return Start(NAME)


async def _whom(ctx: Context) -> str:
    """Who will read it, as the artisan is told: their field agent(s) by name, or the office."""
    assert ctx.person is not None
    agents, people = await who_answers(ctx.session, ctx.person.area)
    if agents:
        names = ", ".join(quoted(person.name) for person in people)
        return ctx.t("questions.whom_agent", names=names)
    return ctx.t("questions.whom_office")


async def _ask_question(ctx: Context) -> Reply:
    return Reply(ctx.t("questions.ask_question", whom=await _whom(ctx), max=MAX_QUESTION_LENGTH))


async def send_question(ctx: Context, text: str) -> Outcome:
    """Send the artisan's words as a question: ``Finish`` saying to whom, or ``Ask`` again."""
    words = text.strip()
    problem = too_long(ctx.t, words)
    if problem is not None:
        return Ask(problem)
    if not any(ch.isalnum() for ch in words):
        return Ask(ctx.t("questions.question_empty"))
    try:
        question = await ask_a_person(ctx.session, artisan_id=me(ctx), text=words, now=ctx.now)
    except Forbidden:
        return Finish(say=(Reply(ctx.t("command.forbidden")),))
    except InvalidField:
        return Ask(ctx.t("questions.question_empty"))
    whom = await _whom(ctx)
    return Finish(say=(Reply(ctx.t("questions.sent", id=question.id, whom=whom)),))


async def _on_question(ctx: Context, answer: Answer) -> Outcome:
    return await send_question(ctx, answer.text)


FLOW = Flow(
    name=NAME,
    first=Talk.WRITE,
    table=Transitions(NAME, TABLE),
    steps={Talk.WRITE: Step(Expect.TEXT, _ask_question, _on_question)},
    diagram=Path(__file__).with_name("talk_to_person.mmd"),
)
