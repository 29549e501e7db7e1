"""Answering artisans' material requests, which field agents and admins both do: the other side of
the artisan's materials flow (conversations/artisan/flows/materials.py).

- ``MaterialRequested``: the field agents covering the artisan's area hear what is asked, with
  "Handed over" (``handover:<id>``) and "Can't" (``cantsupply:<id>``) buttons; the admins hear it
  when nobody covers the area, so a request is never left unseen;
- "Handed over" (or ``/handover <id>``) records who handed it over and when
  (``fulfil_material_request``); "Can't" asks for a short reason (the ``material_decline`` flow,
  drawn in ``material_decline.mmd`` beside this file), or takes it typed:
  ``/cantsupply <id> <reason>`` (``decline_material_request``);
- ``MaterialHandedOver`` / ``MaterialRequestDeclined``: the artisan is told, in their language;
- ``MaterialRequestWithdrawn``: the artisan called it off; whoever heard of it hears that too;
- ``/materials``: open requests with their age, oldest first: in the agent's areas (everywhere for
  admins, and for agents who cover no area yet, as ``/pending`` does);
- ``queue_material_reminders``: the scheduler's daily nudge about requests waiting longer than
  ``MATERIAL_REQUEST_REMINDER_AFTER``, to whoever hears of new ones, once a day.

A field agent outside the artisan's area is refused politely; an artisan cannot run these
commands at all (and the domain refuses them too).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlmodel import col, func, select
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
from conversations.formatting import written_date
from conversations.i18n import N_, Catalogue
from conversations.messages import Choice, Reply
from conversations.notices import NoticeContext, NoticeTable, tell
from conversations.queries import agent_areas
from domain import events
from domain.errors import Forbidden, IllegalTransition
from domain.explosion import FACTORY_ZONE
from domain.limits import MAX_ID
from domain.model import (
    AgentArea,
    Allocation,
    Component,
    Job,
    Language,
    MaterialRequest,
    MaterialRequestStatus,
    OutboxMessage,
    Person,
    Role,
)
from domain.numbers import or_none, whole_number
from domain.services.guards import InvalidField
from domain.services.materials import (
    agent_covers,
    decline_material_request,
    fulfil_material_request,
    open_material_requests,
)
from domain.statemachine import Transitions
from domain.text import quoted

log = logging.getLogger(__name__)

STAFF = frozenset({Role.FIELD_AGENT, Role.ADMIN})
MAX_LISTED = 15
MAX_BUTTONS = 3
DECLINE = "material_decline"

_CLOSED: dict[MaterialRequestStatus, str] = {
    MaterialRequestStatus.FULFILLED: N_("materials.closed_fulfilled"),
    MaterialRequestStatus.DECLINED: N_("materials.closed_declined"),
    MaterialRequestStatus.CANCELLED: N_("materials.closed_cancelled"),
}


# --- words ------------------------------------------------------------------------------------


def _amount(value: Decimal) -> str:
    """``Decimal('2.500')`` -> ``2.5``."""
    return f"{value.normalize():f}"


def _asked(request: MaterialRequest) -> dict[str, object]:
    return {
        "id": request.id,
        "quantity": _amount(request.quantity),
        "unit": request.unit,
        "material": request.material,
    }


def age(catalogue: Catalogue, language: Language, waited: timedelta) -> str:
    """How long a request has waited: ``5h`` under a day, else ``2d 3h`` (``siku 2 saa 3``)."""
    hours = max(0, int(waited.total_seconds() // 3600))
    days, hours = divmod(hours, 24)
    if days:
        return catalogue.t(language, "materials.age_days", days=days, hours=hours)
    return catalogue.t(language, "materials.age_hours", hours=hours)


def _request_id(argument: str) -> int | None:
    """``12`` or ``#12`` as a number; None for anything else."""
    return or_none(whole_number, argument.strip().removeprefix("#"), most=MAX_ID, strict=True)


async def _for_job(session: AsyncSession, request: MaterialRequest) -> str | None:
    """The component of the allocation a request was made for, if any."""
    if request.allocation_id is None:
        return None
    row = (
        await session.exec(
            select(Component.name)
            .join(Job, col(Job.component_id) == col(Component.id))
            .join(Allocation, col(Allocation.job_id) == col(Job.id))
            .where(Allocation.id == request.allocation_id)
        )
    ).first()
    return row


# --- who answers ------------------------------------------------------------------------------


