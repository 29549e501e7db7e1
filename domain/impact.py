"""The impact report: who works with Karakana, what they earn, and the artisans' share of revenue.

One query for every output: ``karakana report impact``, ``/impact`` in chat and the console's
Impact page all call :func:`impact_report` and only decide how it looks.

The report covers ``MONTHS_SHOWN`` calendar months (at the factory, Nairobi time) ending with
``month`` (by default the latest month with any earning or new artisan, so it reads no clock).
Income is what the ledger says: the earnings credited to an artisan's payable that month (piece
payments and written-off work) less the reversals of earnings debited that month.

Every :class:`Figure` carries its definition (a message id for the chat and the console, and the
same in plain English), its rows, and the number of people each row rests on. A row about fewer
than ``MIN_GROUP`` people is *suppressed*: its values and its people count are not given (for a
count, the number of people is the figure itself), only the flag says why; a figure's own total
under ``MIN_GROUP`` is not given either. Counts of zero are shown (they describe nobody). The
revenue share is computed from catalogue piece rates and order prices, not from anyone's
answers, so it is never suppressed; its rows still say how many artisans worked on the orders.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.explosion import FACTORY_ZONE
from domain.ledger import EARNING, REVERSAL, WRITE_OFF
from domain.model import (
    Account,
    Allocation,
    ArtisanProfile,
    ArtisanStatus,
    BomLine,
    Component,
    ImpactAnswers,
    Job,
    Offer,
    OfferStatus,
    Order,
    OrderLine,
    OrderStatus,
    Person,
    Product,
    Role,
    Submission,
    Transfer,
    WomenLed,
)
from domain.revenue_share import ComponentCost, SaleLine, check_band, revenue_share

MIN_GROUP = 5
"""Rows about fewer people than this are suppressed."""

MONTHS_SHOWN = 6
FIRST_MONTHS = 3  # "first months": the month an artisan joined and the two after it
RECENT_MONTHS = 3  # "recent months": the last three months of the report
ALL_AREAS = ""  # the area of a row over every area
NO_AREA = "-"  # artisans whose area is not recorded


@dataclass(frozen=True, slots=True)
class ShareBand:
    """The artisans' share of revenue aimed for, inclusive (REVENUE_SHARE_MIN..MAX)."""

    low: Decimal
    high: Decimal


DEFAULT_BAND = ShareBand(Decimal("0.25"), Decimal("0.35"))
"""The settings' default; the composition root passes the configured band."""

Number = int | Decimal


@dataclass(frozen=True, slots=True)
class Row:
    """One line of a figure: a month and/or area (or an order, a product), its values, and the
    people they rest on. A suppressed row shows neither: ``values`` is empty and ``people`` is
    None (for a count, the number of people *is* the figure)."""

    label: str
    people: int | None
    suppressed: bool
    values: Mapping[str, Number] = field(default_factory=dict)
    month: date | None = None
    area: str | None = None  # ALL_AREAS for the total over every area

    def __post_init__(self) -> None:
        if self.suppressed:
            object.__setattr__(self, "people", None)
            object.__setattr__(self, "values", {})

    def value(self, name: str) -> Number | None:
        return None if self.suppressed else self.values.get(name)


@dataclass(frozen=True, slots=True)
class Figure:
    """One figure of the report. ``unit`` says how to read its values: ``people`` (a count),
    ``cents`` (money per month), ``ratio`` (x times), ``share`` (a fraction of 1)."""

    key: str
    title_key: str  # message ids in the catalogues (impact.po)
    definition_key: str
    definition: str  # the same definition in plain English (CSV, logs, the console)
    unit: str
    rows: tuple[Row, ...]
    people: int | None  # distinct people the whole figure rests on; None: fewer than MIN_GROUP
    units: Mapping[str, str] = field(default_factory=dict)  # values not in ``unit``

    def __post_init__(self) -> None:
        if self.people is not None and 0 < self.people < MIN_GROUP:
            object.__setattr__(self, "people", None)

    def unit_of(self, name: str) -> str:
        """How to read the value ``name``: ``unit`` unless ``units`` says otherwise (``cents``,
        ``people``, or ``flag``: 1 yes, 0 no)."""
        return self.units.get(name, self.unit)

    @property
    def suppressed(self) -> bool:
        """Every row is suppressed (nothing of the figure can be shown)."""
        return bool(self.rows) and all(row.suppressed for row in self.rows)

    def row(self, label: str) -> Row | None:
        return next((row for row in self.rows if row.label == label), None)


