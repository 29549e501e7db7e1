"""The catalogue and order CSV formats: text in, validated specs out, every problem at once.

Parsing is pure: no session, no clock (the caller passes ``today`` and what the database already
holds). A file with any bad row is rejected as a whole with one ``CsvRejected`` that lists every
bad row's line number, column and reason, so the person fixing it sees everything in one go and
nothing half-imported is left behind. The formats are documented in docs/csv-formats.md.

Line numbers are the file's own: the header is line 1, blank lines count, and a quoted value that
spans lines is reported at the line where its record starts.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import TypeVar

from domain.csv_safety import csv_text, from_cell
from domain.errors import DomainError
from domain.errors import Problem as Fact
from domain.explosion import BomItem, line_problems, line_reasons
from domain.limits import (
    MAX_DAYS,
    MAX_MATERIAL_PER_PIECE,
    MAX_PIECE_RATE_CENTS,
    MAX_PIECES,
    MAX_PIECES_PER_UNIT,
    MAX_PRICE_CENTS,
)
from domain.model.orders import CustomerKind
from domain.numbers import NotAWholeNumber, Problem, whole_number
from domain.text import clean_text

T = TypeVar("T")

PRODUCT_COLUMNS = (
    "sku",
    "product_name",
    "wholesale_kes",
    "retail_kes",
    "assembly_days",
    "component_code",
    "component_name",
    "skill",
    "quantity_per_unit",
    "piece_rate_kes",
    "lead_time_days",
    "materials",
)
ORDER_COLUMNS = ("customer", "customer_kind", "reference", "due_date", "sku", "quantity")

# Columns that may be left empty; every other column needs a value on every row.
_OPTIONAL = frozenset({"materials"})

# The widths of the columns these values end up in (domain/model/).
_MAX_LENGTH = {
    "sku": 40,
    "product_name": 120,
    "component_code": 40,
    "component_name": 80,
    "skill": 40,
    "customer": 120,
    "reference": 60,
}
_MATERIAL_NAME_MAX = 40
_MATERIAL_UNIT_MAX = 12
_MATERIAL_DECIMALS = 4  # Numeric(12, 4) in component_material

_SKILL = re.compile(r"[a-z][a-z0-9_]*")
_DECIMAL = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


# --- what a problem looks like --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RowError:
    """One problem in one place of a CSV file; ``column`` is None when the whole row is wrong."""

    line: int
    column: str | None
    reason: str
    # The reason as facts, for people who read it in chat in their language (orders CSV).
    fact: Fact | None = field(default=None, compare=False)

    def __str__(self) -> str:
        where = f"line {self.line}" if self.column is None else f"line {self.line}, {self.column}"
        return f"{where}: {self.reason}"


class CsvRejected(DomainError):
    """A CSV file had problems; none of it may be imported."""

    def __init__(self, what: str, errors: Sequence[RowError]) -> None:
        self.what = what
        self.errors: tuple[RowError, ...] = tuple(sorted(errors, key=lambda e: e.line))
        count = len(self.errors)
        problems = "problem" if count == 1 else "problems"
        listing = "\n".join(f"  {error}" for error in self.errors)
        super().__init__(f"{what} rejected: {count} {problems}, nothing was imported.\n{listing}")


# --- what a good file becomes ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MaterialSpec:
    material: str
    quantity: Decimal  # per piece of the component
    unit: str


@dataclass(frozen=True, slots=True)
class ComponentSpec:
    code: str
    name: str
    skill: str
    piece_rate_cents: int
    lead_time_days: int
    materials: tuple[MaterialSpec, ...]


@dataclass(frozen=True, slots=True)
class BomLineSpec:
    component_code: str
    quantity_per_unit: int


@dataclass(frozen=True, slots=True)
class ProductSpec:
    sku: str
    name: str
    wholesale_price_cents: int
    retail_price_cents: int
    assembly_days: int
    bom: tuple[BomLineSpec, ...]


@dataclass(frozen=True, slots=True)
class CatalogueSpec:
    """Products with their bills of materials, and every component they use."""

    products: tuple[ProductSpec, ...]
    components: tuple[ComponentSpec, ...]

    def component(self, code: str) -> ComponentSpec:
        for component in self.components:
            if component.code == code:
                return component
        raise KeyError(code)


@dataclass(frozen=True, slots=True)
class OrderLineSpec:
    sku: str
    quantity: int


@dataclass(frozen=True, slots=True)
class OrderSpec:
    customer: str
    customer_kind: CustomerKind
    reference: str
    due_date: date
    lines: tuple[OrderLineSpec, ...]
    line_numbers: tuple[int, ...]  # where each order line came from, for later error messages


# --- reading rows ---------------------------------------------------------------------------------


class _Bad(Exception):
    """A value that cannot be used; the message is the reason in English, ``fact`` the same
    for people reading it in their language."""

    def __init__(self, reason: str, fact: Fact | None = None) -> None:
        super().__init__(reason)
        self.fact = fact


class _Row:
    """One record with its line number; each typed getter records a RowError instead of raising."""

    def __init__(self, line: int, values: Mapping[str, str], errors: list[RowError]) -> None:
        self.line = line
        self.values = values
        self._errors = errors

    def error(self, column: str | None, reason: str, fact: Fact | None = None) -> None:
        self._errors.append(RowError(self.line, column, reason, fact))

    def get(self, column: str, parse: Callable[[str], T]) -> T | None:
        raw = self.values.get(column, "")
        if not raw and column not in _OPTIONAL:
            self.error(column, "missing value", Fact("csv.missing_value"))
            return None
        try:
            return parse(raw)
        except _Bad as bad:
            self.error(column, str(bad), bad.fact)
            return None

    def text(self, column: str) -> str | None:
        return self.get(column, lambda raw: _text(raw, _MAX_LENGTH.get(column, 200)))


def _records(text: str) -> Iterator[tuple[int, list[str]]]:
    """Non-blank records with the line each starts on; each cell as every free-text field is
    cleaned (domain/text.py), after undoing the quote an export puts before a formula-like
    value (domain/csv_safety.py), so an exported file imports as the same values."""
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    start = 1
    for record in reader:
        line, start = start, reader.line_num + 1
        cells = [clean_text(from_cell(cell.strip())) for cell in record]
        if any(cells):
            yield line, cells


def _rows(text: str, columns: Sequence[str], errors: list[RowError]) -> list[_Row]:
    """The data rows of ``text`` keyed by column; header problems end the reading early."""
    try:
        records = list(_records(text))
    except csv.Error as exc:
        errors.append(RowError(1, None, f"not readable as CSV ({exc})", Fact("csv.unreadable")))
        return []
    if not records:
        header_fact = Fact("csv.empty", {"header": ",".join(columns)})
        errors.append(
            RowError(
                1, None, f"the file is empty; the header must be {','.join(columns)}", header_fact
            )
        )
        return []
    header_line, header = records[0]
    names = [name.lower() for name in header]
    for name in sorted({n for n in names if names.count(n) > 1}):
        errors.append(
            RowError(
                header_line,
                name,
                "column appears more than once in the header",
                Fact("csv.column_twice"),
            )
        )
    for name in names:
        if name not in columns:
            errors.append(
                RowError(
                    header_line,
                    name or "(blank)",
                    f"unknown column; expected {','.join(columns)}",
                    Fact("csv.unknown_column", {"header": ",".join(columns)}),
                )
            )
    for name in columns:
        if name not in names:
            errors.append(RowError(header_line, name, "missing column", Fact("csv.missing_column")))
    if errors:
        return []
    rows = []
    for line, cells in records[1:]:
        row = _Row(line, dict(zip(names, cells, strict=False)), errors)
        if len(cells) > len(names):
            extra = [cell for cell in cells[len(names) :] if cell]
            if extra:
                row.error(
                    None,
                    f"{len(cells)} values but the header has {len(names)} columns",
                    Fact("csv.too_many_values", {"values": len(cells), "columns": len(names)}),
                )
        rows.append(row)
    if not rows:
        errors.append(
            RowError(header_line, None, "the file has a header but no rows", Fact("csv.no_rows"))
        )
    return rows


# --- parsing single values ------------------------------------------------------------------------


def _text(raw: str, max_length: int) -> str:
    if len(raw) > max_length:
        raise _Bad(
            f"longer than {max_length} characters", Fact("csv.too_long", {"most": max_length})
        )
    return raw


def _decimal(raw: str, *, places: int) -> Decimal:
    if not _DECIMAL.fullmatch(raw):
        raise _Bad(f"{raw!r} is not a number")
    try:
        value = Decimal(raw)
    except InvalidOperation as exc:  # the pattern should make this unreachable
        raise _Bad(f"{raw!r} is not a number") from exc
    if value < 0:
        raise _Bad(f"{raw} is negative")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -places:
        raise _Bad(f"{raw} has more than {places} decimal places")
    return value


def _kes(raw: str, *, most: int, what: str) -> int:
    """Shillings with up to two decimals -> integer cents; never zero, never above ``most``."""
    value = _decimal(raw, places=2)
    if value == 0:
        raise _Bad("must be more than zero")
    if value * 100 > most:
        raise _Bad(f"{raw} is more than KES {most // 100:,}, the most {what} may be")
    return int(value * 100)


def _price(raw: str) -> int:
    return _kes(raw, most=MAX_PRICE_CENTS, what="a price")


def _piece_rate(raw: str) -> int:
    return _kes(raw, most=MAX_PIECE_RATE_CENTS, what="a piece rate")


def _whole(raw: str, *, least: int, most: int, advice: str = "") -> int:
    """``raw`` as ``domain.numbers`` reads every typed count, strictly: digits only."""
    try:
        return whole_number(raw, least=least, most=most, strict=True)
    except NotAWholeNumber as refused:
        too_large = refused.problem is Problem.TOO_LARGE
        fact = Fact(f"number.{refused.problem}", {"value": raw, "least": least, "most": most})
        raise _Bad(f"{refused}{advice}" if too_large else str(refused), fact) from None


def _days(raw: str) -> int:
    return _whole(raw, least=0, most=MAX_DAYS)


def _lead_time(raw: str) -> int:
    return _whole(raw, least=1, most=MAX_DAYS)


def _pieces_per_unit(raw: str) -> int:
    return _whole(raw, least=1, most=MAX_PIECES_PER_UNIT)


def _units(raw: str) -> int:
    return _whole(raw, least=1, most=MAX_PIECES, advice=": split a larger order into several")


def _skill(raw: str) -> str:
    if not _SKILL.fullmatch(raw) or len(raw) > _MAX_LENGTH["skill"]:
        raise _Bad(
            f"{raw!r} is not a skill name: use lower-case words joined by underscores, "
            "e.g. horn_carving"
        )
    return raw


def _materials(raw: str) -> tuple[MaterialSpec, ...]:
    """``brass wire:0.02:kg;glass beads:12:pcs`` -> specs; empty means no materials."""
    materials: list[MaterialSpec] = []
    for item in (part.strip() for part in raw.split(";")):
        if not item:
            continue
        parts = [part.strip() for part in item.split(":")]
        if len(parts) != 3 or not parts[0] or not parts[2]:
            raise _Bad(f"{item!r} is not material:quantity:unit (e.g. brass wire:0.02:kg)")
        # Stock reports and requests match materials by name, so case and spacing do not count.
        name, quantity, unit = " ".join(parts[0].lower().split()), parts[1], parts[2]
        if len(name) > _MATERIAL_NAME_MAX:
            raise _Bad(f"material {name!r} is longer than {_MATERIAL_NAME_MAX} characters")
        if len(unit) > _MATERIAL_UNIT_MAX:
            raise _Bad(f"unit {unit!r} is longer than {_MATERIAL_UNIT_MAX} characters")
        try:
            amount = _decimal(quantity, places=_MATERIAL_DECIMALS)
        except _Bad as bad:
            raise _Bad(f"quantity of {name}: {bad}") from None
        if amount == 0:
            raise _Bad(f"quantity of {name} must be more than zero")
        if amount > MAX_MATERIAL_PER_PIECE:
            raise _Bad(
                f"quantity of {name} is more than {MAX_MATERIAL_PER_PIECE}, the most allowed"
            )
        if any(m.material == name for m in materials):
            raise _Bad(f"material {name!r} is listed twice")
        materials.append(MaterialSpec(name, amount.normalize(), unit))
    return tuple(materials)


def _customer_kind(raw: str) -> CustomerKind:
    try:
        return CustomerKind(raw.lower())
    except ValueError:
        raise _Bad(f"{raw!r} must be retailer or web_shop", Fact("csv.bad_kind")) from None


def _iso_date(raw: str) -> date:
    if not _ISO_DATE.fullmatch(raw):
        raise _Bad(f"{raw!r} is not a date in YYYY-MM-DD form", Fact("csv.not_a_date"))
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise _Bad(f"{raw!r} is not a real date", Fact("csv.not_a_date")) from None


def _agree(
    row: _Row,
    first_line: int,
    what: str,
    fields: Mapping[str, object],
    first_fields: Mapping[str, object],
) -> None:
    """Report every field of ``row`` that disagrees with the first row describing the same thing."""
    for column, value in fields.items():
        if value != first_fields[column]:
            row.error(
                column,
                f"{row.values.get(column, '')!r} disagrees with line {first_line} for {what} "
                f"({_shown(first_fields[column])})",
            )


def _shown(value: object) -> str:
    if isinstance(value, tuple):
        return repr(format_materials(value)) if value else "no materials"
    return repr(value)


# --- products.csv ---------------------------------------------------------------------------------


def parse_products_csv(text: str) -> CatalogueSpec:
    """Parse a catalogue (one row per bill-of-materials line) or raise ``CsvRejected``."""
    errors: list[RowError] = []
    rows = _rows(text, PRODUCT_COLUMNS, errors)

    products: dict[str, tuple[int, dict[str, object]]] = {}
    components: dict[str, tuple[int, dict[str, object]]] = {}
    bom: dict[str, list[BomLineSpec]] = {}
    seen_lines: dict[tuple[str, str], int] = {}

    for row in rows:
        sku = row.text("sku")
        product: dict[str, object] = {
            "product_name": row.text("product_name"),
            "wholesale_kes": row.get("wholesale_kes", _price),
            "retail_kes": row.get("retail_kes", _price),
            "assembly_days": row.get("assembly_days", _days),
        }
        code = row.text("component_code")
        component: dict[str, object] = {
            "component_name": row.text("component_name"),
            "skill": row.get("skill", _skill),
            "piece_rate_kes": row.get("piece_rate_kes", _piece_rate),
            "lead_time_days": row.get("lead_time_days", _lead_time),
            "materials": row.get("materials", _materials),
        }
        quantity = row.get("quantity_per_unit", _pieces_per_unit)

        wholesale, retail = product["wholesale_kes"], product["retail_kes"]
        if isinstance(wholesale, int) and isinstance(retail, int) and retail < wholesale:
            row.error("retail_kes", "retail price is below the wholesale price")

        if sku is not None:
            if sku in products:
                first_line, first = products[sku]
                _agree(row, first_line, f"sku {sku}", _known(product), first)
            elif None not in product.values():
                products[sku] = (row.line, product)
        if code is not None:
            if code in components:
                first_line, first = components[code]
                _agree(row, first_line, f"component {code}", _known(component), first)
            elif None not in component.values():
                components[code] = (row.line, component)
        if sku is not None and code is not None:
            if (sku, code) in seen_lines:
                row.error(
                    "component_code",
                    f"sku {sku} already lists component {code} on line {seen_lines[sku, code]}",
                )
            else:
                seen_lines[sku, code] = row.line
                if quantity is not None:
                    bom.setdefault(sku, []).append(BomLineSpec(code, quantity))

    if errors:
        raise CsvRejected("products CSV", errors)
    return CatalogueSpec(
        products=tuple(
            ProductSpec(
                sku=sku,
                name=_as(str, fields["product_name"]),
                wholesale_price_cents=_as(int, fields["wholesale_kes"]),
                retail_price_cents=_as(int, fields["retail_kes"]),
                assembly_days=_as(int, fields["assembly_days"]),
                bom=tuple(bom[sku]),
            )
            for sku, (_, fields) in products.items()
        ),
        components=tuple(
            ComponentSpec(
                code=code,
                name=_as(str, fields["component_name"]),
                skill=_as(str, fields["skill"]),
                piece_rate_cents=_as(int, fields["piece_rate_kes"]),
                lead_time_days=_as(int, fields["lead_time_days"]),
                materials=_as(tuple, fields["materials"]),
            )
            for code, (_, fields) in components.items()
        ),
    )


def _known(fields: Mapping[str, object]) -> dict[str, object]:
    """Only the fields that parsed: a bad value is reported once, not again as a disagreement."""
    return {column: value for column, value in fields.items() if value is not None}


def _as(kind: type[T], value: object) -> T:
    assert isinstance(value, kind)  # guaranteed by the absence of errors
    return value


def format_kes(cents: int) -> str:
    """Integer cents -> shillings as written in the CSV: ``1200`` or ``1200.50``."""
    shillings, rest = divmod(cents, 100)
    return f"{shillings}" if rest == 0 else f"{shillings}.{rest:02d}"


def format_materials(materials: Sequence[MaterialSpec]) -> str:
    return ";".join(
        f"{m.material}:{format(m.quantity.normalize(), 'f')}:{m.unit}" for m in materials
    )


def catalogue_to_csv(catalogue: CatalogueSpec) -> str:
    """The products.csv text of a catalogue, sorted by sku then component code.

    ``parse_products_csv(catalogue_to_csv(c))`` describes the same catalogue as ``c``.
    """
    rows: list[Sequence[object]] = [PRODUCT_COLUMNS]
    components = {component.code: component for component in catalogue.components}
    for product in sorted(catalogue.products, key=lambda p: p.sku):
        for line in sorted(product.bom, key=lambda b: b.component_code):
            component = components[line.component_code]
            rows.append(
                [
                    product.sku,
                    product.name,
                    format_kes(product.wholesale_price_cents),
                    format_kes(product.retail_price_cents),
                    product.assembly_days,
                    component.code,
                    component.name,
                    component.skill,
                    line.quantity_per_unit,
                    format_kes(component.piece_rate_cents),
                    component.lead_time_days,
                    format_materials(component.materials),
                ]
            )
    return csv_text(rows)


# --- orders.csv -----------------------------------------------------------------------------------


def parse_orders_csv(
    text: str,
    *,
    known_skus: Collection[str],
    today: date,
    existing_orders: Collection[tuple[str, str]] = (),
    customer_kinds: Mapping[str, CustomerKind] | None = None,
    boms: Mapping[str, Sequence[BomItem]] | None = None,
) -> tuple[OrderSpec, ...]:
    """Parse orders (one row per order line) or raise ``CsvRejected``.

    ``known_skus`` are the products in the catalogue; ``existing_orders`` the (customer,
    reference) pairs already in the database; ``customer_kinds`` the kind of each known customer.
    ``today`` is the factory's local date: a due date before it is refused. ``boms`` are the
    products' bills of materials, when known: a line that would make a job too big for one job
    (``domain.explosion.line_problems``) is refused on its own line.
    """
    errors: list[RowError] = []
    rows = _rows(text, ORDER_COLUMNS, errors)
    kinds_on_file = dict(customer_kinds or {})
    existing = set(existing_orders)

    kind_first: dict[str, tuple[int, CustomerKind]] = {}
    orders: dict[tuple[str, str], tuple[int, date, list[OrderLineSpec], list[int]]] = {}
    seen_lines: dict[tuple[str, str, str], int] = {}

    for row in rows:
        customer = row.text("customer")
        kind = row.get("customer_kind", _customer_kind)
        reference = row.text("reference")
        due = row.get("due_date", _iso_date)
        sku = row.text("sku")
        quantity = row.get("quantity", _units)

        if due is not None and due < today:
            row.error(
                "due_date",
                f"{due.isoformat()} is in the past (today is {today.isoformat()})",
                Fact("due_in_past", {"due": due, "today": today}),
            )
            due = None
        if sku is not None and sku not in known_skus:
            row.error(
                "sku",
                f"unknown sku {sku!r}: no product in the catalogue has it (add it first)",
                Fact("unknown_sku", {"sku": sku}),
            )
            sku = None
        if sku is not None and quantity is not None and boms is not None:
            bom = boms.get(sku, ())
            for problem, fact in zip(
                line_problems(sku, quantity, bom), line_reasons(sku, quantity, bom), strict=True
            ):
                row.error("quantity", problem, fact)

        if customer is not None and kind is not None:
            if customer in kinds_on_file and kinds_on_file[customer] != kind:
                row.error(
                    "customer_kind",
                    f"{customer} is already a {kinds_on_file[customer]} customer, not {kind}",
                    Fact(
                        "customer_kind",
                        {"customer": customer, "kind": kinds_on_file[customer], "asked": kind},
                    ),
                )
            elif customer in kind_first and kind_first[customer][1] != kind:
                first_line, first_kind = kind_first[customer]
                row.error(
                    "customer_kind",
                    f"{kind!s} disagrees with line {first_line} for customer {customer} "
                    f"({first_kind!s})",
                    Fact(
                        "csv.kind_disagrees",
                        {"customer": customer, "first_line": first_line, "kind": first_kind},
                    ),
                )
            kind_first.setdefault(customer, (row.line, kind))

        if customer is None or reference is None:
            continue
        key = (customer, reference)
        if key in existing:
            row.error(
                "reference",
                f"order {reference} for {customer} already exists",
                Fact("duplicate_reference", {"customer": customer, "reference": reference}),
            )
            continue
        if due is not None:
            if key not in orders:
                orders[key] = (row.line, due, [], [])
            elif orders[key][1] != due:
                row.error(
                    "due_date",
                    f"{due.isoformat()} disagrees with line {orders[key][0]} for order "
                    f"{reference} ({orders[key][1].isoformat()})",
                    Fact(
                        "csv.due_disagrees",
                        {
                            "first_line": orders[key][0],
                            "reference": reference,
                            "due": orders[key][1],
                        },
                    ),
                )
        if sku is not None:
            if (customer, reference, sku) in seen_lines:
                row.error(
                    "sku",
                    f"order {reference} already has a line for {sku} on line "
                    f"{seen_lines[customer, reference, sku]}",
                    Fact(
                        "csv.sku_twice",
                        {
                            "reference": reference,
                            "sku": sku,
                            "first_line": seen_lines[customer, reference, sku],
                        },
                    ),
                )
            else:
                seen_lines[customer, reference, sku] = row.line
                if quantity is not None and key in orders:
                    orders[key][2].append(OrderLineSpec(sku, quantity))
                    orders[key][3].append(row.line)

    if errors:
        raise CsvRejected("orders CSV", errors)
    return tuple(
        OrderSpec(
            customer=customer,
            customer_kind=kind_first[customer][1],
            reference=reference,
            due_date=due,
            lines=tuple(lines),
            line_numbers=tuple(line_numbers),
        )
        for (customer, reference), (_, due, lines, line_numbers) in orders.items()
    )
