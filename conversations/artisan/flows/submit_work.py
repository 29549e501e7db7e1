"""An artisan sends finished work for QC: which job, photos, how many pieces, confirm.

Three flows, each with its diagram beside this file:

- ``submit_work``: choose the job, when there are several; hands over to ``submit_photos``;
- ``submit_photos``: photos, the count, confirm -> ``domain.services.work.submit_work``;
- ``better_photos``: new photos for a submission the field agent could not judge
  -> ``add_photos`` (started by the ``morephotos:<id>`` button or ``PHOTOS <id>``).

Photos are collected until the artisan says "done" / "tayari" or taps Done, because an album
arrives as one message per photo. Photos sent when no question asked for one (``photos_sent``,
which the engine calls through the registry) start the same work with them attached: which job
(unless there is one), then straight to how many; the rest of the album is kept at either step.
Each photo moves the ``photos`` step to itself (so what was collected is saved) and gets a short
"got 3 photos" answer. Text where a photo is expected gets a hint; a file that is not a photo (a
PDF, a voice note) is refused politely and not kept.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select

from conversations.artisan.queries import active_allocations, cancelled_allocations
from conversations.artisan.views import job_label, job_number, one_number
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
from conversations.formatting import me, weekday_date
from conversations.messages import Choice, Reply
from conversations.queries import job_component
from domain.errors import CancelledWorkClosed, DomainError, Forbidden, InvalidQuantity, NotFound
from domain.explosion import factory_today
from domain.model import (
    Allocation,
    Component,
    Submission,
    SubmissionPhoto,
    SubmissionStatus,
)
from domain.quantities import allocation_progress
from domain.services.guards import InvalidField
from domain.services.work import MAX_PHOTOS_PER_SUBMISSION, PhotoRef, add_photos, submit_work
from domain.statemachine import Transitions

log = logging.getLogger(__name__)

NAME = "submit_work"
SUBMIT_PHOTOS = "submit_photos"
BETTER_PHOTOS = "better_photos"
DONE_WORDS = frozenset(
    {"done", "finished", "that's all", "tayari", "nimemaliza", "imekamilika", "maliza", "basi"}
)
_YES = frozenset({"yes", "y", "ok", "ndiyo", "ndio", "sawa"})


class Choose(StrEnum):
    JOB = "job"
    DONE = DONE


class Submit(StrEnum):
    PHOTOS = "photos"
    COUNT = "count"
    CONFIRM = "confirm"
    DONE = DONE


class Better(StrEnum):
    WHICH = "which"  # photos sent unasked while more than one thing could take them
    PHOTOS = "photos"
    DONE = DONE


CHOOSE_TABLE: dict[Choose, frozenset[Choose]] = {
    Choose.JOB: frozenset({Choose.JOB, Choose.DONE}),
    Choose.DONE: frozenset(),
}
SUBMIT_TABLE: dict[Submit, frozenset[Submit]] = {
    Submit.PHOTOS: frozenset({Submit.PHOTOS, Submit.COUNT}),
    Submit.COUNT: frozenset({Submit.COUNT, Submit.CONFIRM}),
    Submit.CONFIRM: frozenset({Submit.CONFIRM, Submit.DONE, Submit.COUNT}),
    Submit.DONE: frozenset(),
}
BETTER_TABLE: dict[Better, frozenset[Better]] = {
    Better.WHICH: frozenset({Better.WHICH, Better.PHOTOS, Better.DONE}),
    Better.PHOTOS: frozenset({Better.PHOTOS, Better.DONE}),
    Better.DONE: frozenset(),
}


async def _open_work(ctx: Context) -> list[tuple[Allocation, Component, int]]:
    """Active jobs with pieces still to submit, and how many; then lots of cancelled jobs
    whose grace for pieces already made still runs (jobs.cancel_job)."""
    today = factory_today(ctx.now)
    return [
        (allocation, component, progress.outstanding)
        for allocation, component, progress in await active_allocations(ctx.session, me(ctx))
        if progress.outstanding > 0
    ] + [
        (allocation, component, progress.outstanding)
        for allocation, component, progress in await cancelled_allocations(ctx.session, me(ctx))
        if progress.outstanding > 0
        and allocation.submit_by is not None
        and today <= allocation.submit_by
    ]


async def _closed_cancelled(ctx: Context) -> list[Reply]:
    """Why nothing can be submitted on lots of cancelled jobs whose grace is over."""
    today = factory_today(ctx.now)
    return [
        Reply(
            ctx.t(
                "artisan.cancelled_work_closed",
                job=allocation.job_id,
                component=component.name,
                date=weekday_date(ctx.t, allocation.submit_by),
            )
        )
        for allocation, component, progress in await cancelled_allocations(ctx.session, me(ctx))
        if progress.outstanding > 0
        and allocation.submit_by is not None
        and allocation.submit_by < today
    ]


async def menu_submit(ctx: Context) -> list[Reply] | Start:
    """The menu's "submit work": straight to the photos when there is one job, else choose."""
    work = await _open_work(ctx)
    if not work:
        return await _closed_cancelled(ctx) or [Reply(ctx.t("artisan.nothing_to_submit"))]
    if len(work) == 1:
        return Start(SUBMIT_PHOTOS, {"allocation": work[0][0].id})
    return Start(NAME)