@dataclass(frozen=True, slots=True)
class ImpactReport:
    month: date | None  # the last month covered (first day); None: no data at all
    months: tuple[date, ...]
    area: str | None
    band: ShareBand
    figures: tuple[Figure, ...]
    min_group: int = MIN_GROUP

    def figure(self, key: str) -> Figure:
        for figure in self.figures:
            if figure.key == key:
                return figure
        raise KeyError(key)


# --- definitions ----------------------------------------------------------------------------

DEFINITIONS: dict[str, str] = {
    "artisans_active": (
        "Artisans verified by a field agent who accepted an offer, submitted finished work or "
        "earned money in the month, by month and area."
    ),
    "artisans_new": "Artisans who registered in the month, by month and area.",
    "artisans_no_income": (
        "Verified artisans (verified by the month's end) whose ledger earnings for the month, "
        "less reversals, were zero, by month and area."
    ),
    "income_per_active_artisan": (
        "Each active artisan's earnings in the month from the ledger (piece payments and "
        "written-off work, less reversals): the median and the lower and upper quartiles."
    ),
    "income_growth_since_joining": (
        f"For artisans who joined at least {FIRST_MONTHS + RECENT_MONTHS - 1} months before the "
        f"report's last month and earned in their first {FIRST_MONTHS} months (the month they "
        f"joined and the next {FIRST_MONTHS - 1}): their average monthly earnings in the last "
        f"{RECENT_MONTHS} months divided by their average in those first months; median and "
        "quartiles of that ratio."
    ),
    "income_against_before_joining": (
        f"For artisans who chose to tell their monthly income before joining (more than zero): "
        f"their average monthly earnings in the last {RECENT_MONTHS} months divided by it; "
        "median and quartiles of that ratio."
    ),
    "revenue_share_by_month": (
        "Artisans' piece payments (catalogue piece rates x pieces per unit x units) as a share of "
        "the order price, over the orders confirmed in the month, against the band."
    ),
    "revenue_share_by_product": (
        "The same share per product, over the lines of the orders confirmed in the report's months."
    ),
    "revenue_share_by_order": (
        "The same share per order confirmed in the report's months; the orders outside the band "
        "are listed in the next figure."
    ),
    "orders_outside_band": (
        "Orders confirmed in the report's months whose share is outside the band."
    ),
    "women_led_share": (
        "Of the artisans reached (verified by the report's last month) who answered the optional "
        "question, the share who said their workshop is led by a woman; 'prefer not to say' is "
        "left out."
    ),
}

UNITS = {
    "artisans_active": "people",
    "artisans_new": "people",
    "artisans_no_income": "people",
    "income_per_active_artisan": "cents",
    "income_growth_since_joining": "ratio",
    "income_against_before_joining": "ratio",
    "revenue_share_by_month": "share",
    "revenue_share_by_product": "share",
    "revenue_share_by_order": "share",
    "orders_outside_band": "share",
    "women_led_share": "share",
}


_SHARE_UNITS = {"within": "flag", "revenue_cents": "cents", "artisan_cents": "cents"}
VALUE_UNITS: dict[str, dict[str, str]] = {
    "revenue_share_by_month": _SHARE_UNITS,
    "revenue_share_by_product": _SHARE_UNITS,
    "revenue_share_by_order": _SHARE_UNITS,
    "orders_outside_band": _SHARE_UNITS,
    "women_led_share": {"women_led": "people", "answered": "people", "reached": "people"},
}


def _figure(key: str, rows: Sequence[Row], people: int) -> Figure:
    return Figure(
        key=key,
        title_key=f"impact.title.{key}",
        definition_key=f"impact.definition.{key}",
        definition=DEFINITIONS[key],
        unit=UNITS[key],
        rows=tuple(rows),
        people=people,
        units=VALUE_UNITS.get(key, {}),
    )


# --- months ---------------------------------------------------------------------------------


