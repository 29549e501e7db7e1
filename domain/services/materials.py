"""Materials: what each artisan has in stock, and what they ask us for to finish their work."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.errors import DomainError, Forbidden
from domain.limits import MAX_MATERIAL_AMOUNT
from domain.model import (
    MATERIAL_REQUEST_TRANSITIONS,
    Allocation,
    AllocationStatus,
    MaterialRequest,
    MaterialRequestStatus,
    MaterialStock,
    Role,
)
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
    return request


async def fulfil_material_request(
    session: AsyncSession, *, request_id: int, by_id: int, now: datetime
) -> MaterialRequest:
    """A field agent or admin has handed the material over."""
    await person_in_role(session, by_id, STAFF, to="fulfil a material request")
    request = await load(session, MaterialRequest, request_id, what="material request")
    request.status = MATERIAL_REQUEST_TRANSITIONS.check(
        request.status, MaterialRequestStatus.FULFILLED
    )
    request.closed_at = now
    await session.flush()
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
    await session.flush()
    return request
