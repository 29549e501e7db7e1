"""A field agent visits a workshop and records how far an allocation has come.

Two small flows, each with its table and diagram beside it:

- ``visit_pick`` (``visit_pick.mmd``): work in progress in the agent's areas, to pick one from;
- ``visit`` (``visit.mmd``): one allocation, already chosen (picked, ``/visit 4`` or the button on
  the at-risk list): pieces done so far, photos if any (one or several messages, until "done"),
  and a note. ``record_visit`` keeps it, so admins see progress between offer and submission.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from pathlib import Path

from conversations.agent.queries import (
    AllocationView,
    allocations_to_visit,
    parse_count,
    progress_of,
    view_allocation,
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
    Option,
    Outcome,
    Step,
    pick_one_flow,
)
from conversations.formatting import written_date
from conversations.i18n import N_
from conversations.messages import Choice, Reply
from domain.errors import DomainError, Forbidden
from domain.services.visits import record_visit
from domain.statemachine import Transitions
from domain.text import clean_text, quoted

log = logging.getLogger(__name__)

PICK_NAME = "visit_pick"
NAME = "visit"
MAX_PHOTOS = 4  # what one visit's record keeps (domain.services.visits.PHOTO_REFS_LENGTH)
MAX_NOTE = 300


# --- picking an allocation -----------------------------------------------------------------


class Pick(StrEnum):
    ALLOCATION = "allocation"
    DONE = DONE


def _label(ctx: Context, view: AllocationView) -> str:
    return ctx.t(
        "agent.visit.choice",
        id=view.id,
        job=view.allocation.job_id,
        artisan=quoted(view.artisan.name),
        count=view.allocation.quantity,
        component=view.component.name,
        due=written_date(ctx.language, view.allocation.due_date),
    )


async def _allocations(ctx: Context) -> list[Option]:
    return [Option(view.id, _label(ctx, view)) for view in await allocations_to_visit(ctx)]


PICK_FLOW = pick_one_flow(
    PICK_NAME,
    step=Pick.ALLOCATION,
    asks=N_("agent.visit.ask_allocation"),
    none_left=N_("agent.visit.none_active"),
    prefix="vst",
    options=_allocations,
    target_flow=NAME,
    diagram=Path(__file__).with_name("visit_pick.mmd"),
)


# --- recording the visit -------------------------------------------------------------------


class Visit(StrEnum):
    DONE_SO_FAR = "done_so_far"
    PHOTOS = "photos"
    NOTE = "note"
    DONE = DONE


TABLE: dict[Visit, frozenset[Visit]] = {
    Visit.DONE_SO_FAR: frozenset({Visit.PHOTOS}),
    Visit.PHOTOS: frozenset({Visit.PHOTOS, Visit.NOTE}),
    Visit.NOTE: frozenset({Visit.DONE}),
    Visit.DONE: frozenset(),
}


async def _allocation(ctx: Context) -> AllocationView:
    view = await view_allocation(ctx, int(ctx.data["allocation"]))
    assert view is not None  # checked before the flow starts; allocations are never deleted
    return view


async def _ask_done(ctx: Context) -> Reply:
    view = await _allocation(ctx)
    passed, waiting = await progress_of(ctx, view.allocation)
    return Reply(
        ctx.t(
            "agent.visit.ask_done",
            id=view.id,
            job=view.allocation.job_id,
            artisan=quoted(view.artisan.name),
            area=quoted(view.artisan.area),
            count=view.allocation.quantity,
            component=view.component.name,
            due=written_date(ctx.language, view.allocation.due_date),
            passed=passed,
            waiting=waiting,
        )
    )


async def _on_done(ctx: Context, answer: Answer) -> Outcome:
    quantity = (await _allocation(ctx)).allocation.quantity
    done = parse_count(answer.text, most=quantity)
    if done is None:
        return Ask(ctx.t("agent.visit.done_invalid", count=quantity))
    ctx.data["done"] = done
    ctx.data["photos"] = []
    return Goto(Visit.PHOTOS)


async def _ask_photos(ctx: Context) -> Reply:
    photos: list[str] = ctx.data.get("photos", [])
    if not photos:
        return Reply(
            ctx.t("agent.visit.ask_photos", max=MAX_PHOTOS),
            choices=(Choice("vst:nophotos", ctx.t("agent.visit.no_photos")),),
        )
    return Reply(
        ctx.t("agent.visit.more_photos", count=len(photos), max=MAX_PHOTOS),
        choices=(Choice("vst:photosdone", ctx.t("agent.visit.photos_done")),),
    )


async def _on_photos(ctx: Context, answer: Answer) -> Outcome:
    if answer.media:
        if not all(item.is_image for item in answer.media):
            return Ask(ctx.t("agent.visit.photos_only"))
        photos: list[str] = ctx.data.setdefault("photos", [])
        if len(photos) + len(answer.media) > MAX_PHOTOS:
            return Ask(ctx.t("agent.visit.too_many_photos", max=MAX_PHOTOS))
        photos.extend(item.ref for item in answer.media)
        return Goto(Visit.PHOTOS)  # asked again, counting what came, until "done"
    if answer.choice is not None:
        return Goto(Visit.NOTE)
    return Ask(ctx.t("agent.visit.photos_expected"))


async def _ask_note(ctx: Context) -> Reply:
    return Reply(
        ctx.t("agent.visit.ask_note"),
        choices=(Choice("vst:nonote", ctx.t("agent.visit.no_note")),),
    )


async def _on_note(ctx: Context, answer: Answer) -> Outcome:
    note: str | None = None
    if answer.choice is None or answer.choice.payload != "vst:nonote":
        note = clean_text(answer.text)
        if len(note) > MAX_NOTE:
            return Ask(ctx.t("agent.visit.note_too_long", max=MAX_NOTE))
    assert ctx.person is not None
    assert ctx.person.id is not None
    allocation_id = int(ctx.data["allocation"])
    try:
        await record_visit(
            ctx.session,
            allocation_id=allocation_id,
            agent_id=ctx.person.id,
            pieces_done=int(ctx.data["done"]),
            note=note,
            photo_refs=list(ctx.data.get("photos", [])),
            now=ctx.now,
        )
    except Forbidden as exc:
        log.warning(
            "visit to allocation %s by person %s refused: %s", allocation_id, ctx.person.id, exc
        )
        return Finish(say=(Reply(ctx.t("command.forbidden")),))
    except DomainError as exc:
        log.warning(
            "visit to allocation %s by person %s failed: %s", allocation_id, ctx.person.id, exc
        )
        return Finish(say=(Reply(ctx.t("agent.visit.could_not_save", id=allocation_id)),))
    view = await _allocation(ctx)
    return Finish(
        say=(
            Reply(
                ctx.t(
                    "agent.visit.recorded",
                    done=int(ctx.data["done"]),
                    count=view.allocation.quantity,
                    component=view.component.name,
                    artisan=quoted(view.artisan.name),
                    photos=ctx.t("words.photos", count=len(ctx.data.get("photos", []))),
                )
            ),
        )
    )


FLOW = Flow(
    name=NAME,
    first=Visit.DONE_SO_FAR,
    table=Transitions(NAME, TABLE),
    steps={
        Visit.DONE_SO_FAR: Step(Expect.TEXT, _ask_done, _on_done),
        Visit.PHOTOS: Step(Expect.MEDIA, _ask_photos, _on_photos),
        Visit.NOTE: Step(Expect.TEXT, _ask_note, _on_note),
    },
    diagram=Path(__file__).with_name("visit.mmd"),
)
