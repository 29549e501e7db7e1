"""What skills, components, materials, areas and products are called, per language: catalogue data.

Skills and materials are stored under their code (``horn_carving``, ``brass scrap``), areas under
the name everyone files them by (``Mathare``), components under their ``Component.code``. People
are never shown those codes: ``domain.names.Names`` turns each into the name in the reader's
language, falling back to the English name. A row of kind ``area`` also makes the area a known
one: registration matches what people type against these (domain/services/names.py).
"""

from __future__ import annotations

from enum import StrEnum

from sqlmodel import Field, SQLModel

from domain.model.columns import enum_type
from domain.model.people import Language

MAX_NAME = 80


class NameKind(StrEnum):
    SKILL = "skill"
    COMPONENT = "component"
    MATERIAL = "material"
    AREA = "area"
    PRODUCT = "product"  # by its SKU; its English name falls back to ``Product.name``


class CatalogueName(SQLModel, table=True):
    """``code`` of ``kind`` is called ``name`` in ``language``."""

    __tablename__ = "catalogue_name"

    kind: NameKind = Field(sa_type=enum_type(NameKind), primary_key=True)
    code: str = Field(max_length=60, primary_key=True)
    language: Language = Field(sa_type=enum_type(Language), primary_key=True)
    name: str = Field(max_length=MAX_NAME)