async def answerers(session: AsyncSession, area: str | None) -> list[Person]:
    """The field agents covering ``area``; the admins when nobody covers it."""
    if area:
        covering = list(
            await session.exec(
                select(Person)
                .join(AgentArea, col(AgentArea.agent_id) == Person.id)
                .where(func.lower(col(AgentArea.area)) == area.casefold())
                .where(Person.role == Role.FIELD_AGENT)
                .order_by(col(Person.id))
            )
        )
        if covering:
            return covering
    return list(
        await session.exec(select(Person).where(Person.role == Role.ADMIN).order_by(col(Person.id)))
    )


def _buttons(catalogue: Catalogue, language: Language, request_id: int) -> tuple[Choice, ...]:
    return (
        Choice(f"handover:{request_id}", catalogue.t(language, "materials.handover_button")),
        Choice(f"cantsupply:{request_id}", catalogue.t(language, "materials.cant_button")),
    )


# --- the list ---------------------------------------------------------------------------------


async def open_requests(ctx: Context) -> list[Reply]:
    """``/materials``: open requests, oldest first, with how long each has waited."""
    assert ctx.person is not None
    assert ctx.person.id is not None
    areas: list[str] = []
    if ctx.person.role is Role.FIELD_AGENT:
        areas = await agent_areas(ctx.session, ctx.person.id)
    rows = await open_material_requests(ctx.session, areas=areas or None, limit=MAX_LISTED + 1)
    if not rows:
        return [Reply(ctx.t("materials.none_open"))]
    lines = []
    for number, (request, artisan) in enumerate(rows[:MAX_LISTED], start=1):
        job = await _for_job(ctx.session, request)
        lines.append(
            ctx.t(
                "materials.open_line",
                number=number,
                name=quoted(artisan.name),
                area=quoted(artisan.area),
                age=age(ctx.catalogue, ctx.language, ctx.now - request.created_at),
                job=ctx.t("materials.for_job", component=job) if job else "",
                **_asked(request),
            )
        )
    text = ctx.t("materials.open_title") + "\n\n" + "\n".join(lines)
    if len(rows) > MAX_LISTED:
        text += "\n" + ctx.t("materials.open_more")
    # Both answers per request, as on the notice: handed over, or can't (which asks why).
    choices = tuple(
        choice
        for request, _ in rows[:MAX_BUTTONS]
        for choice in (
            Choice(
                f"handover:{request.id}",
                ctx.t("materials.handover_numbered", id=request.id),
            ),
            Choice(f"cantsupply:{request.id}", ctx.t("clarity.cant_numbered", id=request.id)),
        )
    )
    return [Reply(text, choices=choices)]


# --- handed over, or not ----------------------------------------------------------------------


async def _open_request(ctx: Context, request_id: int) -> MaterialRequest | str:
    """The open request this person may answer, or what to tell them instead."""
    request = await ctx.session.get(MaterialRequest, request_id)
    if request is None:
        return ctx.t("materials.not_found", id=request_id)
    if request.status is not MaterialRequestStatus.OPEN:
        return ctx.t(_CLOSED[request.status], id=request_id)
    assert ctx.person is not None
    assert ctx.person.id is not None
    if ctx.person.role is Role.FIELD_AGENT:
        artisan = await ctx.session.get(Person, request.artisan_id)
        area = None if artisan is None else artisan.area
        if not await agent_covers(ctx.session, ctx.person.id, area):
            return ctx.t("materials.not_your_area", id=request_id, area=quoted(area))
    return request


async def _refused(ctx: Context, request_id: int, exc: Exception) -> str:
    """What to say when the domain refused an answer made a moment ago (someone else closed the
    request first, or the agent's areas changed)."""
    assert ctx.person is not None
    log.info("material request %s: %s refused: %s", request_id, ctx.person.id, exc)
    found = await _open_request(ctx, request_id)
    return found if isinstance(found, str) else ctx.t("command.forbidden")


async def _handover(ctx: Context, argument: str) -> list[Reply]:
    """``/handover 12`` (or the "Handed over" button): the material is with the artisan."""
    request_id = _request_id(argument)
    if request_id is None:
        return [Reply(ctx.t("materials.handover_usage"))]
    found = await _open_request(ctx, request_id)
    if isinstance(found, str):
        return [Reply(found)]
    assert ctx.person is not None
    assert ctx.person.id is not None
    try:
        await fulfil_material_request(
            ctx.session, request_id=request_id, by_id=ctx.person.id, now=ctx.now
        )
    except (Forbidden, IllegalTransition) as exc:
        return [Reply(await _refused(ctx, request_id, exc))]
    artisan = await ctx.session.get(Person, found.artisan_id)
    name = quoted(None if artisan is None else artisan.name)
    return [Reply(ctx.t("materials.handed_over", name=name, **_asked(found)))]


