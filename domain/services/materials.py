"""Materials: what each artisan has in stock, and what they ask us for to finish their work."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain import events
from domain.errors import DomainError, Forbidden
from domain.limits import MAX_MATERIAL_AMOUNT
from domain.model import (
    MATERIAL_REQUEST_TRANSITIONS,
    AgentArea,
    Allocation,
    AllocationStatus,
    ComponentMaterial,
    Job,
    JobStatus,
    MaterialRequest,
    MaterialRequestStatus,
    MaterialStock,
    OrderLine,
    Person,
    Role,
)
from domain.model.materials import MAX_DECLINE_REASON
from domain.services.catalogue import clean_material
from domain.services.guards import InvalidField, clean_text, load, person_in_role

STAFF = frozenset({Role.FIELD_AGENT, Role.ADMIN})
MAX_QUANTITY = MAX_MATERIAL_AMOUNT


def _quantity(value: Decimal | int | str, *, material: str, allow_zero: bool) -> Decimal:
    try:
        quantity = Decimal(value)
    except (InvalidOperation, TypeError, ValueError) as exc:
        raise InvalidField(f"quantity of {material}", f"is not a number ({value!r})") from exc
    floor_ok = quantity >= 0 if allow_zero else quantity > 0
    if not quantity.is_finite() or not floor_ok or quantity > MAX_QUANTITY:
        bound = "zero or more" if allow_zero else "above zero"
        raise InvalidField(f"quantity of {material}", f"must be {bound} (got {value!r})")
    if quantity != quantity.quantize(Decimal("0.001")):
        raise InvalidField(f"quantity of {material}", "allows at most 3 decimal places")
    return quantity


async def report_stock(
    session: AsyncSession,
    *,
    artisan_id: int,
    material: str,
    quantity: Decimal | int | str,
    unit: str,
    now: datetime,
) -> MaterialStock:
    """The artisan says how much of a material they have now; it replaces the last report."""
    await person_in_role(session, artisan_id, {Role.ARTISAN}, to="report material stock")
    material = clean_material(material)
    amount = _quantity(quantity, material=material, allow_zero=True)
    unit = clean_text(unit, field=f"unit of {material}", max_length=12)
    stock = await session.get(MaterialStock, (artisan_id, material))
    if stock is None:
        stock = MaterialStock(
            artisan_id=artisan_id, material=material, quantity=amount, unit=unit, updated_at=now
        )
        session.add(stock)
    else:
        stock.quantity = amount
        stock.unit = unit
        stock.updated_at = now
    await session.flush()
    return stock


async def stock_of(session: AsyncSession, artisan_id: int) -> list[MaterialStock]:
    rows = await session.exec(
        select(MaterialStock)
        .where(MaterialStock.artisan_id == artisan_id)
        .order_by(col(MaterialStock.material))
    )
    return list(rows.all())


async def request_material(
    session: AsyncSession,
    *,
    artisan_id: int,
    material: str,
    quantity: Decimal | int | str,
    unit: str,
    now: datetime,
    allocation_id: int | None = None,
) -> MaterialRequest:
    """The artisan asks for material, optionally to finish one of their own active allocations."""
    await person_in_role(session, artisan_id, {Role.ARTISAN}, to="request materials")
    material = clean_material(material)
    amount = _quantity(quantity, material=material, allow_zero=False)
    unit = clean_text(unit, field=f"unit of {material}", max_length=12)
    if allocation_id is not None:
        allocation = await load(session, Allocation, allocation_id, what="allocation")
        if allocation.artisan_id != artisan_id:
            raise Forbidden(f"allocation {allocation_id} is someone else's work")
        if allocation.status is not AllocationStatus.ACTIVE:
            raise DomainError(
                f"allocation {allocation_id} is {allocation.status}; materials can only be "
                "requested for work in progress"
            )
    request = MaterialRequest(
        artisan_id=artisan_id,
        allocation_id=allocation_id,
        material=material,
        quantity=amount,
        unit=unit,
        created_at=now,
    )
    session.add(request)
    await session.flush()
    assert request.id is not None
    events.record(session, events.MaterialRequested(request_id=request.id, artisan_id=artisan_id))
    return request


async def agent_covers(session: AsyncSession, agent_id: int, area: str | None) -> bool:
    """Whether a field agent may act for an artisan in ``area``: they cover it, or they cover no
    area yet (then they work everywhere, as the lists of work to do show them everything)."""
    areas = {
        a.casefold()
        for a in await session.exec(select(AgentArea.area).where(AgentArea.agent_id == agent_id))
    }
    return not areas or (area or "").casefold() in areas


async def _staff_for(
    session: AsyncSession, request_id: int, by_id: int, *, to: str
) -> MaterialRequest:
    """The open-or-not request, once ``by_id`` is shown to be an admin or a field agent covering
    the artisan's area; locked, so two people answering at once cannot both close it."""
    staff = await person_in_role(session, by_id, STAFF, to=to)
    request = await load(
        session, MaterialRequest, request_id, what="material request", for_update=True
    )
    if staff.role is Role.FIELD_AGENT:
        artisan = await load(session, Person, request.artisan_id, what="person")
        if not await agent_covers(session, by_id, artisan.area):
            raise Forbidden(
                f"{staff.name} does not cover {artisan.area or 'no area'}, where material "
                f"request {request_id} was made; its area's field agent or an admin answers it"
            )
    return request