async def photos_sent(ctx: Context) -> list[Reply] | Start:
    """Photos sent while no question asked for one. For a submission whose better photos a
    field agent asked for, they are its new photos (the ``better_photos`` flow, as the "Send new
    photos" button); with more than one such submission, or new work to submit as well, the
    artisan is asked which. Otherwise "submit finished work" with them attached, asking which job
    (unless there is only one) and then how many pieces, unless the caption says how many
    ("6 pieces", "vipande 6")."""
    if len(ctx.media) > MAX_PHOTOS_PER_SUBMISSION:
        return [Reply(ctx.t("artisan.photos_too_many_at_once", max=MAX_PHOTOS_PER_SUBMISSION))]
    photos = [[item.ref, item.content_type] for item in ctx.media]
    requested = await _photos_requested(ctx)
    work = await _open_work(ctx)
    if len(requested) == 1 and not work:
        return Start(
            BETTER_PHOTOS,
            {"submission": requested[0], "photos": photos},
            say=(Reply(ctx.t("input.photos_for_submission", id=requested[0])),),
            step=Better.PHOTOS,
        )
    if requested:
        data = {"photos": photos, "caption": ctx.caption}
        return Start(BETTER_PHOTOS, data, step=Better.WHICH)
    return await _new_work_with(ctx, photos, work)


async def _new_work_with(
    ctx: Context, photos: list[list[str]], work: list[tuple[Allocation, Component, int]]
) -> list[Reply] | Start:
    """Submit finished work with ``photos`` already sent: which job, then how many (or the
    count the caption gave, when it is one number that fits)."""
    if not work:
        return [Reply(ctx.t("artisan.photo_no_work"))]
    said = one_number(ctx.caption) if ctx.caption else None
    if len(work) > 1:
        return Start(NAME, {"photos": photos, **({"count": said} if said else {})})
    allocation, component, left = work[0]
    got = ctx.t(
        "artisan.photos_got_for_job",
        count=len(photos),
        id=allocation.job_id,
        component=component.name,
    )
    data: dict[str, Any] = {"allocation": allocation.id, "photos": photos}
    if said is not None and 1 <= said <= left:  # "6 pieces" in the caption: no need to ask
        data["count"] = said
        return Start(SUBMIT_PHOTOS, data, say=(Reply(got),), step=Submit.CONFIRM)
    return Start(SUBMIT_PHOTOS, data, say=(Reply(got),), step=Submit.COUNT)


async def _photos_requested(ctx: Context) -> list[int]:
    """The artisan's submissions a field agent asked better photos for, oldest first."""
    rows = await ctx.session.exec(
        select(Submission.id)
        .join(Allocation, col(Allocation.id) == col(Submission.allocation_id))
        .where(
            Allocation.artisan_id == me(ctx),
            Submission.status == SubmissionStatus.PHOTOS_REQUESTED,
        )
        .order_by(col(Submission.id))
    )
    return [submission_id for submission_id in rows if submission_id is not None]


async def start_better_photos(ctx: Context, submission_id: int) -> list[Reply] | Start:
    """New photos for one of the artisan's submissions still waiting for QC."""
    submission = await ctx.session.get(Submission, submission_id)
    allocation = (
        None if submission is None else await ctx.session.get(Allocation, submission.allocation_id)
    )
    if submission is None or allocation is None:
        return [Reply(ctx.t("artisan.submission_not_found", id=submission_id))]
    if allocation.artisan_id != me(ctx):
        log.warning(
            "person %s tried to add photos to submission %s of person %s",
            me(ctx),
            submission_id,
            allocation.artisan_id,
        )
        return [Reply(ctx.t("artisan.submission_not_yours", id=submission_id))]
    if submission.status not in (
        SubmissionStatus.PHOTOS_REQUESTED,
        SubmissionStatus.PENDING_REVIEW,
    ):
        return [Reply(ctx.t("artisan.photos_closed", id=submission_id))]
    return Start(BETTER_PHOTOS, {"submission": submission_id})


