"""Names per language for skills, components, materials, areas and products (by SKU), and the
known areas.

What people read is catalogue data, kept in ``catalogue_name`` (domain/model/names.py) and edited
as ``names.csv`` (``karakana names import`` / ``export``, docs/csv-formats.md). ``load_names``
reads it once per transaction into a ``domain.names.Names`` the message catalogue uses, so a
Kiswahili artisan reads "uchongaji wa pembe" wherever ``horn_carving`` would have been shown.

Areas: a typed area is matched to a known one (``known_areas``: every area named here, and every
area a field agent covers). Only an admin makes a new one (``add_area``, or a names.csv row).
"""

from __future__ import annotations

import csv
import functools
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.csv_formats import CsvRejected, RowError
from domain.csv_safety import csv_text, from_cell
from domain.model import (
    AgentArea,
    CatalogueName,
    Component,
    ComponentMaterial,
    Language,
    NameKind,
    Product,
)
from domain.model.names import MAX_NAME
from domain.names import AreaMatch, Names, folded, match_area
from domain.services import guards
from domain.services.guards import InvalidField, clean_area
from domain.text import clean_text

NAMES_COLUMNS = ("kind", "code", *(f"name_{language}" for language in Language))
_SKILL = re.compile(r"[a-z][a-z0-9_ ]*")  # as clean_skill keeps them: lower case
_COMPONENT_ROW = "-component"  # a component's own English name, under the table's names
_PRODUCT_ROW = "-product"  # a product's own English name (``Product.name``), likewise
_OWN_NAMES = (NameKind.COMPONENT, NameKind.PRODUCT)  # their English name is their own ``name``


# Every name on record, and each component's English ``name``, in one statement built once.
_NAMES_READ = sa.union_all(
    sa.select(
        # As plain text: the union's second half has a kind no enum knows.
        sa.type_coerce(CatalogueName.__table__.c.kind, sa.String),  # type: ignore[attr-defined]
        CatalogueName.__table__.c.code,  # type: ignore[attr-defined]
        sa.type_coerce(CatalogueName.__table__.c.language, sa.String),  # type: ignore[attr-defined]
        CatalogueName.__table__.c.name,  # type: ignore[attr-defined]
    ),
    sa.select(
        sa.literal(_COMPONENT_ROW),
        Component.__table__.c.code,  # type: ignore[attr-defined]
        sa.literal(str(Language.EN)),
        Component.__table__.c.name,  # type: ignore[attr-defined]
    ),
    sa.select(
        sa.literal(_PRODUCT_ROW),
        Product.__table__.c.sku,  # type: ignore[attr-defined]
        sa.literal(str(Language.EN)),
        Product.__table__.c.name,  # type: ignore[attr-defined]
    ),
)


async def load_names(session: AsyncSession) -> Names:
    """Every name on record, and each component's English ``name``: one small read, on every
    message's path, so one Core statement for both."""
    connection = await session.connection()
    rows = (await connection.execute(_NAMES_READ)).all()
    return _names_of(tuple(map(tuple, rows)))


@functools.lru_cache(maxsize=4)
def _names_of(rows: tuple[tuple[str, str, str, str], ...]) -> Names:
    """``Names`` from the rows read, made again only when they changed: the rows are read on
    every message, but building the (immutable) ``Names`` from them folds every name, and they
    rarely change (issue 20's profile)."""
    return Names.of(
        [
            (NameKind(kind), code, Language(lang), name)
            for kind, code, lang, name in rows
            if kind not in {_COMPONENT_ROW, _PRODUCT_ROW}
        ],
        [(code, name) for kind, code, _, name in rows if kind == _COMPONENT_ROW],
        [(code, name) for kind, code, _, name in rows if kind == _PRODUCT_ROW],
    )


async def set_name(
    session: AsyncSession, *, kind: NameKind, code: str, language: Language, name: str
) -> None:
    """``code`` is called ``name`` in ``language`` from now on."""
    cleaned = guards.clean_text(name, field="name", max_length=MAX_NAME)
    if not cleaned:
        raise InvalidField("name", "must not be empty")
    row = await session.get(CatalogueName, (kind, code, language))
    if row is None:
        session.add(CatalogueName(kind=kind, code=code, language=language, name=cleaned))
    else:
        row.name = cleaned
        session.add(row)
    await session.flush()


