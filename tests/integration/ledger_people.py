"""People the ledger and payout tests need, written straight to the tables they read."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from domain.model import ArtisanProfile, ArtisanStatus, Person, Role


async def add_artisan(
    session: AsyncSession,
    name: str,
    *,
    now: datetime,
    mpesa_number: str = "+254712345678",
    status: ArtisanStatus = ArtisanStatus.ACTIVE,
) -> int:
    person = Person(name=name, role=Role.ARTISAN, created_at=now)
    session.add(person)
    await session.flush()
    assert person.id is not None
    session.add(
        ArtisanProfile(
            person_id=person.id,
            workshop=f"{name}'s workshop",
            mpesa_number=mpesa_number,
            status=status,
        )
    )
    await session.flush()
    return person.id


async def add_person(session: AsyncSession, name: str, role: Role, *, now: datetime) -> int:
    person = Person(name=name, role=role, created_at=now)
    session.add(person)
    await session.flush()
    assert person.id is not None
    return person.id