# --- choose the job -------------------------------------------------------------------------


async def _ask_job(ctx: Context) -> Reply:
    work = await _open_work(ctx)
    if not work:
        return Reply(ctx.t("artisan.nothing_to_submit"))
    count = len(_photos(ctx))
    return Reply(
        ctx.t("artisan.photos_which_job", count=count)
        if count
        else ctx.t("artisan.submit_which_job"),
        choices=tuple(
            Choice(f"job:{allocation.id}", job_label(ctx.t, allocation, component, left))
            for allocation, component, left in work
        ),
    )


async def _on_job(ctx: Context, answer: Answer) -> Outcome:
    if answer.media and ctx.choices:  # more of an album sent unasked: keep them too
        collected = await _collect(ctx, answer, room=MAX_PHOTOS_PER_SUBMISSION, step=Choose.JOB)
        assert collected is not None  # with media, never "done"
        return collected
    if answer.choice is None:
        if not ctx.choices:
            return Finish(say=(Reply(ctx.t("artisan.nothing_to_submit")),))
        return Ask(ctx.unclear(answer.text))
    allocation = int(answer.choice.payload.removeprefix("job:"))
    photos = _photos(ctx)
    said = ctx.data.get("count")  # the count a caption gave, if it fits this job
    left = {option.id: n for option, _, n in await _open_work(ctx)}.get(allocation, 0)
    if photos and isinstance(said, int) and 1 <= said <= left:
        data = {"allocation": allocation, "photos": photos, "count": said}
        return Start(SUBMIT_PHOTOS, data, step=Submit.CONFIRM)
    if photos:  # sent before the job was known: straight on to how many
        return Start(SUBMIT_PHOTOS, {"allocation": allocation, "photos": photos}, step=Submit.COUNT)
    return Start(SUBMIT_PHOTOS, {"allocation": allocation})


# --- photos, shared by submit_photos and better_photos -------------------------------------


def _photos(ctx: Context) -> list[list[str]]:
    collected: list[list[str]] = ctx.data.setdefault("photos", [])
    return collected


def _done_choice(ctx: Context) -> tuple[Choice, ...]:
    return (Choice("sub:done", ctx.t("artisan.photos_done")),) if _photos(ctx) else ()


def _said_done(answer: Answer) -> bool:
    if answer.choice is not None:
        return answer.choice.payload == "sub:done"
    return " ".join(answer.text.casefold().split()).strip(" .!") in DONE_WORDS


async def _collect(ctx: Context, answer: Answer, *, room: int, step: str) -> Outcome | None:
    """Keep the photos in this message (``Goto`` the same step), refuse other files or text;
    None when the artisan said they are done."""
    if answer.media:
        if not all(item.is_image for item in answer.media):
            return Ask(ctx.t("artisan.photo_not_image"))
        photos = _photos(ctx)
        if len(photos) + len(answer.media) > room:
            return Ask(ctx.t("artisan.photos_too_many", max=room))
        photos.extend([item.ref, item.content_type] for item in answer.media)
        return Goto(step)
    if _said_done(answer):
        if not _photos(ctx):
            return Ask(ctx.t("artisan.photos_none_yet"))
        return None
    return Ask(ctx.t("artisan.photos_hint"))


def _refs(data: dict[str, Any]) -> list[PhotoRef]:
    return [PhotoRef(ref, content_type) for ref, content_type in data.get("photos", [])]


async def _job(ctx: Context) -> tuple[Allocation, Component] | None:
    allocation = await ctx.session.get(Allocation, ctx.data["allocation"])
    if allocation is None or allocation.artisan_id != me(ctx):
        return None
    component = await job_component(ctx.session, allocation.job_id)
    return None if component is None else (allocation, component)


async def _ask_photos(ctx: Context) -> Reply:
    count = len(_photos(ctx))
    if count:
        return Reply(ctx.t("artisan.photos_got", count=count), choices=_done_choice(ctx))
    found = await _job(ctx)
    component = found[1].name if found else "-"
    return Reply(
        ctx.t("artisan.photos_ask", id=found[0].job_id if found else "-", component=component),
    )


