"""A field agent checks finished work: one submission at a time, from photos.

The state table is ``TABLE`` below; ``qc_review.mmd`` draws it. The flow starts with a submission
already chosen (``conversations.agent.commands``: the next in the agent's queue, or the one a
"check it" button names) and shows it with its photos. The agent approves every piece, approves
some and rejects the rest with reasons, asks for better photos, or skips it. After each verdict
the next submission in the queue starts afresh — a new flow, so "back" can never carry one
submission's counts over to another — until the queue is empty.

The domain decides who may review (field agents only, never their own work); the artisan is told
the result by their own notification (``QcReviewed`` / ``BetterPhotosRequested``).
"""

from __future__ import annotations

import logging
import re
from enum import StrEnum
from pathlib import Path

from conversations.agent.queries import (
    SubmissionView,
    next_submission,
    parse_count,
    view_submission,
)
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
from conversations.formatting import written_date
from conversations.i18n import N_
from conversations.messages import Choice, Reply
from domain.errors import DomainError, Forbidden, IllegalTransition
from domain.model import QcReason
from domain.numbers import or_none, whole_number
from domain.services.work import request_better_photos, review_submission
from domain.statemachine import Transitions
from domain.text import clean_text, quoted

log = logging.getLogger(__name__)

NAME = "qc"
MAX_NOTE = 300
_SEPARATORS = re.compile(r"\s*(?:,|;|\band\b|\bna\b|\s)\s*", re.IGNORECASE)


class Qc(StrEnum):
    VERDICT = "verdict"
    PASSED = "passed"
    REASONS = "reasons"
    NOTE = "note"
    PHOTOS_NOTE = "photos_note"
    DONE = DONE


TABLE: dict[Qc, frozenset[Qc]] = {
    Qc.VERDICT: frozenset({Qc.PASSED, Qc.PHOTOS_NOTE, Qc.DONE}),
    Qc.PASSED: frozenset({Qc.REASONS, Qc.DONE}),
    Qc.REASONS: frozenset({Qc.NOTE}),
    Qc.NOTE: frozenset({Qc.DONE}),
    Qc.PHOTOS_NOTE: frozenset({Qc.DONE}),
    Qc.DONE: frozenset(),
}

REASONS: tuple[tuple[QcReason, str], ...] = (
    (QcReason.POOR_FINISH, N_("agent.qc.reason.poor_finish")),
    (QcReason.WRONG_SIZE, N_("agent.qc.reason.wrong_size")),
    (QcReason.BROKEN, N_("agent.qc.reason.broken")),
    (QcReason.WRONG_MATERIAL, N_("agent.qc.reason.wrong_material")),
    (QcReason.INCONSISTENT, N_("agent.qc.reason.inconsistent")),
    (QcReason.OTHER, N_("agent.qc.reason.other")),
)
_REASON_LABELS = dict(REASONS)


async def _submission(ctx: Context) -> SubmissionView:
    view = await view_submission(ctx, int(ctx.data["submission"]))
    assert view is not None  # submissions are never deleted
    return view


def _count(ctx: Context) -> int:
    return int(ctx.data["count"])


# --- what comes after a verdict --------------------------------------------------------------


async def _next(ctx: Context, said: tuple[Reply, ...]) -> Outcome:
    """The next submission in the queue, as a fresh flow; or the end, when there is none."""
    skipped: list[int] = list(ctx.data.get("skipped", []))
    following = await next_submission(ctx, skipped=skipped)
    if following is None:
        return Finish(say=(*said, Reply(ctx.t("agent.qc.queue_done"))))
    return Start(NAME, {"submission": following, "skipped": skipped}, say=said)


async def _refused(ctx: Context, exc: DomainError) -> Outcome:
    """A verdict the domain would not take: said politely, then on to the next submission."""
    submission_id = ctx.data["submission"]
    assert ctx.person is not None
    if isinstance(exc, IllegalTransition):
        # Another agent got there first, or the artisan is re-taking the photos.
        problem = ctx.t("agent.qc.no_longer_waiting", id=submission_id)
    elif isinstance(exc, Forbidden):
        log.warning(
            "QC of submission %s by person %s refused: %s", submission_id, ctx.person.id, exc
        )
        problem = ctx.t("command.forbidden")
    else:
        log.warning(
            "QC of submission %s by person %s failed: %s", submission_id, ctx.person.id, exc
        )
        problem = ctx.t("agent.qc.could_not_save", id=submission_id)
    return await _next(ctx, (Reply(problem),))


