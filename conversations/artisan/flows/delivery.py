"""An artisan arranges to get passed pieces to the central workshop: drop-off or pickup.

``method`` (drop-off in a time slot, or ask for a pickup) -> ``job`` (only when several jobs
have passed pieces waiting) -> ``quantity`` -> ``slot`` -> ``arrange_delivery``. The receipt at
the workshop later confirms the count and the earnings (see ``conversations/artisan/notices.py``).

Slots: the next few working days (Monday to Friday) at ``SLOT_HOURS`` in Nairobi time, at least
``SLOT_LEAD`` from now, so nobody books a slot that has already begun.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path

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
    Option,
    Outcome,
    Start,
    Step,
    pick_one_step,
)
from conversations.formatting import me, weekday_date_time
from conversations.i18n import N_
from conversations.messages import Choice, Reply
from conversations.quantity import means_all, quantity_question
from domain.errors import DomainError, Forbidden, InvalidQuantity, NotFound
from domain.explosion import FACTORY_ZONE
from domain.model import Allocation, Component, DeliveryMethod
from domain.quantities import allocation_progress
from domain.services.deliveries import arrange_delivery
from domain.statemachine import Transitions
from domain.text import quoted

NAME = "delivery"
SLOT_HOURS = (9, 14)  # the central workshop receives at 09:00 and 14:00, Nairobi time
SLOTS_OFFERED = 6
SLOT_LEAD = timedelta(hours=1)
WORKING_DAYS = frozenset({0, 1, 2, 3, 4})  # Monday to Friday


class Delivery(StrEnum):
    METHOD = "method"
    JOB = "job"
    QUANTITY = "quantity"
    SLOT = "slot"
    DONE = DONE


TABLE: dict[Delivery, frozenset[Delivery]] = {
    Delivery.METHOD: frozenset({Delivery.JOB, Delivery.QUANTITY}),
    Delivery.JOB: frozenset({Delivery.QUANTITY}),
    Delivery.QUANTITY: frozenset({Delivery.SLOT}),
    Delivery.SLOT: frozenset({Delivery.DONE}),
    Delivery.DONE: frozenset(),
}


def next_slots(now: datetime, count: int = SLOTS_OFFERED) -> list[datetime]:
    """The next ``count`` delivery slots (aware, UTC) on working days, in Nairobi hours."""
    local_day = now.astimezone(FACTORY_ZONE).date()
    slots: list[datetime] = []
    while len(slots) < count:
        if local_day.weekday() in WORKING_DAYS:
            for hour in SLOT_HOURS:
                start = datetime.combine(local_day, time(hour), tzinfo=FACTORY_ZONE)
                if start - SLOT_LEAD >= now and len(slots) < count:
                    slots.append(start.astimezone(UTC))
        local_day += timedelta(days=1)
    return slots


async def _deliverable(ctx: Context) -> list[tuple[Allocation, Component, int]]:
    """Active jobs with passed pieces not yet received or on their way, and how many; then
    lots of cancelled jobs with passed pieces, which are still delivered and paid."""
    lots = await active_allocations(ctx.session, me(ctx))
    lots += await cancelled_allocations(ctx.session, me(ctx))
    return [
        (allocation, component, progress.deliverable)
        for allocation, component, progress in lots
        if progress.deliverable > 0
    ]


async def menu_delivery(ctx: Context) -> list[Reply] | Start:
    if not await _deliverable(ctx):
        return [Reply(ctx.t("artisan.nothing_to_deliver"))]
    return Start(NAME)


async def _ask_method(ctx: Context) -> Reply:
    return Reply(
        ctx.t("artisan.delivery_how"),
        choices=(
            Choice("how:drop_off", ctx.t("artisan.delivery_drop_off")),
            Choice("how:pickup", ctx.t("artisan.delivery_pickup")),
        ),
    )


async def _on_method(ctx: Context, answer: Answer) -> Outcome:
    assert answer.choice is not None  # Expect.CHOICE
    ctx.data["method"] = answer.choice.payload.removeprefix("how:")
    work = await _deliverable(ctx)
    if not work:
        return Finish(say=(Reply(ctx.t("artisan.nothing_to_deliver")),))
    if len(work) == 1:
        ctx.data["allocation"] = work[0][0].id
        return Goto(Delivery.QUANTITY)
    return Goto(Delivery.JOB)


async def _jobs(ctx: Context) -> list[Option]:
    return [
        Option(str(allocation.id), job_label(ctx.t, allocation, component, ready))
        for allocation, component, ready in await _deliverable(ctx)
    ]


async def _on_job(ctx: Context, allocation_id: str) -> Outcome:
    ctx.data["allocation"] = int(allocation_id)
    return Goto(Delivery.QUANTITY)


async def _ready(ctx: Context) -> int:
    allocation = await ctx.session.get(Allocation, ctx.data["allocation"])
    if allocation is None or allocation.artisan_id != me(ctx):
        return 0
    return (await allocation_progress(ctx.session, ctx.data["allocation"])).deliverable


async def _ask_quantity(ctx: Context) -> Reply:
    ready = await _ready(ctx)
    return quantity_question(
        ctx,
        ctx.t("artisan.delivery_how_many", max=ready),
        Choice("qty:all", ctx.t("artisan.delivery_all", count=ready)),
    )


async def _on_quantity(ctx: Context, answer: Answer) -> Outcome:
    ready = await _ready(ctx)
    # A typed number is always the count ("1" is one piece); "all" or the button is all of them.
    count = one_number(answer.text)
    if count is None and means_all(answer, "qty:all"):
        count = ready
    if count is None or not 1 <= count <= ready:
        return Ask(ctx.t("artisan.delivery_count_invalid", max=ready))
    ctx.data["count"] = count
    return Goto(Delivery.SLOT)


async def _ask_slot(ctx: Context) -> Reply:
    msgid = (
        N_("artisan.delivery_when_drop_off")
        if ctx.data["method"] == DeliveryMethod.DROP_OFF
        else N_("artisan.delivery_when_pickup")
    )
    return Reply(
        ctx.t(msgid),
        choices=tuple(
            Choice(f"slot:{slot:%Y%m%d%H%M}", weekday_date_time(ctx.t, slot))
            for slot in next_slots(ctx.now)
        ),
    )


# Time words for a slot: the day, then the part of it, in either language ("kesho asubuhi").
_DAYS = {"today": 0, "leo": 0, "tomorrow": 1, "kesho": 1}
_PARTS = {"morning": 9, "asubuhi": 9, "afternoon": 14, "mchana": 14, "evening": None, "jioni": None}


def slot_in_words(text: str, now: datetime) -> datetime | str | None:
    """The offered slot "tomorrow morning" / "kesho asubuhi" / "leo mchana" names: its start; or
    "none" when the words name a day or part of it with no slot offered (an evening, a weekend);
    None when they name no time at all. A day alone is its first slot; a part alone is today's,
    else the next day's."""
    words = "".join(ch if ch.isalpha() else " " for ch in text.casefold()).split()
    days = [_DAYS[w] for w in words if w in _DAYS]
    parts = [_PARTS[w] for w in words if w in _PARTS]
    if not days and not parts:
        return None
    if len(set(days)) > 1 or len(set(parts)) > 1 or (parts and parts[0] is None):
        return "none"
    today = now.astimezone(FACTORY_ZONE).date()
    offered = next_slots(now)
    for slot in offered:
        local = slot.astimezone(FACTORY_ZONE)
        if days and (local.date() - today).days != days[0]:
            continue
        if parts and local.hour != parts[0]:
            continue
        return slot
    return "none"