def month_of(moment: datetime | date, zone: tzinfo = FACTORY_ZONE) -> date:
    """The first day of the factory month ``moment`` falls in."""
    day = moment.astimezone(zone).date() if isinstance(moment, datetime) else moment
    return day.replace(day=1)


def add_months(month: date, count: int) -> date:
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def months_between(first: date, last: date) -> int:
    return (last.year - first.year) * 12 + last.month - first.month


def month_label(month: date) -> str:
    return f"{month.year:04d}-{month.month:02d}"


def _small(people: int) -> bool:
    return 0 < people < MIN_GROUP


def _cents(value: float | Decimal) -> int:
    return int(Decimal(value).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _ratio(value: float | Decimal) -> Decimal:
    return Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _spread(values: Sequence[float], *, money: bool) -> dict[str, Number]:
    """Median and quartiles (inclusive method: the quartiles of the values themselves)."""
    ordered = sorted(values)
    if len(ordered) == 1:
        q1 = median = q3 = ordered[0]
    else:
        q1, median, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
    shape = _cents if money else _ratio
    return {"q1": shape(q1), "median": shape(median), "q3": shape(q3)}


# --- reading --------------------------------------------------------------------------------


@dataclass(slots=True)
class _Artisan:
    id: int
    area: str
    joined: date  # month
    verified: date | None  # month
    prior_income_cents: int | None = None
    women_led: WomenLed | None = None
    income: dict[date, int] = field(default_factory=dict)
    busy: set[date] = field(default_factory=set)  # months they accepted or submitted work


async def _artisans(session: AsyncSession, area: str | None, zone: tzinfo) -> dict[int, _Artisan]:
    statement = (
        select(Person, ArtisanProfile, ImpactAnswers)
        .join(ArtisanProfile, col(ArtisanProfile.person_id) == col(Person.id))
        .join(ImpactAnswers, col(ImpactAnswers.person_id) == col(Person.id), isouter=True)
        .where(Person.role == Role.ARTISAN)
    )
    if area is not None:
        statement = statement.where(Person.area == area)
    found: dict[int, _Artisan] = {}
    for person, profile, answers in (await session.exec(statement)).all():
        assert person.id is not None
        verified = (
            None
            if profile.status == ArtisanStatus.PENDING or profile.verified_at is None
            else month_of(profile.verified_at, zone)
        )
        found[person.id] = _Artisan(
            id=person.id,
            area=person.area or NO_AREA,
            joined=month_of(person.created_at, zone),
            verified=verified,
            prior_income_cents=None if answers is None else answers.prior_income_cents,
            women_led=None if answers is None else answers.women_led,
        )
    return found


async def _read_income(session: AsyncSession, artisans: dict[int, _Artisan], zone: tzinfo) -> None:
    """Net earnings per artisan and month from the ledger."""
    payable = aliased(Account)
    credited = await session.exec(
        select(payable.artisan_id, Transfer.amount_cents, Transfer.created_at)
        .join(payable, col(payable.id) == col(Transfer.credit_account_id))
        .where(
            col(payable.artisan_id).is_not(None),
            col(Transfer.code).in_((EARNING, WRITE_OFF)),
        )
    )
    debited = await session.exec(
        select(payable.artisan_id, Transfer.amount_cents, Transfer.created_at)
        .join(payable, col(payable.id) == col(Transfer.debit_account_id))
        .where(col(payable.artisan_id).is_not(None), Transfer.code == REVERSAL)
    )
    for rows, sign in ((credited.all(), 1), (debited.all(), -1)):
        for artisan_id, amount, at in rows:
            artisan = None if artisan_id is None else artisans.get(artisan_id)
            if artisan is not None:
                month = month_of(at, zone)
                artisan.income[month] = artisan.income.get(month, 0) + sign * amount


async def _read_busy(session: AsyncSession, artisans: dict[int, _Artisan], zone: tzinfo) -> None:
    accepted = await session.exec(
        select(Offer.artisan_id, Offer.responded_at).where(
            col(Offer.status).in_((OfferStatus.ACCEPTED, OfferStatus.PARTLY_ACCEPTED)),
            col(Offer.responded_at).is_not(None),
        )
    )
    submitted = await session.exec(
        select(Allocation.artisan_id, Submission.submitted_at).join(
            Allocation, col(Allocation.id) == col(Submission.allocation_id)
        )
    )
    for artisan_id, at in [*accepted.all(), *submitted.all()]:
        artisan = artisans.get(artisan_id)
        if artisan is not None and at is not None:
            artisan.busy.add(month_of(at, zone))


async def _latest_month(session: AsyncSession, zone: tzinfo) -> date | None:
    """The latest month with an earning, else with a new artisan (None: nothing at all)."""
    for statement in (
        select(sa.func.max(Transfer.created_at)).where(
            col(Transfer.code).in_((EARNING, WRITE_OFF))
        ),
        select(sa.func.max(Person.created_at)).where(Person.role == Role.ARTISAN),
    ):
        latest = (await session.exec(statement)).one()
        if isinstance(latest, str):
            latest = datetime.fromisoformat(latest)
        if isinstance(latest, datetime):
            return month_of(_aware(latest), zone)
    return None


def _aware(moment: datetime) -> datetime:
    # Aggregates bypass the column type: SQLite hands back a naive UTC datetime.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# --- figures --------------------------------------------------------------------------------


def _count_rows(
    months: Sequence[date],
    areas: Sequence[str],
    members: Mapping[date, Iterable[_Artisan]],
) -> tuple[list[Row], int]:
    rows: list[Row] = []
    everyone: set[int] = set()
    for month in months:
        people = list(members.get(month, ()))
        everyone.update(a.id for a in people)
        for area in (ALL_AREAS, *areas):
            mine = [a for a in people if area == ALL_AREAS or a.area == area]
            count = len(mine)
            suppressed = _small(count)
            rows.append(
                Row(
                    label=month_label(month) + ("" if area == ALL_AREAS else f" {area}"),
                    people=count,
                    suppressed=suppressed,
                    values={} if suppressed else {"count": count},
                    month=month,
                    area=area,
                )
            )
    return rows, len(everyone)


def _active(a: _Artisan, month: date) -> bool:
    return (
        a.verified is not None
        and a.verified <= month
        and (month in a.busy or a.income.get(month, 0) != 0)
    )


def _ratio_figure(key: str, ratios: Sequence[float]) -> Figure:
    count = len(ratios)
    suppressed = count < MIN_GROUP
    row = Row(
        label="all",
        people=count,
        suppressed=suppressed,
        values={} if suppressed else _spread(ratios, money=False),
    )
    return _figure(key, [row], count)


def _mean_income(a: _Artisan, months: Iterable[date]) -> float:
    chosen = list(months)
    return sum(a.income.get(m, 0) for m in chosen) / len(chosen)


async def _share_figures(
    session: AsyncSession, months: Sequence[date], band: ShareBand, zone: tzinfo
) -> list[Figure]:
    first = months[0]
    orders = (
        await session.exec(
            select(Order).where(
                col(Order.confirmed_at).is_not(None),
                col(Order.status).not_in((OrderStatus.DRAFT, OrderStatus.CANCELLED)),
            )
        )
    ).all()
    orders = [
        o
        for o in orders
        if o.confirmed_at is not None
        and first <= month_of(o.confirmed_at, zone)
        and month_of(o.confirmed_at, zone) <= months[-1]
    ]
    order_ids = [o.id for o in orders if o.id is not None]
    lines = (
        (await session.exec(select(OrderLine).where(col(OrderLine.order_id).in_(order_ids)))).all()
        if order_ids
        else []
    )
    boms: dict[int, list[ComponentCost]] = defaultdict(list)
    product_ids = sorted({line.product_id for line in lines})
    if product_ids:
        for product_id, per_unit, rate in (
            await session.exec(
                select(BomLine.product_id, BomLine.quantity_per_unit, Component.piece_rate_cents)
                .join(Component, col(Component.id) == col(BomLine.component_id))
                .where(col(BomLine.product_id).in_(product_ids))
            )
        ).all():
            boms[product_id].append(ComponentCost(rate, per_unit))
    names = (
        {
            p.id: p.name
            for p in (
                await session.exec(select(Product).where(col(Product.id).in_(product_ids)))
            ).all()
        }
        if product_ids
        else {}
    )
    workers: dict[int, set[int]] = defaultdict(set)  # order id -> artisans allocated work
    if order_ids:
        for order_id, artisan_id in (
            await session.exec(
                select(OrderLine.order_id, Allocation.artisan_id)
                .join(Job, col(Job.order_line_id) == col(OrderLine.id))
                .join(Allocation, col(Allocation.job_id) == col(Job.id))
                .where(col(OrderLine.order_id).in_(order_ids))
            )
        ).all():
            workers[order_id].add(artisan_id)

    sale: dict[int, list[SaleLine]] = defaultdict(list)
    by_product: dict[int, list[SaleLine]] = defaultdict(list)
    product_orders: dict[int, set[int]] = defaultdict(set)
    for line in lines:
        s = SaleLine(
            units=line.quantity,
            unit_price_cents=line.unit_price_cents,
            components=tuple(boms.get(line.product_id, ())),
        )
        sale[line.order_id].append(s)
        by_product[line.product_id].append(s)
        product_orders[line.product_id].add(line.order_id)

    def share_row(label: str, sold: Sequence[SaleLine], people: int, **where: object) -> Row | None:
        if not sold:
            return None
        share = revenue_share(sold)
        check = check_band(share, low=band.low, high=band.high)
        return Row(
            label=label,
            people=people,
            suppressed=False,
            values={
                "share": share.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP),
                "within": int(check.within),
                "revenue_cents": sum(x.revenue_cents for x in sold),
                "artisan_cents": sum(x.artisan_cents for x in sold),
            },
            **where,  # type: ignore[arg-type]
        )

    def people_of(ids: Iterable[int]) -> int:
        return len(set().union(*(workers[i] for i in ids))) if ids else 0

    by_month_rows: list[Row] = []
    for month in months:
        mine = [
            o.id
            for o in orders
            if o.id is not None
            and o.confirmed_at is not None
            and month_of(o.confirmed_at, zone) == month
        ]
        row = share_row(
            month_label(month),
            [s for i in mine for s in sale[i]],
            people_of(mine),
            month=month,
        )
        if row is not None:
            by_month_rows.append(row)
    product_rows = [
        row
        for product_id in product_ids
        if (
            row := share_row(
                names.get(product_id, str(product_id)),
                by_product[product_id],
                people_of(product_orders[product_id]),
            )
        )
        is not None
    ]
    order_rows = [
        row
        for order in sorted(orders, key=lambda o: (o.confirmed_at, o.id))
        if order.id is not None
        and (
            row := share_row(
                order.reference,
                sale[order.id],
                len(workers[order.id]),
                month=month_of(order.confirmed_at, zone) if order.confirmed_at else None,
            )
        )
        is not None
    ]
    outside = [row for row in order_rows if not row.values["within"]]
    everyone = people_of(order_ids)
    return [
        _figure("revenue_share_by_month", by_month_rows, everyone),
        _figure("revenue_share_by_product", product_rows, everyone),
        _figure("revenue_share_by_order", order_rows, everyone),
        _figure(
            "orders_outside_band",
            outside,
            people_of(
                [
                    o.id
                    for o in orders
                    if o.id is not None and o.reference in {r.label for r in outside}
                ]
            ),
        ),
    ]


