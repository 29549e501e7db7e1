from datetime import UTC, datetime

from sqlmodel import select

from domain.model import Person, Role
from domain.store import Store


async def test_a_committed_person_is_read_back_with_an_aware_timestamp(any_store: Store) -> None:
    when = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
    async with any_store.transaction() as session:
        session.add(Person(name="Wanjiru", role=Role.ARTISAN, created_at=when))
    async with any_store.transaction() as session:
        person = (await session.exec(select(Person))).one()
    assert person.name == "Wanjiru"
    assert person.role is Role.ARTISAN
    assert person.created_at == when