async def _on_slot(ctx: Context, answer: Answer) -> Outcome:
    if answer.choice is None:  # typed: "kesho asubuhi", "tomorrow morning"
        named = slot_in_words(answer.text, ctx.now)
        if named is None:
            return Ask(ctx.unclear(answer.text))
        if isinstance(named, str):
            return Ask(ctx.t("input.slot_not_offered", text=quoted(answer.text)))
        slot = named
    else:
        slot = datetime.strptime(
            answer.choice.payload.removeprefix("slot:") + "+0000", "%Y%m%d%H%M%z"
        )
    if slot - SLOT_LEAD < ctx.now:  # the list was shown a while ago and this slot has begun
        return Ask(ctx.t("artisan.delivery_slot_passed"))
    allocation_id: int = ctx.data["allocation"]
    method = DeliveryMethod(ctx.data["method"])
    try:
        delivery = await arrange_delivery(
            ctx.session,
            allocation_id=allocation_id,
            artisan_id=me(ctx),
            method=method,
            slot_start=slot,
            quantity=ctx.data["count"],
            now=ctx.now,
        )
    except InvalidQuantity:
        return Finish(say=(Reply(ctx.t("artisan.delivery_count_changed")),))
    except Forbidden:
        return Finish(say=(Reply(ctx.t("command.forbidden")),))
    except (NotFound, DomainError):
        job = await job_number(ctx.session, allocation_id)
        return Finish(say=(Reply(ctx.t("artisan.job_closed", id=job)),))
    msgid = (
        N_("artisan.delivery_booked_drop_off")
        if method is DeliveryMethod.DROP_OFF
        else N_("artisan.delivery_booked_pickup")
    )
    return Finish(
        say=(
            Reply(
                ctx.t(
                    msgid,
                    job=await job_number(ctx.session, allocation_id),  # the number they know
                    count=delivery.declared_quantity,
                    when=weekday_date_time(ctx.t, slot),
                )
            ),
        )
    )


FLOW = Flow(
    name=NAME,
    first=Delivery.METHOD,
    table=Transitions(NAME, TABLE),
    steps={
        Delivery.METHOD: Step(Expect.CHOICE, _ask_method, _on_method),
        Delivery.JOB: pick_one_step(
            asks=N_("artisan.delivery_which_job"), prefix="job", options=_jobs, picked=_on_job
        ),
        Delivery.QUANTITY: Step(Expect.QUANTITY, _ask_quantity, _on_quantity),
        # TEXT: a slot by button, number, or time words ("tomorrow morning", "kesho asubuhi").
        Delivery.SLOT: Step(Expect.TEXT, _ask_slot, _on_slot),
    },
    diagram=Path(__file__).with_name("delivery.mmd"),
)
