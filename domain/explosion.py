"""Order explosion and back-scheduling, as pure functions over plain values.

An order line of N units of a product becomes one job per component of the product's bill of
materials: N x quantity-per-unit pieces. Every job is due early enough for the pieces to travel to
the central workshop (one day) and be assembled there (the product's assembly days) before the
order itself is due.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from domain.errors import DomainError, InvalidQuantity, Problem
from domain.limits import MAX_MONEY_CENTS, MAX_PIECES

TRANSIT_DAYS = 1
"""Days from an artisan's workshop to the central workshop."""

FACTORY_ZONE = ZoneInfo("Africa/Nairobi")
"""Where due dates are read; the composition root may pass another zone from settings."""


class MissingBom(DomainError):
    """An order names a product we do not know how to make."""

    def __init__(self, skus: Iterable[str]) -> None:
        self.skus = tuple(sorted(set(skus)))
        names = ", ".join(self.skus)
        super().__init__(
            f"no bill of materials for {names}: set the components of each product before "
            "confirming an order for it"
        )
        self.reasons = (Problem("no_bom", {"skus": self.skus}),)


@dataclass(frozen=True, slots=True)
class BomItem:
    component_id: int
    quantity_per_unit: int
    piece_rate_cents: int  # the component's rate now: what its job's pieces would be paid


@dataclass(frozen=True, slots=True)
class LineDemand:
    """One order line, as the explosion needs to see it."""

    line_id: int
    sku: str
    quantity: int
    assembly_days: int


@dataclass(frozen=True, slots=True)
class JobSpec:
    """The job a confirmed order line needs: ``quantity`` pieces of a component by ``due_date``."""

    order_line_id: int
    component_id: int
    quantity: int
    due_date: date


def factory_today(now: datetime, zone: tzinfo = FACTORY_ZONE) -> date:
    """The calendar day it is at the factory: in Nairobi 23:30 UTC is already tomorrow."""
    if now.tzinfo is None:
        raise ValueError("naive datetimes are ambiguous here: pass an aware datetime")
    return now.astimezone(zone).date()


def job_due_date(order_due: date, assembly_days: int) -> date:
    """Back-schedule a component from its order: leave time for transit, then assembly."""
    return order_due - timedelta(days=assembly_days + TRANSIT_DAYS)


def latest_start(job_due: date, lead_time_days: int) -> date:
    """The last day an artisan can start a job and still finish it in the standard lead time."""
    return job_due - timedelta(days=lead_time_days)


def is_at_risk(job_due: date, lead_time_days: int, today: date) -> bool:
    """A job is at risk once its latest start has passed: nobody can make it in time at par."""
    return latest_start(job_due, lead_time_days) < today


def line_problems(sku: str, quantity: int, bom: Sequence[BomItem]) -> list[str]:
    """Why ``quantity`` units of ``sku`` would make a job too big to take on; empty if none.

    A job may have at most ``MAX_PIECES`` pieces and pay at most ``MAX_MONEY_CENTS`` in all, so
    every count and every earning made from it stays within what the database holds.
    """
    most, pay = job_extremes(quantity, bom)
    problems = []
    if most > MAX_PIECES:
        problems.append(
            f"{quantity:,} units of {sku} make {most:,} pieces of one component, more than the "
            f"{MAX_PIECES:,} a job may have: split the order"
        )
    if pay > MAX_MONEY_CENTS:
        problems.append(
            f"{quantity:,} units of {sku} would pay {_kes(pay)} for one component's pieces, more "
            f"than the {_kes(MAX_MONEY_CENTS)} a job may pay: split the order"
        )
    return problems


def line_reasons(sku: str, quantity: int, bom: Sequence[BomItem]) -> list[Problem]:
    """``line_problems`` as facts people read in their language (``Problem`` codes
    ``too_many_pieces`` and ``too_much_pay``)."""
    most, pay = job_extremes(quantity, bom)
    reasons = []
    if most > MAX_PIECES:
        fields = {"sku": sku, "quantity": quantity, "pieces": most, "most": MAX_PIECES}
        reasons.append(Problem("too_many_pieces", fields))
    if pay > MAX_MONEY_CENTS:
        fields = {"sku": sku, "quantity": quantity, "cents": pay, "most_cents": MAX_MONEY_CENTS}
        reasons.append(Problem("too_much_pay", fields))
    return reasons


def job_extremes(quantity: int, bom: Sequence[BomItem]) -> tuple[int, int]:
    """The most pieces of one component, and the most one component's pieces pay, that
    ``quantity`` units of a product with ``bom`` make (a component listed twice counts once)."""
    pieces: dict[int, int] = {}
    rates: dict[int, int] = {}
    for item in bom:
        pieces[item.component_id] = pieces.get(item.component_id, 0) + item.quantity_per_unit
        rates[item.component_id] = item.piece_rate_cents
    most = max((quantity * per_unit for per_unit in pieces.values()), default=0)
    pay = max((quantity * n * rates[c] for c, n in pieces.items()), default=0)
    return most, pay


def _kes(cents: int) -> str:
    return f"KES {cents // 100:,}"


def explode(
    lines: Iterable[LineDemand],
    boms: Mapping[str, Sequence[BomItem]],
    order_due: date,
) -> list[JobSpec]:
    """Every job an order's lines need, one per (line, component), in line then component order.

    A component listed twice in a BOM is merged into one job for the line. A line whose product has
    no (or an empty) BOM, or that would make a job too big (``line_problems``), refuses the whole
    order: half an order is never produced.
    """
    lines = list(lines)
    missing = [line.sku for line in lines if not boms.get(line.sku)]
    if missing:
        raise MissingBom(missing)
    specs: list[JobSpec] = []
    for line in lines:
        if line.quantity <= 0:
            raise InvalidQuantity(f"{line.sku}: an order line needs at least one unit")
        pieces: dict[int, int] = {}
        for item in boms[line.sku]:
            if item.quantity_per_unit <= 0:
                raise InvalidQuantity(f"{line.sku}: a BOM line needs at least one piece per unit")
            pieces[item.component_id] = (
                pieces.get(item.component_id, 0) + line.quantity * item.quantity_per_unit
            )
        if problems := line_problems(line.sku, line.quantity, boms[line.sku]):
            raise InvalidQuantity("; ".join(problems)).because(
                *line_reasons(line.sku, line.quantity, boms[line.sku])
            )
        due = job_due_date(order_due, line.assembly_days)
        specs.extend(
            JobSpec(order_line_id=line.line_id, component_id=cid, quantity=qty, due_date=due)
            for cid, qty in sorted(pieces.items())
        )
    return specs