async def _on_photos(ctx: Context, answer: Answer) -> Outcome:
    collected = await _collect(ctx, answer, room=MAX_PHOTOS_PER_SUBMISSION, step=Submit.PHOTOS)
    return Goto(Submit.COUNT) if collected is None else collected


async def _outstanding(ctx: Context) -> int:
    return (await allocation_progress(ctx.session, ctx.data["allocation"])).outstanding


async def _ask_count(ctx: Context) -> Reply:
    return Reply(ctx.t("artisan.count_ask", max=await _outstanding(ctx)))


async def _more_photos(ctx: Context, answer: Answer, step: Submit) -> Outcome:
    """Photos sent after the photos step (the rest of an album): kept, and the question again."""
    collected = await _collect(ctx, answer, room=MAX_PHOTOS_PER_SUBMISSION, step=step)
    if isinstance(collected, Goto):
        return Goto(step, say=(Reply(ctx.t("artisan.photos_kept", count=len(_photos(ctx)))),))
    assert collected is not None  # with media, never "done"
    return collected


async def _on_count(ctx: Context, answer: Answer) -> Outcome:
    if answer.media:
        return await _more_photos(ctx, answer, Submit.COUNT)
    most = await _outstanding(ctx)
    count = one_number(answer.text)
    if count is None or not 1 <= count <= most:
        return Ask(ctx.t("artisan.count_invalid", max=most))
    ctx.data["count"] = count
    return Goto(Submit.CONFIRM)


async def _ask_confirm(ctx: Context) -> Reply:
    found = await _job(ctx)
    return Reply(
        ctx.t(
            "artisan.submit_confirm",
            count=ctx.data["count"],
            component=found[1].name if found else "-",
            id=found[0].job_id if found else "-",
            photos=ctx.t("words.photos", count=len(_photos(ctx))),
        ),
        choices=(
            Choice("sub:yes", ctx.t("artisan.submit_yes")),
            Choice("sub:change", ctx.t("artisan.submit_change")),
        ),
    )


async def _on_confirm(ctx: Context, answer: Answer) -> Outcome:
    if answer.media:
        return await _more_photos(ctx, answer, Submit.CONFIRM)
    payload = answer.choice.payload if answer.choice is not None else None
    if payload is None and answer.text.casefold().strip(" .!") in _YES:
        payload = "sub:yes"
    if payload == "sub:change":
        return Goto(Submit.COUNT)
    if payload != "sub:yes":
        return Ask(ctx.unclear(answer.text))
    try:
        submission = await submit_work(
            ctx.session,
            allocation_id=ctx.data["allocation"],
            artisan_id=me(ctx),
            count=ctx.data["count"],
            photos=_refs(ctx.data),
            now=ctx.now,
        )
    except InvalidQuantity:
        return Goto(Submit.COUNT, say=(Reply(ctx.t("artisan.count_changed")),))
    except CancelledWorkClosed as closed:
        found = await _job(ctx)
        text = ctx.t(
            "artisan.cancelled_work_closed",
            job=found[0].job_id if found else "-",
            component=found[1].name if found else "-",
            date=weekday_date(ctx.t, closed.submit_by),
        )
        return Finish(say=(Reply(text),))
    except Forbidden:
        log.warning("person %s tried to submit on allocation %s", me(ctx), ctx.data["allocation"])
        return Finish(say=(Reply(ctx.t("command.forbidden")),))
    except (NotFound, DomainError):
        job = await job_number(ctx.session, ctx.data["allocation"])
        return Finish(say=(Reply(ctx.t("artisan.job_closed", id=job)),))
    return Finish(
        say=(Reply(ctx.t("artisan.submitted", id=submission.id, count=submission.count)),)
    )


# --- better photos --------------------------------------------------------------------------


async def _room_left(ctx: Context) -> int:
    existing = await ctx.session.exec(
        select(sa.func.count()).where(SubmissionPhoto.submission_id == ctx.data["submission"])
    )
    return max(0, MAX_PHOTOS_PER_SUBMISSION - int(existing.one()))