# --- verdict ----------------------------------------------------------------------------------


async def _show(ctx: Context) -> Reply:
    view = await _submission(ctx)
    ctx.data["count"] = view.submission.count
    lines = [
        ctx.t(
            "agent.qc.show",
            id=view.id,
            component=view.component.name,
            job=view.job.id,
            count=view.submission.count,
            artisan=quoted(view.artisan.name),
            workshop=quoted(view.workshop),
            area=quoted(view.artisan.area),
            sent=written_date(ctx.language, view.submission.submitted_at),
            due=written_date(ctx.language, view.allocation.due_date),
            photos=ctx.t("words.photos", count=len(view.photos)),
        )
    ]
    if view.submission.note:
        lines.append(ctx.t("agent.qc.artisan_note", note=quoted(view.submission.note)))
    lines.append(ctx.t("agent.qc.ask_verdict"))
    return Reply(
        "\n".join(lines),
        choices=(
            Choice("qcr:all", ctx.t("agent.qc.approve_all", count=view.submission.count)),
            Choice("qcr:some", ctx.t("agent.qc.approve_some")),
            Choice("qcr:photos", ctx.t("agent.qc.better_photos")),
            Choice("qcr:skip", ctx.t("agent.qc.skip")),
        ),
        media=view.photos,
    )


async def _on_verdict(ctx: Context, answer: Answer) -> Outcome:
    assert answer.choice is not None  # Expect.CHOICE
    match answer.choice.payload:
        case "qcr:all":
            return await _review(ctx, passed=_count(ctx), reasons=[], note=None)
        case "qcr:some":
            return Goto(Qc.PASSED)
        case "qcr:photos":
            return Goto(Qc.PHOTOS_NOTE)
        case "qcr:skip":
            ctx.data.setdefault("skipped", []).append(int(ctx.data["submission"]))
            return await _next(ctx, (Reply(ctx.t("agent.qc.skipped")),))
    return Ask(ctx.unclear(answer.text))


# --- approve some, reject the rest ---------------------------------------------------------


async def _ask_passed(ctx: Context) -> Reply:
    return Reply(ctx.t("agent.qc.ask_passed", count=_count(ctx)))


async def _on_passed(ctx: Context, answer: Answer) -> Outcome:
    count = _count(ctx)
    passed = parse_count(answer.text, most=count)
    if passed is None:
        return Ask(ctx.t("agent.qc.passed_invalid", count=count))
    if passed == count:
        return await _review(ctx, passed=count, reasons=[], note=None)
    ctx.data["passed"] = passed
    return Goto(Qc.REASONS)


async def _ask_reasons(ctx: Context) -> Reply:
    rejected = _count(ctx) - int(ctx.data["passed"])
    return Reply(
        ctx.t("agent.qc.ask_reasons", rejected=rejected),
        choices=tuple(
            Choice(f"qcr:reason:{reason.value}", ctx.t(msgid)) for reason, msgid in REASONS
        ),
    )


def _pick_reasons(ctx: Context, answer: Answer) -> list[str] | None:
    """Reasons by button, by number ("1,3") or by name; None if any part is not a reason."""
    if answer.choice is not None:
        return [answer.choice.payload.rsplit(":", 1)[1]]
    by_label = {choice.label.casefold(): choice for choice in ctx.choices}
    whole = " ".join(answer.text.split()).casefold()
    if whole in by_label:
        return [by_label[whole].payload.rsplit(":", 1)[1]]
    picked: list[str] = []
    for token in (tok for tok in _SEPARATORS.split(answer.text.strip()) if tok):
        number = or_none(whole_number, token, least=1, most=len(ctx.choices), strict=True)
        if number is not None:
            choice = ctx.choices[number - 1]
        elif token.casefold() in by_label:
            choice = by_label[token.casefold()]
        else:
            return None
        reason = choice.payload.rsplit(":", 1)[1]
        if reason not in picked:
            picked.append(reason)
    return picked or None