async def _decline(ctx: Context, request_id: int, reason: str) -> Outcome:
    assert ctx.person is not None
    assert ctx.person.id is not None
    try:
        request = await decline_material_request(
            ctx.session, request_id=request_id, by_id=ctx.person.id, reason=reason, now=ctx.now
        )
    except InvalidField:
        return Ask(ctx.t("materials.reason_invalid"))
    except (Forbidden, IllegalTransition) as exc:
        return Finish(say=(Reply(await _refused(ctx, request_id, exc)),))
    artisan = await ctx.session.get(Person, request.artisan_id)
    name = quoted(None if artisan is None else artisan.name)
    return Finish(say=(Reply(ctx.t("materials.declined", name=name, **_asked(request))),))


async def _cant_supply(ctx: Context, argument: str) -> list[Reply] | Start:
    """``/cantsupply 12 <reason>``; without a reason (or from the "Can't" button) it asks."""
    number, _, reason = argument.strip().partition(" ")
    request_id = _request_id(number)
    if request_id is None:
        return [Reply(ctx.t("materials.cant_usage"))]
    found = await _open_request(ctx, request_id)
    if isinstance(found, str):
        return [Reply(found)]
    if not reason.strip():
        return Start(DECLINE, {"request": request_id})
    outcome = await _decline(ctx, request_id, reason)
    assert isinstance(outcome, Ask | Finish)
    return as_command_replies(outcome)


COMMANDS: dict[str, Command] = {
    "materials": Command(
        STAFF, lambda ctx, _arg: open_requests(ctx), N_("materials.help_materials")
    ),
    "handover": Command(STAFF, _handover, N_("materials.help_handover"), button=True),
    "cantsupply": Command(STAFF, _cant_supply, N_("materials.help_cantsupply"), button=True),
}


# --- material_decline: why not ----------------------------------------------------------------


class Decline(StrEnum):
    REASON = "reason"
    DONE = DONE


DECLINE_TABLE: dict[Decline, frozenset[Decline]] = {
    Decline.REASON: frozenset({Decline.DONE}),
    Decline.DONE: frozenset(),
}


async def _ask_reason(ctx: Context) -> Reply:
    request = await ctx.session.get(MaterialRequest, ctx.data["request"])
    assert request is not None
    artisan = await ctx.session.get(Person, request.artisan_id)
    name = quoted(None if artisan is None else artisan.name)
    return Reply(ctx.t("materials.reason_ask", name=name, **_asked(request)))


async def _on_reason(ctx: Context, answer: Answer) -> Outcome:
    return await _decline(ctx, int(ctx.data["request"]), answer.text)


DECLINE_FLOW = Flow(
    name=DECLINE,
    first=Decline.REASON,
    table=Transitions(DECLINE, DECLINE_TABLE),
    steps={Decline.REASON: Step(Expect.TEXT, _ask_reason, _on_reason)},
    diagram=Path(__file__).with_name("material_decline.mmd"),
)


# --- the notices ------------------------------------------------------------------------------


async def _material_requested(
    session: AsyncSession, event: events.MaterialRequested, ctx: NoticeContext
) -> int:
    request = await session.get(MaterialRequest, event.request_id)
    artisan = await session.get(Person, event.artisan_id)
    if request is None or artisan is None:
        return 0
    job = await _for_job(session, request)
    people = await answerers(session, artisan.area)
    if not people:
        log.warning("material request %s made but nobody can answer it", event.request_id)
    sent = 0
    for person in people:
        language = person.language
        text = ctx.catalogue.t(
            language,
            "materials.request_notice",
            name=quoted(artisan.name),
            area=quoted(artisan.area),
            job=ctx.catalogue.t(language, "materials.for_job", component=job) if job else "",
            **_asked(request),
        )
        reply = Reply(text, choices=_buttons(ctx.catalogue, language, event.request_id))
        sent += await tell(session, person, reply, ctx.now)
    return sent