async def _ask_which(ctx: Context) -> Reply:
    """Photos sent unasked while several submissions wait for better photos (or new work could
    take them too): which one are they for?"""
    choices = [
        Choice(f"better:{submission_id}", ctx.t("input.photos_for_which", id=submission_id))
        for submission_id in await _photos_requested(ctx)
    ]
    if await _open_work(ctx):
        choices.append(Choice("better:new", ctx.t("input.photos_new_work")))
    return Reply(ctx.t("input.photos_which", count=len(_photos(ctx))), choices=tuple(choices))


async def _on_which(ctx: Context, answer: Answer) -> Outcome:
    if answer.media:  # the rest of the album: kept, and the question again
        collected = await _collect(ctx, answer, room=MAX_PHOTOS_PER_SUBMISSION, step=Better.WHICH)
        assert collected is not None  # with media, never "done"
        return collected
    if answer.choice is None:
        return Ask(ctx.unclear(answer.text))
    picked = answer.choice.payload.removeprefix("better:")
    photos = _photos(ctx)
    if picked == "new":
        ctx.caption = str(ctx.data.get("caption") or "")
        started = await _new_work_with(ctx, photos, await _open_work(ctx))
        if isinstance(started, Start):
            return started
        return Finish(say=tuple(started))
    submission_id = int(picked)
    if submission_id not in await _photos_requested(ctx):
        return Finish(say=(Reply(ctx.t("artisan.photos_closed", id=submission_id)),))
    ctx.data["submission"] = submission_id
    if len(photos) > await _room_left(ctx):
        return Ask(ctx.t("artisan.photos_too_many", max=await _room_left(ctx)))
    return Goto(Better.PHOTOS)


async def _ask_better(ctx: Context) -> Reply:
    count = len(_photos(ctx))
    if count:
        return Reply(ctx.t("artisan.photos_got", count=count), choices=_done_choice(ctx))
    return Reply(ctx.t("artisan.better_photos_ask", id=ctx.data["submission"]))


async def _on_better(ctx: Context, answer: Answer) -> Outcome:
    collected = await _collect(ctx, answer, room=await _room_left(ctx), step=Better.PHOTOS)
    if collected is not None:
        return collected
    submission_id: int = ctx.data["submission"]
    try:
        await add_photos(
            ctx.session,
            submission_id=submission_id,
            artisan_id=me(ctx),
            photos=_refs(ctx.data),
            now=ctx.now,
        )
    except Forbidden:
        log.warning("person %s tried to add photos to submission %s", me(ctx), submission_id)
        return Finish(say=(Reply(ctx.t("artisan.submission_not_yours", id=submission_id)),))
    except InvalidField:
        return Ask(ctx.t("artisan.photos_too_many", max=MAX_PHOTOS_PER_SUBMISSION))
    except DomainError:
        return Finish(say=(Reply(ctx.t("artisan.photos_closed", id=submission_id)),))
    return Finish(say=(Reply(ctx.t("artisan.photos_added", id=submission_id)),))


_HERE = Path(__file__).parent

FLOW = Flow(
    name=NAME,
    first=Choose.JOB,
    table=Transitions(NAME, CHOOSE_TABLE),
    # MEDIA: the rest of an album sent unasked arrives while the job is asked for.
    steps={Choose.JOB: Step(Expect.MEDIA, _ask_job, _on_job)},
    diagram=_HERE / "submit_work.mmd",
)
SUBMIT_PHOTOS_FLOW = Flow(
    name=SUBMIT_PHOTOS,
    first=Submit.PHOTOS,
    table=Transitions(SUBMIT_PHOTOS, SUBMIT_TABLE),
    steps={
        Submit.PHOTOS: Step(Expect.MEDIA, _ask_photos, _on_photos),
        # MEDIA: a photo sent late (the rest of an album) is kept, and the question asked again.
        Submit.COUNT: Step(Expect.MEDIA, _ask_count, _on_count),
        Submit.CONFIRM: Step(Expect.MEDIA, _ask_confirm, _on_confirm),
    },
    diagram=_HERE / "submit_photos.mmd",
)
BETTER_PHOTOS_FLOW = Flow(
    name=BETTER_PHOTOS,
    first=Better.PHOTOS,
    table=Transitions(BETTER_PHOTOS, BETTER_TABLE),
    steps={
        # MEDIA: the rest of an album sent unasked arrives while "which one?" is asked.
        Better.WHICH: Step(Expect.MEDIA, _ask_which, _on_which),
        Better.PHOTOS: Step(Expect.MEDIA, _ask_better, _on_better),
    },
    diagram=_HERE / "better_photos.mmd",
)