async def _on_reasons(ctx: Context, answer: Answer) -> Outcome:
    picked = _pick_reasons(ctx, answer)
    if not picked:
        return Ask(ctx.t("agent.qc.reasons_invalid", count=len(ctx.choices)))
    ctx.data["reasons"] = picked
    return Goto(Qc.NOTE)


async def _ask_note(ctx: Context) -> Reply:
    return Reply(
        ctx.t("agent.qc.ask_note"), choices=(Choice("qcr:nonote", ctx.t("agent.qc.no_note")),)
    )


def _note(ctx: Context, answer: Answer) -> str | Ask | None:
    """The note typed, None for "no note", or an ``Ask`` when it is too long to keep."""
    if answer.choice is not None and answer.choice.payload == "qcr:nonote":
        return None
    note = clean_text(answer.text)
    if len(note) > MAX_NOTE:
        return Ask(ctx.t("agent.qc.note_too_long", max=MAX_NOTE))
    return note


async def _on_note(ctx: Context, answer: Answer) -> Outcome:
    note = _note(ctx, answer)
    if isinstance(note, Ask):
        return note
    return await _review(
        ctx, passed=int(ctx.data["passed"]), reasons=list(ctx.data["reasons"]), note=note
    )


async def _review(ctx: Context, *, passed: int, reasons: list[str], note: str | None) -> Outcome:
    assert ctx.person is not None
    assert ctx.person.id is not None
    count = _count(ctx)
    try:
        review = await review_submission(
            ctx.session,
            submission_id=int(ctx.data["submission"]),
            reviewer_id=ctx.person.id,
            passed=passed,
            rejected=count - passed,
            reasons=[QcReason(reason) for reason in reasons],
            note=note,
            now=ctx.now,
        )
    except DomainError as exc:
        return await _refused(ctx, exc)
    view = await _submission(ctx)
    if review.rejected == 0:
        said = ctx.t("agent.qc.saved_all", count=review.passed, artisan=quoted(view.artisan.name))
    else:
        said = ctx.t(
            "agent.qc.saved_some",
            passed=review.passed,
            rejected=review.rejected,
            reasons=", ".join(ctx.t(_REASON_LABELS[QcReason(r)]) for r in reasons),
            due=written_date(ctx.language, review.rework_due_date)
            if review.rework_due_date
            else "-",
            artisan=quoted(view.artisan.name),
        )
    return await _next(ctx, (Reply(said),))


# --- better photos ----------------------------------------------------------------------------


async def _ask_photos_note(ctx: Context) -> Reply:
    return Reply(
        ctx.t("agent.qc.ask_photos_note"),
        choices=(Choice("qcr:nonote", ctx.t("agent.qc.no_note")),),
    )


async def _on_photos_note(ctx: Context, answer: Answer) -> Outcome:
    note = _note(ctx, answer)
    if isinstance(note, Ask):
        return note
    assert ctx.person is not None
    assert ctx.person.id is not None
    try:
        await request_better_photos(
            ctx.session,
            submission_id=int(ctx.data["submission"]),
            reviewer_id=ctx.person.id,
            note=note,
            now=ctx.now,
        )
    except DomainError as exc:
        return await _refused(ctx, exc)
    view = await _submission(ctx)
    said = ctx.t("agent.qc.photos_requested", artisan=quoted(view.artisan.name))
    return await _next(ctx, (Reply(said),))


FLOW = Flow(
    name=NAME,
    first=Qc.VERDICT,
    table=Transitions(NAME, TABLE),
    steps={
        Qc.VERDICT: Step(Expect.CHOICE, _show, _on_verdict),
        Qc.PASSED: Step(Expect.TEXT, _ask_passed, _on_passed),
        Qc.REASONS: Step(Expect.TEXT, _ask_reasons, _on_reasons),
        Qc.NOTE: Step(Expect.TEXT, _ask_note, _on_note),
        Qc.PHOTOS_NOTE: Step(Expect.TEXT, _ask_photos_note, _on_photos_note),
    },
    diagram=Path(__file__).with_name("qc_review.mmd"),
)
