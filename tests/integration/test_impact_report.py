"""The impact report (domain/impact.py) against figures worked out by hand on a small factory,
its suppression of small groups, the CLI's CSV, and the chart it draws."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.charts import impact_chart_png
from bot.cli import app
from bot.db.database import upgrade_database
from domain import ledger
from domain.csv_safety import csv_text
from domain.impact import ALL_AREAS, ImpactReport, ShareBand, csv_rows, impact_report
from domain.model import Channel, CustomerKind, ImpactAnswers, Language, Role, WomenLed
from domain.services.catalogue import set_bom, upsert_component, upsert_product
from domain.services.orders import confirm_order, create_order, get_or_create_customer
from domain.services.people import add_person, register_artisan, verify_artisan
from domain.store import Store

BAND = ShareBand(Decimal("0.25"), Decimal("0.35"))
JOINED = datetime(2026, 5, 3, 9, tzinfo=UTC)
KES = 100


def at(month: int, day: int = 12) -> datetime:
    return datetime(2026, month, day, 9, tzinfo=UTC)


async def build(store: Store) -> dict[str, int]:
    """Six artisans in Kibera (A1..A6) and two in Mathare (B1, B2), all joined in May 2026.

    Earnings (KES): A1..A5 300 each in May; in October A1 1000, A2 2000, A3 3000, A4 4000,
    A5 5000 (and 500 more, reversed the same month), B1 600. Told income before joining:
    A1 200, A2 400, A3 600, A4 400, B1 100. Women-led: A1..A4 yes, A5 no, A6 prefers not to say.
    Orders confirmed in October: one at a 30% share, one at 15% (outside the band).
    """
    ids: dict[str, int] = {}
    async with store.transaction() as session:
        agent = await add_person(
            session,
            role=Role.FIELD_AGENT,
            name="Agent",
            channel=Channel.TELEGRAM,
            address="900",
            language=Language.EN,
            now=JOINED,
        )
        assert agent.id is not None
        for n, (name, area) in enumerate(
            [*((f"A{i}", "Kibera") for i in range(1, 7)), ("B1", "Mathare"), ("B2", "Mathare")]
        ):
            person = await register_artisan(
                session,
                name=name,
                workshop=f"{name} works",
                area=area,
                skills={"beading": 10},
                mpesa_number=f"+2547120000{n:02d}",
                language=Language.EN,
                channel=Channel.TELEGRAM,
                address=str(1000 + n),
                now=JOINED,
            )
            assert person.id is not None
            await verify_artisan(session, artisan_id=person.id, agent_id=agent.id, now=at(5, 5))
            ids[name] = person.id
        for name in ("A1", "A2", "A3", "A4", "A5"):
            await ledger.record_earning(
                session,
                artisan_id=ids[name],
                amount_cents=300 * KES,
                reference=f"may:{name}",
                now=at(5, 20),
            )
        for name, kes in (("A1", 1000), ("A2", 2000), ("A3", 3000), ("A4", 4000), ("A5", 5000)):
            await ledger.record_earning(
                session,
                artisan_id=ids[name],
                amount_cents=kes * KES,
                reference=f"oct:{name}",
                now=at(10),
            )
        await ledger.record_earning(
            session, artisan_id=ids["B1"], amount_cents=600 * KES, reference="oct:B1", now=at(10)
        )
        wrong = await ledger.record_earning(
            session, artisan_id=ids["A5"], amount_cents=500 * KES, reference="oct:x", now=at(10)
        )
        await ledger.reverse(session, transfer_id=wrong.id, reason="counted twice", now=at(10, 14))
        answers = {
            "A1": (200, WomenLed.YES),
            "A2": (400, WomenLed.YES),
            "A3": (600, WomenLed.YES),
            "A4": (400, WomenLed.YES),
            "A5": (None, WomenLed.NO),
            "A6": (None, WomenLed.PREFER_NOT_TO_SAY),
            "B1": (100, None),
        }
        for name, (prior, women_led) in answers.items():
            session.add(
                ImpactAnswers(
                    person_id=ids[name],
                    consented_at=JOINED,
                    prior_income_cents=None if prior is None else prior * KES,
                    women_led=women_led,
                    updated_at=JOINED,
                )
            )
        await upsert_component(
            session,
            code="BEAD",
            name="Bead",
            skill="beading",
            piece_rate_cents=300 * KES,
            lead_time_days=5,
        )
        await upsert_product(
            session,
            sku="NECK",
            name="Necklace",
            wholesale_price_cents=1000 * KES,
            retail_price_cents=2000 * KES,
        )
        await set_bom(session, sku="NECK", components={"BEAD": 1})
        shop = await get_or_create_customer(session, name="Shop", kind=CustomerKind.RETAILER)
        assert shop.id is not None
        for reference, price in (("PO-1", 1000), ("PO-2", 2000)):
            order = await create_order(
                session,
                customer_id=shop.id,
                reference=reference,
                due_date=date(2026, 11, 30),
                lines=[("NECK", 4)],
                unit_prices={"NECK": price * KES},
                now=at(10, 2),
            )
            assert order.id is not None
            await confirm_order(session, order.id, now=at(10, 3))
    return ids


@pytest.fixture
async def report(store: Store) -> ImpactReport:
    await build(store)
    async with store.transaction() as session:
        return await impact_report(session, band=BAND)  # the latest month with earnings


def cell(report: ImpactReport, key: str, month: str, area: str = ALL_AREAS) -> object:
    for row in report.figure(key).rows:
        if row.month == date.fromisoformat(month + "-01") and row.area == area:
            return "suppressed" if row.suppressed else row.value("count")
    raise AssertionError(f"no row {key} {month} {area}")


async def test_counts_by_month_and_area_match_the_hand_worked_figures(
    report: ImpactReport,
) -> None:
    assert report.month == date(2026, 10, 1)
    assert report.months[0] == date(2026, 5, 1)
    assert cell(report, "artisans_new", "2026-05") == 8
    assert cell(report, "artisans_new", "2026-05", "Kibera") == 6
    assert cell(report, "artisans_new", "2026-05", "Mathare") == "suppressed"  # 2 people
    assert cell(report, "artisans_new", "2026-06") == 0  # zero describes nobody: shown
    assert cell(report, "artisans_active", "2026-05") == 5
    assert cell(report, "artisans_active", "2026-10") == 6
    assert cell(report, "artisans_active", "2026-10", "Kibera") == 5
    assert cell(report, "artisans_active", "2026-10", "Mathare") == "suppressed"
    assert cell(report, "artisans_no_income", "2026-10") == "suppressed"  # A6 and B2
    assert cell(report, "artisans_no_income", "2026-08") == 8


async def test_income_spread_growth_and_income_before_joining(report: ImpactReport) -> None:
    october = report.figure("income_per_active_artisan").row("2026-10")
    assert october is not None
    # 600, 1000, 2000, 3000, 4000, 5000 (A5's reversed 500 does not count): inclusive quartiles.
    assert october.people == 6
    assert dict(october.values) == {"q1": 1250 * KES, "median": 2500 * KES, "q3": 3750 * KES}
    june = report.figure("income_per_active_artisan").row("2026-06")
    assert june is not None
    assert june.suppressed
    assert june.people is None

    growth = report.figure("income_growth_since_joining").rows[0]
    # Recent (Aug-Oct) mean over first (May-Jul) mean of 100: 3.33, 6.67, 10, 13.33, 16.67.
    assert growth.people == 5
    assert dict(growth.values) == {
        "q1": Decimal("6.67"),
        "median": Decimal("10.00"),
        "q3": Decimal("13.33"),
    }
    before = report.figure("income_against_before_joining").rows[0]
    # 333.33/200, 666.67/400, 1000/600, 1333.33/400, 200/100.
    assert before.people == 5
    assert dict(before.values) == {
        "q1": Decimal("1.67"),
        "median": Decimal("1.67"),
        "q3": Decimal("2.00"),
    }


async def test_revenue_share_lists_the_order_outside_the_band(report: ImpactReport) -> None:
    by_order = {row.label: row.values for row in report.figure("revenue_share_by_order").rows}
    assert by_order["PO-1"]["share"] == Decimal("0.3000")
    assert by_order["PO-2"]["share"] == Decimal("0.1500")
    assert [row.label for row in report.figure("orders_outside_band").rows] == ["PO-2"]
    assert report.figure("revenue_share_by_order").unit_of("revenue_cents") == "cents"
    assert report.figure("revenue_share_by_order").unit_of("share") == "share"
    october = report.figure("revenue_share_by_month").row("2026-10")
    assert october is not None
    assert october.values["share"] == Decimal("0.2000")  # 2400 of 12000
    assert report.figure("revenue_share_by_product").rows[0].label == "Necklace"


async def test_women_led_share_leaves_out_those_who_preferred_not_to_say(
    report: ImpactReport,
) -> None:
    row = report.figure("women_led_share").rows[0]
    assert row.people == 5
    assert row.values["share"] == Decimal("0.8000")
    assert row.values["reached"] == 8
    assert report.figure("women_led_share").definition.startswith("Of the artisans reached")


async def test_one_small_area_is_suppressed_everywhere_it_would_show_people(
    store: Store,
) -> None:
    await build(store)
    async with store.transaction() as session:
        mathare = await impact_report(session, area="Mathare", band=BAND)
    for key in (
        "income_per_active_artisan",
        "income_growth_since_joining",
        "income_against_before_joining",
        "women_led_share",
    ):
        figure = mathare.figure(key)
        assert figure.suppressed, key
        assert all(not row.values and row.people is None for row in figure.rows)
    assert cell(mathare, "artisans_new", "2026-05") == "suppressed"
    # The count is the figure: a suppressed one does not give it as its number of people either.
    active = mathare.figure("artisans_active")
    assert [r.people for r in active.rows if r.month == date(2026, 10, 1)] == [None, None]
    assert active.people is None  # two artisans in Mathare in all


async def test_the_csv_and_the_chart_carry_the_same_report(
    report: ImpactReport, tmp_path: Path
) -> None:
    rows = list(csv.reader(io.StringIO(csv_text(csv_rows(report)))))
    header, body = rows[0], rows[1:]
    assert header[:6] == ["figure", "label", "month", "area", "people", "suppressed"]
    income = next(r for r in body if r[0] == "income_per_active_artisan" and r[2] == "2026-10")
    assert income[4:10] == ["6", "no", "", "125000", "250000", "375000"]
    mathare = next(
        r for r in body if r[0] == "artisans_active" and r[2] == "2026-10" and r[3] == "Mathare"
    )
    assert mathare[4:7] == ["<5", "yes", ""]
    png = impact_chart_png(report)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(png) > 10_000


def test_karakana_report_impact_writes_the_csv(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'factory.db'}"
    upgrade_database(url)
    store = Store.from_url(url)

    async def fill() -> None:
        try:
            await build(store)
        finally:
            await store.close()

    asyncio.run(fill())
    target = tmp_path / "impact.csv"
    result = CliRunner().invoke(
        app,
        ["report", "impact", "--month", "2026-10", "--csv", str(target)],
        env={"DATABASE_URL": url, "COLUMNS": "200", "NO_COLOR": "1"},
    )
    assert result.exit_code == 0, result.output
    assert "suppressed (< 5 people)" in result.output
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    outside = [r for r in rows if r["figure"] == "orders_outside_band"]
    assert [(r["label"], r["value"]) for r in outside] == [("PO-2", "0.1500")]
    bad = CliRunner().invoke(
        app, ["report", "impact", "--month", "October"], env={"DATABASE_URL": url}
    )
    assert bad.exit_code == 1
    assert "YYYY-MM" in bad.output