# --- areas -----------------------------------------------------------------------------------


async def known_areas(session: AsyncSession) -> dict[str, list[str]]:
    """Each known area as it is filed -> its names in every language, sorted by area."""
    known: dict[str, list[str]] = {}
    for area in await session.exec(select(AgentArea.area).distinct()):
        known.setdefault(area, [])
    rows = await session.exec(
        select(CatalogueName.code, CatalogueName.name).where(CatalogueName.kind == NameKind.AREA)
    )
    for code, name in rows:
        known.setdefault(code, []).append(name)
    # One area filed in two spellings (an old "mathare" beside "Mathare") is listed once.
    seen: dict[str, str] = {}
    for area in sorted(known):
        seen.setdefault(folded(area), area)
    return {area: known[area] for area in sorted(seen.values(), key=folded)}


async def find_area(session: AsyncSession, typed: str) -> AreaMatch:
    """``typed`` among the known areas: the known spelling, or a close one to suggest."""
    return match_area(typed, await known_areas(session))


async def filed_area(session: AsyncSession, area: str) -> str:
    """``area`` spelt as the known area it names ("mathare" -> "Mathare"), else as given:
    services that store an area call it, so case or accents never make a second area."""
    return (await find_area(session, area)).exact or area


async def add_area(
    session: AsyncSession, area: str, names: Mapping[Language, str] | None = None
) -> str:
    """A new known area (an admin's decision); its English name is itself unless given."""
    filed = clean_area(area)
    existing = (await find_area(session, filed)).exact
    if existing is not None:
        filed = existing
    for language in Language:
        name = (names or {}).get(language) or (filed if language is Language.EN else None)
        if name:
            await set_name(session, kind=NameKind.AREA, code=filed, language=language, name=name)
    return filed


# --- names.csv -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NameRow:
    kind: NameKind
    code: str
    names: Mapping[Language, str]
    line: int = 0  # in names.csv, for errors found against the database


def parse_names_csv(text: str) -> list[NameRow]:
    """The rows of a names.csv (``kind,code,name_en,name_sw``); every problem at once."""
    errors: list[RowError] = []
    parsed: list[NameRow] = []
    seen: dict[tuple[NameKind, str], int] = {}
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    records: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for record in reader:
            line, start = start, reader.line_num + 1
            cells = [clean_text(from_cell(cell.strip())) for cell in record]
            if any(cells):
                records.append((line, cells))
    except csv.Error as exc:
        raise CsvRejected("Names CSV", [RowError(1, None, f"not readable as CSV ({exc})")]) from exc
    if not records:
        raise CsvRejected(
            "Names CSV",
            [RowError(1, None, f"the file is empty; the header must be {','.join(NAMES_COLUMNS)}")],
        )
    header_line, header = records[0]
    columns = [cell.lower() for cell in header]
    for column in columns:
        if column not in NAMES_COLUMNS or columns.count(column) > 1:
            errors.append(
                RowError(
                    header_line,
                    column or "(blank)",
                    f"unknown or repeated column; expected {','.join(NAMES_COLUMNS)}",
                )
            )
    for column in NAMES_COLUMNS:
        if column not in columns:
            errors.append(RowError(header_line, column, "missing column"))
    if errors:
        raise CsvRejected("Names CSV", errors)
    for line, cells in records[1:]:
        values = dict(zip(columns, cells, strict=False))
        row_errors = len(errors)
        kind_text = values.get("kind", "").lower()
        try:
            kind = NameKind(kind_text)
        except ValueError:
            errors.append(
                RowError(line, "kind", f"'{kind_text}' is not one of {', '.join(NameKind)}")
            )
            continue
        code = _code(kind, values.get("code", ""), line, errors)
        names: dict[Language, str] = {}
        for language in Language:
            name = values.get(f"name_{language}", "")
            if len(name) > MAX_NAME:
                errors.append(
                    RowError(line, f"name_{language}", f"longer than {MAX_NAME} characters")
                )
            elif name:
                names[language] = name
        if not names and kind is not NameKind.AREA:  # an area is known by its own name
            continue  # a row left blank in an export: nothing to set
        if code is not None and (kind, folded(code)) in seen:
            errors.append(
                RowError(
                    line,
                    "code",
                    f"{kind} {code!r} is already named on line {seen[(kind, folded(code))]}",
                )
            )
        if code is not None and len(errors) == row_errors:
            seen[(kind, folded(code))] = line
            parsed.append(NameRow(kind, code, names, line))
    if len(records) == 1:
        errors.append(RowError(header_line, None, "the file has a header but no rows"))
    if errors:
        raise CsvRejected("Names CSV", errors)
    return parsed