async def impact_report(
    session: AsyncSession,
    *,
    month: date | None = None,
    area_id: int | None = None,
    area: str | None = None,
    band: ShareBand = DEFAULT_BAND,
    zone: tzinfo = FACTORY_ZONE,
) -> ImpactReport:
    """The impact report for the ``MONTHS_SHOWN`` months ending with ``month`` (any day of it;
    by default the latest month with data), over one ``area`` (a name, as artisans' areas are
    recorded) or every area. ``area_id`` is accepted for callers that hold a numeric id: areas
    have no table of their own, so it must be None (a number is refused)."""
    if area_id is not None:
        raise ValueError("areas are named, not numbered: pass area='<name>'")
    last = month.replace(day=1) if month is not None else await _latest_month(session, zone)
    if last is None:
        return ImpactReport(month=None, months=(), area=area, band=band, figures=())
    months = tuple(add_months(last, -k) for k in range(MONTHS_SHOWN - 1, -1, -1))
    artisans = await _artisans(session, area, zone)
    await _read_income(session, artisans, zone)
    await _read_busy(session, artisans, zone)
    areas = sorted({a.area for a in artisans.values()})
    everyone = list(artisans.values())

    active = {m: [a for a in everyone if _active(a, m)] for m in months}
    new = {m: [a for a in everyone if a.joined == m] for m in months}
    no_income = {
        m: [
            a
            for a in everyone
            if a.verified is not None and a.verified <= m and a.income.get(m, 0) == 0
        ]
        for m in months
    }
    figures: list[Figure] = []
    for key, members in (
        ("artisans_active", active),
        ("artisans_new", new),
        ("artisans_no_income", no_income),
    ):
        rows, people = _count_rows(months, areas, members)
        figures.append(_figure(key, rows, people))

    income_rows: list[Row] = []
    earning_people: set[int] = set()
    for m in months:
        incomes = [a.income.get(m, 0) for a in active[m]]
        earning_people.update(a.id for a in active[m])
        suppressed = len(incomes) < MIN_GROUP
        income_rows.append(
            Row(
                label=month_label(m),
                people=len(incomes),
                suppressed=suppressed,
                values={} if suppressed else _spread(incomes, money=True),
                month=m,
            )
        )
    figures.append(_figure("income_per_active_artisan", income_rows, len(earning_people)))

    recent = [add_months(last, -k) for k in range(RECENT_MONTHS)]
    growth: list[float] = []
    against_before: list[float] = []
    for a in everyone:
        if a.verified is None:
            continue
        recent_mean = _mean_income(a, recent)
        if months_between(a.joined, last) >= FIRST_MONTHS + RECENT_MONTHS - 1:
            first_mean = _mean_income(a, (add_months(a.joined, k) for k in range(FIRST_MONTHS)))
            if first_mean > 0:
                growth.append(recent_mean / first_mean)
        if a.prior_income_cents:
            against_before.append(recent_mean / a.prior_income_cents)
    figures.append(_ratio_figure("income_growth_since_joining", growth))
    figures.append(_ratio_figure("income_against_before_joining", against_before))

    figures.extend(await _share_figures(session, months, band, zone))

    reached = [a for a in everyone if a.verified is not None and a.verified <= last]
    answered = [a for a in reached if a.women_led in (WomenLed.YES, WomenLed.NO)]
    women = sum(1 for a in answered if a.women_led is WomenLed.YES)
    suppressed = len(answered) < MIN_GROUP
    figures.append(
        _figure(
            "women_led_share",
            [
                Row(
                    label="all",
                    people=len(answered),
                    suppressed=suppressed,
                    values={}
                    if suppressed
                    else {
                        "share": (Decimal(women) / Decimal(len(answered))).quantize(
                            Decimal("0.0001"), rounding=ROUND_HALF_UP
                        ),
                        "women_led": women,
                        "answered": len(answered),
                        "reached": len(reached),
                    },
                )
            ],
            len(answered),
        )
    )
    return ImpactReport(month=last, months=months, area=area, band=band, figures=tuple(figures))


