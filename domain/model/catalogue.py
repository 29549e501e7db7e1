"""What we sell and what it is made of: products, components and the bill of materials."""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from domain.limits import (
    MAX_DAYS,
    MAX_MATERIAL_PER_PIECE,
    MAX_PIECE_RATE_CENTS,
    MAX_PIECES_PER_UNIT,
    MAX_PRICE_CENTS,
)
from domain.model.columns import within


class Component(SQLModel, table=True):
    """A part one workshop type makes; the artisan is paid ``piece_rate_cents`` per good piece."""

    __table_args__ = (
        within("piece_rate_cents", 1, MAX_PIECE_RATE_CENTS),
        within("lead_time_days", 1, MAX_DAYS),
    )

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=40, unique=True)
    name: str = Field(max_length=80)
    skill: str = Field(max_length=40, index=True)
    piece_rate_cents: int = Field(gt=0)
    lead_time_days: int = Field(gt=0)


class ComponentMaterial(SQLModel, table=True):
    """Material consumed per piece of a component (e.g. 0.02 kg of brass wire)."""

    __tablename__ = "component_material"
    __table_args__ = (within("quantity_per_piece", 0, MAX_MATERIAL_PER_PIECE, above=True),)

    component_id: int = Field(foreign_key="component.id", primary_key=True)
    material: str = Field(max_length=40, primary_key=True)
    quantity_per_piece: Decimal = Field(sa_type=sa.Numeric(12, 4))
    unit: str = Field(max_length=12)


class Product(SQLModel, table=True):
    """A sellable design; final assembly happens at the central workshop."""

    __table_args__ = (
        within("wholesale_price_cents", 1, MAX_PRICE_CENTS),
        within("retail_price_cents", 1, MAX_PRICE_CENTS),
        within("assembly_days", 0, MAX_DAYS),
        within("assembly_cost_cents", 0, MAX_PRICE_CENTS),
    )

    id: int | None = Field(default=None, primary_key=True)
    sku: str = Field(max_length=40, unique=True)
    name: str = Field(max_length=120)
    wholesale_price_cents: int = Field(gt=0)
    retail_price_cents: int = Field(gt=0)
    assembly_days: int = Field(default=1, ge=0)
    assembly_cost_cents: int = Field(default=0, ge=0)


class BomLine(SQLModel, table=True):
    """``quantity_per_unit`` pieces of a component go into one unit of a product."""

    __tablename__ = "bom_line"
    __table_args__ = (within("quantity_per_unit", 1, MAX_PIECES_PER_UNIT),)

    product_id: int = Field(foreign_key="product.id", primary_key=True)
    component_id: int = Field(foreign_key="component.id", primary_key=True)
    quantity_per_unit: int = Field(gt=0)