def _code(kind: NameKind, raw: str, line: int, errors: list[RowError]) -> str | None:
    if not raw:
        errors.append(RowError(line, "code", "missing value"))
        return None
    if kind is NameKind.SKILL and not _SKILL.fullmatch(raw):
        errors.append(RowError(line, "code", f"'{raw}' is not a skill code, e.g. horn_carving"))
        return None
    if kind is NameKind.AREA:
        try:
            return clean_area(raw)
        except InvalidField as exc:
            errors.append(RowError(line, "code", str(exc)))
            return None
    if kind is NameKind.MATERIAL:
        return " ".join(raw.lower().split())
    return raw


@dataclass(frozen=True, slots=True)
class NamesImported:
    named: int
    new_areas: int


async def apply_names(session: AsyncSession, rows: Sequence[NameRow]) -> NamesImported:
    """Write every row's names; a component must exist; an area row makes a known area.

    All or nothing, as the products import: an unknown component rejects the file."""
    codes = {
        NameKind.COMPONENT: set(await session.exec(select(Component.code))),
        NameKind.PRODUCT: set(await session.exec(select(Product.sku))),
    }
    unknown = [row for row in rows if row.kind in codes and row.code not in codes[row.kind]]
    if unknown:
        raise CsvRejected(
            "Names CSV",
            [RowError(row.line, "code", f"unknown {row.kind} '{row.code}'") for row in unknown],
        )
    areas_before = {folded(area) for area in await known_areas(session)}
    new_areas = 0
    for row in rows:
        if row.kind is NameKind.AREA:
            new_areas += folded(row.code) not in areas_before
            areas_before.add(folded(row.code))
            await add_area(session, row.code, row.names)
            continue
        for language, name in row.names.items():
            await set_name(session, kind=row.kind, code=row.code, language=language, name=name)
        if row.kind is NameKind.COMPONENT and Language.EN in row.names:
            statement = select(Component).where(Component.code == row.code)
            component = (await session.exec(statement)).one()
            component.name = row.names[Language.EN]
            session.add(component)
        if row.kind is NameKind.PRODUCT and Language.EN in row.names:
            product = (await session.exec(select(Product).where(Product.sku == row.code))).one()
            product.name = row.names[Language.EN]
            session.add(product)
    await session.flush()
    return NamesImported(named=len(rows), new_areas=new_areas)


async def names_to_csv(session: AsyncSession) -> str:
    """Every skill, component, material and product of the catalogue and every known area, with
    its names (blank where none is set): the file to fill in and import again."""
    names = await load_names(session)
    stored = {
        (row.kind, row.code, row.language): row.name
        for row in await session.exec(select(CatalogueName))
    }
    codes: dict[NameKind, set[str]] = {kind: set() for kind in NameKind}
    codes[NameKind.SKILL] |= set(await session.exec(select(Component.skill).distinct()))
    codes[NameKind.COMPONENT] |= set(await session.exec(select(Component.code)))
    codes[NameKind.MATERIAL] |= set(
        await session.exec(select(ComponentMaterial.material).distinct())
    )
    codes[NameKind.AREA] |= set(await known_areas(session))
    codes[NameKind.PRODUCT] |= set(await session.exec(select(Product.sku)))
    for kind, code, _ in stored:
        codes[kind].add(code)
    rows: list[list[object]] = [list(NAMES_COLUMNS)]
    for kind in NameKind:
        for code in sorted(codes[kind], key=folded):
            cells: list[object] = [str(kind), code]
            for language in Language:
                name = stored.get((kind, code, language), "")
                if not name and language is Language.EN and kind in _OWN_NAMES:
                    name = names.name(kind, code, language)
                cells.append(name)
            rows.append(cells)
    return csv_text(rows)
