"""The demo factory is believable, consistent with the factory's rules, and the same every time."""

from __future__ import annotations

import asyncio
import shutil
from collections import Counter
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.demo import AREA_SPECIALTIES, DEMO_CATALOGUE, seed_demo
from domain.csv_formats import catalogue_to_csv
from domain.model import (
    AgentArea,
    ArtisanProfile,
    ArtisanSkill,
    ArtisanStatus,
    Channel,
    ChannelIdentity,
    Component,
    Customer,
    CustomerKind,
    Job,
    Order,
    OrderLine,
    OrderStatus,
    Person,
    Role,
)
from domain.phone import normalise_kenyan_mobile
from domain.revenue_share import (
    ComponentCost,
    SaleLine,
    check_band,
    order_sale_lines,
    revenue_share,
)
from domain.services.catalogue_io import read_catalogue
from domain.store import Store
from tests.conftest import FakeClock
from tests.integration.factory_fixtures import ident

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
BAND = {"low": Decimal("0.25"), "high": Decimal("0.35")}  # the default revenue-share band
NAIROBI_AREAS = set(AREA_SPECIALTIES)


async def _seed_fresh(url: str, clock: FakeClock) -> None:
    store = Store.from_url(url)
    try:
        async with store.engine.begin() as conn:
            await conn.run_sync(SQLModel.metadata.create_all)
        async with store.transaction() as session:
            await seed_demo(session, now=clock.now())
    finally:
        await store.close()


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Seeding takes a few seconds: do it once, and give each test its own copy."""
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    asyncio.run(_seed_fresh(f"sqlite+aiosqlite:///{path}", FakeClock()))
    return path


@pytest.fixture
async def demo(demo_template: Path, tmp_path: Path) -> AsyncIterator[Store]:
    for suffix in ("", "-wal"):
        source = demo_template.with_name(demo_template.name + suffix)
        if source.exists():
            shutil.copyfile(source, tmp_path / f"demo.db{suffix}")
    store = Store.from_url(f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}")
    try:
        yield store
    finally:
        await store.close()


async def artisans(session: AsyncSession) -> list[tuple[Person, ArtisanProfile]]:
    rows = await session.exec(
        select(Person, ArtisanProfile).join(
            ArtisanProfile, col(ArtisanProfile.person_id) == Person.id
        )
    )
    return list(rows.all())


async def test_the_demo_has_about_sixty_artisans_in_real_nairobi_areas(demo: Store) -> None:
    async with demo.transaction() as session:
        people = await artisans(session)

    statuses = Counter(profile.status for _, profile in people)
    assert len(people) == 60
    assert {person.area for person, _ in people} == NAIROBI_AREAS
    assert statuses[ArtisanStatus.ACTIVE] >= 50
    assert 3 <= statuses[ArtisanStatus.PENDING] <= 10
    assert len({person.name for person, _ in people}) == 60
    assert {person.language for person, _ in people} == {"en", "sw"}


async def test_every_mpesa_number_is_a_distinct_valid_safaricom_number(demo: Store) -> None:
    async with demo.transaction() as session:
        numbers = [profile.mpesa_number for _, profile in await artisans(session)]

    assert len(set(numbers)) == len(numbers)
    for number in numbers:
        assert normalise_kenyan_mobile(number) == number
        assert number.startswith(("+2547", "+2541"))


async def test_everyone_has_a_chat_identity_mostly_whatsapp_with_a_few_on_telegram(
    demo: Store,
) -> None:
    async with demo.transaction() as session:
        identities = list(await session.exec(select(ChannelIdentity)))
        people = list(await session.exec(select(Person)))

    channels = Counter(identity.channel for identity in identities)
    assert {identity.person_id for identity in identities} == {person.id for person in people}
    assert channels[Channel.TELEGRAM] >= 3
    assert channels[Channel.WHATSAPP] > 50
    for identity in identities:
        if identity.channel is Channel.WHATSAPP:
            assert normalise_kenyan_mobile(identity.address) == identity.address
        else:
            assert identity.address.isdigit()


async def test_every_skill_the_catalogue_needs_has_several_active_artisans(demo: Store) -> None:
    async with demo.transaction() as session:
        needed = set(await session.exec(select(Component.skill)))
        rows = await session.exec(
            select(ArtisanSkill)
            .join(ArtisanProfile, col(ArtisanProfile.person_id) == ArtisanSkill.artisan_id)
            .where(ArtisanProfile.status == ArtisanStatus.ACTIVE)
        )
        skills = list(rows)

    active_per_skill = Counter(skill.skill for skill in skills)
    assert needed == {"horn_carving", "bone_carving", "brass_casting", "wire_work", "beadwork"}
    assert all(active_per_skill[skill] >= 5 for skill in needed), active_per_skill
    assert all(skill.weekly_capacity > 0 for skill in skills)
    assert len({skill.weekly_capacity for skill in skills}) > 10  # capacity varies


async def test_an_admin_and_two_field_agents_cover_every_artisans_area(demo: Store) -> None:
    async with demo.transaction() as session:
        roles = Counter((await session.exec(select(Person.role))).all())
        covered = set(await session.exec(select(AgentArea.area)))
        verifiers = set(
            await session.exec(
                select(ArtisanProfile.verified_by).where(
                    ArtisanProfile.status == ArtisanStatus.ACTIVE
                )
            )
        )
        agent_ids = set(
            await session.exec(select(Person.id).where(Person.role == Role.FIELD_AGENT))
        )

    assert roles[Role.ADMIN] == 1
    assert roles[Role.FIELD_AGENT] == 2
    assert covered == NAIROBI_AREAS
    assert verifiers == agent_ids  # each active artisan was verified by the agent of their area


def test_the_artisans_share_of_every_products_wholesale_price_is_within_the_band() -> None:
    for product in DEMO_CATALOGUE.products:
        line = SaleLine(
            units=1,
            unit_price_cents=product.wholesale_price_cents,
            components=[
                ComponentCost(
                    DEMO_CATALOGUE.component(item.component_code).piece_rate_cents,
                    item.quantity_per_unit,
                )
                for item in product.bom
            ],
        )

        check = check_band(revenue_share([line]), **BAND)

        assert check.within, f"{product.sku}: {check.verdict}"


def test_prices_are_realistic_shillings_with_retail_about_twice_wholesale() -> None:
    for product in DEMO_CATALOGUE.products:
        assert 600_00 <= product.wholesale_price_cents <= 2_500_00
        assert product.retail_price_cents == 2 * product.wholesale_price_cents


async def test_every_retailer_order_pays_artisans_a_share_within_the_band(demo: Store) -> None:
    async with demo.transaction() as session:
        retailer_orders = list(
            await session.exec(
                select(Order)
                .join(Customer, col(Customer.id) == Order.customer_id)
                .where(Customer.kind == CustomerKind.RETAILER)
            )
        )
        shares = [
            revenue_share(await order_sale_lines(session, ident(order)))
            for order in retailer_orders
        ]

    assert len(shares) >= 3
    assert all(check_band(share, **BAND).within for share in shares), shares


async def test_confirmed_orders_have_jobs_and_the_draft_has_none(demo: Store) -> None:
    async with demo.transaction() as session:
        orders = list(await session.exec(select(Order)))
        jobs_per_order = Counter(
            (
                await session.exec(
                    select(OrderLine.order_id).join(Job, col(Job.order_line_id) == OrderLine.id)
                )
            ).all()
        )
        kinds = set(await session.exec(select(Customer.kind)))

    assert kinds == {CustomerKind.RETAILER, CustomerKind.WEB_SHOP}
    for order in orders:
        if order.status is OrderStatus.DRAFT:
            assert jobs_per_order[ident(order)] == 0
        else:
            assert jobs_per_order[ident(order)] > 0
    assert sum(order.status is not OrderStatus.DRAFT for order in orders) >= 3
    assert sum(order.status is OrderStatus.DRAFT for order in orders) >= 1


async def test_the_seeded_catalogue_exports_as_the_example_products_file(demo: Store) -> None:
    async with demo.transaction() as session:
        catalogue = await read_catalogue(session)

    assert catalogue_to_csv(catalogue) == (EXAMPLES / "products.csv").read_text(encoding="utf-8")


async def test_the_demo_is_the_same_every_time(demo: Store, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'again.db'}"
    await _seed_fresh(url, FakeClock())  # the same moment the template was seeded at
    again = Store.from_url(url)
    try:
        async with demo.transaction() as first, again.transaction() as second:
            assert await fingerprint(first) == await fingerprint(second)
    finally:
        await again.close()


async def fingerprint(session: AsyncSession) -> list[tuple[object, ...]]:
    """Everything about the people and the work that a second seeding must reproduce."""
    people = [
        (p.name, p.role, p.area, p.language)
        for p in await session.exec(select(Person).order_by(col(Person.id)))
    ]
    profiles = [
        (a.workshop, a.mpesa_number, a.status)
        for a in await session.exec(select(ArtisanProfile).order_by(col(ArtisanProfile.person_id)))
    ]
    identities = [
        (i.channel, i.address)
        for i in await session.exec(select(ChannelIdentity).order_by(col(ChannelIdentity.id)))
    ]
    skills = [
        (s.artisan_id, s.skill, s.weekly_capacity)
        for s in await session.exec(
            select(ArtisanSkill).order_by(col(ArtisanSkill.artisan_id), col(ArtisanSkill.skill))
        )
    ]
    jobs = [
        (j.component_id, j.quantity, j.due_date, j.status)
        for j in await session.exec(select(Job).order_by(col(Job.id)))
    ]
    return [*people, *profiles, *identities, *skills, *jobs]


async def test_the_demo_has_months_of_consistent_history_worth_an_impact_chart(
    demo: Store,
) -> None:
    """bot/demo_history.py: past months of orders, receipts, earnings and paid payouts."""
    from domain import ledger
    from domain.impact import impact_report
    from domain.model import Payout, PayoutStatus

    async with demo.transaction() as session:
        report = await impact_report(session)
        books = await ledger.trial_balance(session)
        paid = (
            await session.exec(select(Payout).where(Payout.status == PayoutStatus.SUCCEEDED))
        ).all()
    assert books.balanced, books.problems
    assert paid
    assert all(p.mpesa_receipt for p in paid)
    income = report.figure("income_per_active_artisan").rows
    assert len(income) == 6
    assert all(not row.suppressed for row in income)
    assert not report.figure("income_growth_since_joining").suppressed
    assert not report.figure("income_against_before_joining").suppressed
    assert not report.figure("women_led_share").suppressed
    assert report.figure("orders_outside_band").rows  # the web shop's retail-priced orders
    assert any(r.suppressed for r in report.figure("artisans_new").rows)  # small areas