async def fulfil_material_request(
    session: AsyncSession, *, request_id: int, by_id: int, now: datetime
) -> MaterialRequest:
    """A field agent covering the artisan's area, or an admin, has handed the material over."""
    request = await _staff_for(session, request_id, by_id, to="fulfil a material request")
    request.status = MATERIAL_REQUEST_TRANSITIONS.check(
        request.status, MaterialRequestStatus.FULFILLED
    )
    request.closed_at = now
    request.closed_by = by_id
    await session.flush()
    events.record(
        session,
        events.MaterialHandedOver(
            request_id=request_id, artisan_id=request.artisan_id, by_id=by_id
        ),
    )
    return request


async def decline_material_request(
    session: AsyncSession, *, request_id: int, by_id: int, reason: str, now: datetime
) -> MaterialRequest:
    """A field agent covering the artisan's area, or an admin, cannot supply the material; the
    short ``reason`` is kept and told to the artisan."""
    reason = clean_text(reason, field="reason", max_length=MAX_DECLINE_REASON)
    request = await _staff_for(session, request_id, by_id, to="decline a material request")
    request.status = MATERIAL_REQUEST_TRANSITIONS.check(
        request.status, MaterialRequestStatus.DECLINED
    )
    request.closed_at = now
    request.closed_by = by_id
    request.decline_reason = reason
    await session.flush()
    events.record(
        session,
        events.MaterialRequestDeclined(
            request_id=request_id, artisan_id=request.artisan_id, by_id=by_id, reason=reason
        ),
    )
    return request


async def cancel_material_request(
    session: AsyncSession, *, request_id: int, by_id: int, now: datetime
) -> MaterialRequest:
    """The artisan who asked, or a field agent or admin, calls the request off."""
    request = await load(session, MaterialRequest, request_id, what="material request")
    if by_id != request.artisan_id:
        await person_in_role(session, by_id, STAFF, to="cancel another artisan's material request")
    request.status = MATERIAL_REQUEST_TRANSITIONS.check(
        request.status, MaterialRequestStatus.CANCELLED
    )
    request.closed_at = now
    request.closed_by = by_id
    await session.flush()
    if by_id == request.artisan_id:
        events.record(
            session,
            events.MaterialRequestWithdrawn(request_id=request_id, artisan_id=request.artisan_id),
        )
    return request


async def open_requests_of(session: AsyncSession, artisan_id: int) -> list[MaterialRequest]:
    """One artisan's requests nobody has answered yet, oldest first."""
    rows = await session.exec(
        select(MaterialRequest)
        .where(
            MaterialRequest.artisan_id == artisan_id,
            MaterialRequest.status == MaterialRequestStatus.OPEN,
        )
        .order_by(col(MaterialRequest.created_at), col(MaterialRequest.id))
    )
    return list(rows.all())


async def open_material_requests(
    session: AsyncSession, *, areas: list[str] | None = None, limit: int | None = None
) -> list[tuple[MaterialRequest, Person]]:
    """Requests nobody has answered yet, oldest first, with who asked; only artisans in
    ``areas`` (folded) when given."""
    statement = (
        select(MaterialRequest, Person)
        .join(Person, col(Person.id) == col(MaterialRequest.artisan_id))
        .where(MaterialRequest.status == MaterialRequestStatus.OPEN)
        .order_by(col(MaterialRequest.created_at), col(MaterialRequest.id))
    )
    if areas:
        statement = statement.where(func.lower(col(Person.area)).in_(areas))
    if limit is not None:
        statement = statement.limit(limit)
    return list((await session.exec(statement)).all())


@dataclass(frozen=True, slots=True)
class MaterialIssue:
    """One material of an order: what its jobs' bills of materials need, and what was handed
    over against requests made for those jobs (in the BOM's unit; requests in another unit are
    counted under their own)."""

    material: str
    unit: str
    needed: Decimal
    handed_over: Decimal


async def order_materials(session: AsyncSession, order_id: int) -> list[MaterialIssue]:
    """Per material, what the order's jobs need (pieces x quantity per piece, cancelled jobs
    left out) against what was handed over for allocations of those jobs; by material name."""
    needed: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    needs = await session.exec(
        select(Job.quantity, ComponentMaterial)
        .join(OrderLine, col(OrderLine.id) == col(Job.order_line_id))
        .join(ComponentMaterial, col(ComponentMaterial.component_id) == col(Job.component_id))
        .where(OrderLine.order_id == order_id, Job.status != JobStatus.CANCELLED)
    )
    for pieces, use in needs:
        needed[use.material, use.unit] += pieces * use.quantity_per_piece
    handed: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    given = await session.exec(
        select(MaterialRequest)
        .join(Allocation, col(Allocation.id) == col(MaterialRequest.allocation_id))
        .join(Job, col(Job.id) == col(Allocation.job_id))
        .join(OrderLine, col(OrderLine.id) == col(Job.order_line_id))
        .where(
            OrderLine.order_id == order_id,
            MaterialRequest.status == MaterialRequestStatus.FULFILLED,
        )
    )
    for request in given:
        handed[request.material, request.unit] += request.quantity
    return [
        MaterialIssue(material, unit, needed[material, unit], handed[material, unit])
        for material, unit in sorted(set(needed) | set(handed))
    ]