async def _handed_over(
    session: AsyncSession, event: events.MaterialHandedOver, ctx: NoticeContext
) -> int:
    request = await session.get(MaterialRequest, event.request_id)
    artisan = await session.get(Person, event.artisan_id)
    staff = await session.get(Person, event.by_id)
    if request is None or artisan is None:
        return 0
    text = ctx.catalogue.t(
        artisan.language,
        "materials.handed_over_artisan",
        by=quoted(None if staff is None else staff.name),
        **_asked(request),
    )
    return await tell(session, artisan, Reply(text), ctx.now)


async def _declined(
    session: AsyncSession, event: events.MaterialRequestDeclined, ctx: NoticeContext
) -> int:
    request = await session.get(MaterialRequest, event.request_id)
    artisan = await session.get(Person, event.artisan_id)
    if request is None or artisan is None:
        return 0
    text = ctx.catalogue.t(
        artisan.language,
        "materials.declined_artisan",
        reason=quoted(event.reason),
        **_asked(request),
    )
    return await tell(session, artisan, Reply(text), ctx.now)


async def _withdrawn(
    session: AsyncSession, event: events.MaterialRequestWithdrawn, ctx: NoticeContext
) -> int:
    request = await session.get(MaterialRequest, event.request_id)
    artisan = await session.get(Person, event.artisan_id)
    if request is None or artisan is None:
        return 0
    sent = 0
    for person in await answerers(session, artisan.area):
        text = ctx.catalogue.t(
            person.language,
            "materials.withdrawn_notice",
            name=quoted(artisan.name),
            area=quoted(artisan.area),
            **_asked(request),
        )
        sent += await tell(session, person, Reply(text), ctx.now)
    return sent


NOTICES: NoticeTable = {
    events.MaterialRequested: _material_requested,
    events.MaterialRequestWithdrawn: _withdrawn,
    events.MaterialHandedOver: _handed_over,
    events.MaterialRequestDeclined: _declined,
}


# --- the reminder -----------------------------------------------------------------------------


async def queue_material_reminders(
    session: AsyncSession,
    *,
    catalogue: Catalogue,
    now: datetime,
    after: timedelta,
    zone: ZoneInfo = FACTORY_ZONE,
) -> int:
    """Remind whoever answers an area's requests (its field agents, else the admins) of the
    requests there that have waited longer than ``after``: one message each, at most once a
    day per person and wording, however often it runs (the wording names the day each request
    was made, not its age in hours, so a re-run the same day says the same). Returns how many
    were queued."""
    waiting = [
        (request, artisan)
        for request, artisan in await open_material_requests(session)
        if now - request.created_at > after
    ]
    by_person: dict[int, tuple[Person, list[tuple[MaterialRequest, Person]]]] = {}
    for request, artisan in waiting:
        for person in await answerers(session, artisan.area):
            assert person.id is not None
            by_person.setdefault(person.id, (person, []))[1].append((request, artisan))
    local = now.astimezone(zone)
    day_start = datetime.combine(local.date(), datetime.min.time(), tzinfo=zone)
    sent = 0
    for person, rows in by_person.values():
        reply = _reminder(catalogue, person.language, rows, after=after)
        if await _told_since(session, person, reply, day_start):
            continue
        sent += await tell(session, person, reply, now)
    return sent


def _reminder(
    catalogue: Catalogue,
    language: Language,
    rows: Sequence[tuple[MaterialRequest, Person]],
    *,
    after: timedelta,
) -> Reply:
    lines = [
        catalogue.t(
            language,
            "materials.reminder_line",
            name=quoted(artisan.name),
            area=quoted(artisan.area),
            since=written_date(language, request.created_at),
            **_asked(request),
        )
        for request, artisan in rows[:MAX_LISTED]
    ]
    head = catalogue.t(
        language, "materials.reminder", count=len(rows), after=age(catalogue, language, after)
    )
    choices = tuple(
        choice
        for request, _ in rows[:1]
        if request.id is not None
        for choice in _buttons(catalogue, language, request.id)
    )
    return Reply("\n".join([head, *lines]), choices=choices)


async def _told_since(session: AsyncSession, person: Person, reply: Reply, since: datetime) -> bool:
    earlier = await session.exec(
        select(OutboxMessage.id).where(
            OutboxMessage.person_id == person.id,
            col(OutboxMessage.created_at) >= since,
            OutboxMessage.body == reply.to_json(),
        )
    )
    return earlier.first() is not None
