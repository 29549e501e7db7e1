"""Assembly at the central workshop, which admins and the field agents working there both do.

- ``/assembly`` lists the order lines with units ready to assemble: every component of them
  received (``units x pieces per unit <= received``) and not yet assembled, each (the first
  ``MAX_BUTTONS``) with an "Assemble" button that runs ``/assemble LINE`` (``/assemble LINE
  UNITS`` with the units ready now when only part of the line is);
- ``/assemble <line> [units]`` (or the "Assemble" button on the notice that a line's components
  are all in) records units assembled, by default every unit the components allow; the line's
  assembled count grows until it reaches the ordered quantity, and the last unit of the order's
  last line makes the order ready to ship;
- ``OrderReady``: the admins hear the order is assembled, with a button that ships it.

Staff at the workshop are admins and field agents marked ``at_workshop`` (``/workshop``, or
``karakana people add --at-workshop``); anyone else is told politely that it is not theirs to do.
Shared by the agent and admin roles, so it sits beside ``verification`` rather than in either.
"""

from __future__ import annotations

import logging

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations.flow import Command, Context
from conversations.i18n import N_, Catalogue
from conversations.messages import Choice, Reply
from conversations.notices import NoticeContext, NoticeTable, tell
from domain import events
from domain.errors import DomainError, NotFound
from domain.limits import MAX_ID, MAX_PIECES
from domain.model import (
    Assembly,
    Customer,
    NameKind,
    Order,
    OrderLine,
    OrderStatus,
    Person,
    Product,
    Role,
)
from domain.numbers import or_none, whole_number
from domain.services.deliveries import (
    WORKSHOP_STAFF,
    FullyAssembled,
    LineAssembly,
    MoreThanOrdered,
    NotAssemblable,
    Shortage,
    line_assembly,
    record_assembly,
)
from domain.text import quoted

log = logging.getLogger(__name__)

MAX_LISTED = 20
MAX_BUTTONS = 10  # one "Assemble" button per listed line, up to a list WhatsApp can show


def at_workshop(person: Person | None) -> bool:
    """Whether ``person`` works at the central workshop: an admin, or a field agent marked so."""
    return person is not None and (
        person.role is Role.ADMIN or (person.role is Role.FIELD_AGENT and person.at_workshop)
    )


def _number(token: str, *, most: int) -> int | None:
    return or_none(whole_number, token.removeprefix("#"), most=most, least=1, strict=True)


def _missing(ctx: Context, shortages: tuple[Shortage, ...]) -> str:
    return "\n".join(
        ctx.t(
            "assembly.missing_line",
            code=s.code,
            name=ctx.catalogue.name(ctx.language, NameKind.COMPONENT, s.code),
            received=s.received,
            needed=s.needed,
        )
        for s in shortages
    )


async def _product(session: AsyncSession, line: OrderLine) -> str:
    product = await session.get(Product, line.product_id)
    return product.sku if product is not None else "-"  # a ``product``: named per language


async def _ready_lines(session: AsyncSession) -> list[LineAssembly]:
    """Lines of orders in production with units ready to assemble, oldest order first."""
    rows = await session.exec(
        select(OrderLine.id)
        .join(Order, col(Order.id) == col(OrderLine.order_id))
        .where(Order.status == OrderStatus.IN_PRODUCTION)
        .where(col(OrderLine.assembled_quantity) < col(OrderLine.quantity))
        .order_by(col(Order.due_date), col(OrderLine.id))
    )
    ready = []
    for line_id in rows.all():
        assert line_id is not None
        state = await line_assembly(session, line_id)
        if state.assemblable > 0:
            ready.append(state)
    return ready


async def _assembly(ctx: Context, _argument: str) -> list[Reply]:
    if not at_workshop(ctx.person):
        return [Reply(ctx.t("assembly.not_at_workshop"))]
    ready = await _ready_lines(ctx.session)
    if not ready:
        return [Reply(ctx.t("assembly.none_ready"))]
    lines = []
    for state in ready[:MAX_LISTED]:
        lines.append(
            ctx.t(
                "assembly.ready_line",
                line=state.line.id,
                id=state.order.id,
                order=quoted(state.order.reference),
                product=await _product(ctx.session, state.line),
                assembled=state.assembled,
                ordered=state.ordered,
                ready=state.assemblable,
            )
        )
    if len(ready) > MAX_LISTED:
        lines.append(ctx.t("assembly.more", count=len(ready) - MAX_LISTED))
    text = ctx.t("assembly.ready_title", count=len(ready)) + "\n\n" + "\n".join(lines)
    buttons = tuple(_assemble_button(ctx, state) for state in ready[:MAX_BUTTONS])
    return [Reply(text + "\n\n" + ctx.t("assembly.ready_hint"), choices=buttons)]


def _assemble_button(ctx: Context, state: LineAssembly) -> Choice:
    """The line's "Assemble" button: the same as ``/assemble LINE`` when every unit left is
    ready, else ``/assemble LINE UNITS`` for the units whose components are in now."""
    line = state.line.id
    left = state.ordered - state.assembled
    payload = f"assemble:{line}"
    if state.assemblable < left:
        payload += f":{state.assemblable}"
    return Choice(payload, ctx.t("shipping.assemble_button", line=line, units=state.assemblable))


