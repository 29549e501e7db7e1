"""My optional answers: an artisan sees, changes or withdraws the two optional impact answers
they may have given at registration (income before joining; a woman-led workshop).

``review`` shows what they told (to them alone) with three choices: change the answers (the same
questions as at registration, conversations/flows/impact_questions.py, each skippable), remove
them (their consent withdrawn, the answers forgotten), or keep them. Nothing they say here is
ever shown to another artisan; staff reports use it only over groups of five or more.
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
    Goto,
    Outcome,
    Start,
    Step,
)
from conversations.flows import impact_questions
from conversations.formatting import me
from conversations.messages import Choice, Reply
from domain.services.impact_answers import (
    impact_answers,
    set_impact_answers,
    withdraw_impact_answers,
)
from domain.statemachine import Transitions

NAME = "optional_answers"
CHANGE, REMOVE, KEEP = "answers:change", "answers:remove", "answers:keep"


class Opt(StrEnum):
    REVIEW = "review"
    PRIOR_INCOME = "prior_income"
    WOMEN_LED = "women_led"
    DONE = DONE


TABLE: dict[Opt, frozenset[Opt]] = {
    Opt.REVIEW: frozenset({Opt.PRIOR_INCOME, Opt.DONE}),
    Opt.PRIOR_INCOME: frozenset({Opt.WOMEN_LED}),
    Opt.WOMEN_LED: frozenset({Opt.DONE}),
    Opt.DONE: frozenset(),
}


async def menu_optional_answers(ctx: Context) -> Start:
    return Start(NAME)


async def _ask_review(ctx: Context) -> Reply:
    answers = await impact_answers(ctx.session, me(ctx))
    return Reply(
        impact_questions.told(ctx, answers) + "\n\n" + ctx.t("impact.review_what"),
        choices=(
            Choice(CHANGE, ctx.t("impact.review_change")),
            Choice(REMOVE, ctx.t("impact.review_remove")),
            Choice(KEEP, ctx.t("impact.review_keep")),
        ),
    )


async def _on_review(ctx: Context, answer: Answer) -> Outcome:
    payload = answer.choice.payload if answer.choice is not None else None
    if payload == CHANGE:
        return Goto(Opt.PRIOR_INCOME)
    if payload == REMOVE:
        await withdraw_impact_answers(ctx.session, me(ctx))
        return Finish(say=(Reply(ctx.t("impact.answers_removed")),))
    if payload == KEEP:
        return Finish(say=(Reply(ctx.t("impact.answers_kept")),))
    return Ask(ctx.unclear(answer.text))


async def _on_prior_income(ctx: Context, answer: Answer) -> Outcome:
    understood, cents = impact_questions.read_prior_income(answer)
    if not understood:
        return Ask(ctx.t("impact.prior_income_invalid"))
    ctx.data[impact_questions.PRIOR_KEY] = cents
    return Goto(Opt.WOMEN_LED)


async def _on_women_led(ctx: Context, answer: Answer) -> Outcome:
    women_led = impact_questions.read_women_led(answer)
    if women_led is None:
        return Ask(ctx.unclear(answer.text))
    saved = await set_impact_answers(
        ctx.session,
        person_id=me(ctx),
        prior_income_cents=ctx.data.get(impact_questions.PRIOR_KEY),
        women_led=women_led,
        now=ctx.now,
    )
    told = impact_questions.told(ctx, saved)
    return Finish(say=(Reply(ctx.t("impact.answers_saved") + "\n" + told),))


FLOW = Flow(
    name=NAME,
    first=Opt.REVIEW,
    table=Transitions(NAME, TABLE),
    steps={
        Opt.REVIEW: Step(Expect.CHOICE, _ask_review, _on_review),
        Opt.PRIOR_INCOME: Step(Expect.TEXT, impact_questions.ask_prior_income, _on_prior_income),
        Opt.WOMEN_LED: Step(Expect.TEXT, impact_questions.ask_women_led, _on_women_led),
    },
    diagram=Path(__file__).with_name("optional_answers.mmd"),
)