CSV_HEADER = (
    "figure",
    "label",
    "month",
    "area",
    "people",
    "suppressed",
    "value",
    "q1",
    "median",
    "q3",
    "definition",
)


def _plain(value: Number | None) -> object:
    return "" if value is None else value


def csv_rows(report: ImpactReport) -> list[tuple[object, ...]]:
    """The report as CSV rows (a header first), for ``domain.csv_safety.csv_text``: one row per
    figure row; a suppressed row has neither its people count (``<5``) nor values. ``value`` is
    a count, a share (0..1) or nothing; ``q1/median/q3`` are cents or ratios (the figure's
    unit)."""
    rows: list[tuple[object, ...]] = [CSV_HEADER]
    for figure in report.figures:
        for row in figure.rows:
            single = row.value("count") if "count" in row.values else row.value("share")
            rows.append(
                (
                    figure.key,
                    row.label,
                    "" if row.month is None else month_label(row.month),
                    "all" if row.area == ALL_AREAS else (row.area or ""),
                    f"<{MIN_GROUP}" if row.people is None else row.people,
                    "yes" if row.suppressed else "no",
                    _plain(single),
                    _plain(row.value("q1")),
                    _plain(row.value("median")),
                    _plain(row.value("q3")),
                    figure.definition,
                )
            )
    return rows