async def _assemble(ctx: Context, argument: str) -> list[Reply]:
    person = ctx.person
    if not at_workshop(person):
        return [Reply(ctx.t("assembly.not_at_workshop"))]
    assert person is not None
    assert person.id is not None
    match argument.split():
        case [line_token]:
            line_id, units = _number(line_token, most=MAX_ID), None
            if line_id is None:
                return [Reply(ctx.t("assembly.assemble_usage"))]
        case [line_token, units_token]:
            line_id = _number(line_token, most=MAX_ID)
            units = _number(units_token, most=MAX_PIECES)
            if line_id is None or units is None:
                return [Reply(ctx.t("assembly.assemble_usage"))]
        case _:
            return [Reply(ctx.t("assembly.assemble_usage"))]
    try:
        async with ctx.session.begin_nested():  # a refusal leaves nothing half-made
            assembly = await record_assembly(
                ctx.session, order_line_id=line_id, recorded_by=person.id, now=ctx.now, units=units
            )
    except NotFound:
        return [Reply(ctx.t("assembly.line_not_found", line=line_id))]
    except FullyAssembled as done:
        return [Reply(ctx.t("assembly.fully_assembled", line=line_id, quantity=done.quantity))]
    except MoreThanOrdered as more:
        return [
            Reply(
                ctx.t("assembly.more_than_ordered", line=line_id, asked=units, left=more.remaining)
            )
        ]
    except NotAssemblable as short:
        msgid = N_("assembly.nothing_ready") if short.assemblable == 0 else N_("assembly.too_many")
        head = ctx.t(msgid, line=line_id, asked=short.asked, ready=short.assemblable)
        return [Reply(head + "\n" + _missing(ctx, short.missing))]
    except DomainError as exc:  # the order is not in production (cancelled, already ready)
        log.info("assembly of line %s by person %s refused: %s", line_id, person.id, exc)
        return [Reply(ctx.t("assembly.order_not_in_production", line=line_id))]
    line = await ctx.session.get(OrderLine, line_id)
    assert line is not None
    order = await ctx.session.get(Order, line.order_id)
    assert order is not None
    text = ctx.t(
        "assembly.assembled",
        units=assembly.units,
        product=await _product(ctx.session, line),
        line=line_id,
        id=order.id,
        order=quoted(order.reference),
        assembled=line.assembled_quantity,
        ordered=line.quantity,
    )
    if order.status is OrderStatus.READY:
        # Whoever did it hears it once: an admin with the Ship button here (the notice goes to
        # the other admins, see ``_order_ready``), a workshop agent that the admins were told.
        said = {"id": order.id, "order": quoted(order.reference)}
        if person.role is Role.ADMIN:
            text += "\n" + ctx.t("polish.order_complete_ship", **said)
            return [Reply(text, choices=(_ship_button(ctx.catalogue, person, line.order_id),))]
        text += "\n" + ctx.t("assembly.order_complete", **said)
    elif line.assembled_quantity < line.quantity:
        left = line.quantity - line.assembled_quantity
        ready = (await line_assembly(ctx.session, line_id)).assemblable
        if ready > 0:  # some units were left for later though their components are in
            text += "\n" + ctx.t("assembly.still_ready_now", ready=ready, left=left)
        else:
            text += "\n" + ctx.t("assembly.still_to_do", left=left)
    return [Reply(text)]


COMMANDS: dict[str, Command] = {
    "assembly": Command(WORKSHOP_STAFF, _assembly, N_("assembly.help_assembly")),
    "assemble": Command(WORKSHOP_STAFF, _assemble, N_("assembly.help_assemble"), button=True),
}


# --- the notice -------------------------------------------------------------------------------


def _ship_button(catalogue: Catalogue, admin: Person, order_id: int) -> Choice:
    # ``/shipping N``: asks for the carrier and tracking first (conversations/admin/shipping.py).
    label = catalogue.t(admin.language, "assembly.notice.ship_button")
    return Choice(f"shipping:{order_id}", label)


async def _assembled_last_by(session: AsyncSession, order_id: int) -> int | None:
    """Who recorded the order's latest assembly: the one who made it ready."""
    rows = await session.exec(
        select(Assembly.recorded_by)
        .join(OrderLine, col(OrderLine.id) == col(Assembly.order_line_id))
        .where(OrderLine.order_id == order_id)
        .order_by(col(Assembly.id).desc())
        .limit(1)
    )
    return rows.first()


async def _order_ready(session: AsyncSession, event: events.OrderReady, ctx: NoticeContext) -> int:
    order = await session.get(Order, event.order_id)
    if order is None:
        return 0
    customer = await session.get(Customer, order.customer_id)
    admins = await session.exec(
        select(Person).where(Person.role == Role.ADMIN).order_by(col(Person.id))
    )
    # The admin who assembled the last unit was answered with the Ship button already.
    actor = await _assembled_last_by(session, event.order_id)
    sent = 0
    for admin in admins.all():
        if admin.id == actor:
            continue
        reply = Reply(
            ctx.catalogue.t(
                admin.language,
                "assembly.notice.order_ready",
                id=event.order_id,
                order=quoted(order.reference),
                customer=quoted(customer.name if customer is not None else None),
            ),
            choices=(_ship_button(ctx.catalogue, admin, event.order_id),),
        )
        sent += await tell(session, admin, reply, ctx.now)
    return sent


NOTICES: NoticeTable = {events.OrderReady: _order_ready}
