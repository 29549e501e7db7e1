"""Slash commands for admins, the same on every channel, each answered in the admin's language.

Orders: ``/orders [status]``, ``/order <id>``, ``/neworder`` (guided), ``/import_orders`` (caption
of an attached CSV), ``/confirm <id>``, ``/cancel <id> [reason]``, ``/ship <id>``. Production:
``/jobs [late]``, ``/match``, ``/why <artisan> <job>``. Artisans: ``/artisans [skill|area]``,
``/artisan <id>``, ``/pause <id>``, ``/resume <id>``, ``/broadcast <skill|area|all> <text>``.
Money: ``/payouts``, ``/make_payouts``, ``/approve_payouts [batch]``, ``/cancel_payouts [batch]``.
The factory: ``/stats``, ``/deadletters``, ``/retry <id>``. ``/help`` (a global word) lists them
from the usage msgids below.

Only admins may run any of them: ``slash.run_slash`` refuses everybody else with a clear reply and
logs who tried. Domain errors each map to a polite reply; the domain's own English reason is
shown only where an admin needs it to fix something (a refused CSV line, a BOM missing).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Protocol

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations import admin_reports as reports
from conversations.flow import Command, Context, Start
from conversations.i18n import N_
from conversations.messages import Reply
from conversations.outbox import notify_person
from conversations.ports import DocumentUnreadable, MatchExplainer
from domain.csv_formats import CsvRejected, parse_orders_csv
from domain.errors import DomainError, IllegalTransition, NotFound
from domain.explosion import factory_today
from domain.ledger import artisan_balance
from domain.limits import MAX_ID
from domain.model import (
    ArtisanProfile,
    ArtisanSkill,
    ArtisanStatus,
    Component,
    Customer,
    CustomerKind,
    Job,
    JobStatus,
    Order,
    OrderStatus,
    PayoutBatch,
    Person,
    Role,
)
from domain.numbers import or_none, whole_number
from domain.payouts import (
    approve_batch,
    batch_count_and_total,
    cancel_batch,
    create_payout_batch,
)
from domain.quantities import job_tally
from domain.reputation import artisan_history, reputation
from domain.revenue_share import BandCheck
from domain.services import dead_letters
from domain.services.orders import (
    bills_of_materials,
    cancel_order,
    confirm_order,
    create_order,
    get_or_create_customer,
    jobs_at_risk,
    jobs_of_order,
    order_lines,
    ship_order,
)
from domain.services.people import pause_artisan, resume_artisan
from domain.text import clean_text, quoted

log = logging.getLogger(__name__)

ADMINS = frozenset({Role.ADMIN})
NEW_ORDER_FLOW = "new_order"  # conversations/flows/new_order.py (importing it here would loop)
MAX_LISTED = 15
MAX_REPLY = 1_500  # characters per message when a list is long (WhatsApp allows 1,600)
MAX_CSV_BYTES = 1_000_000
MAX_BROADCAST = 1_000
_LATE = frozenset({"late", "risk", "at risk", "chelewa", "kuchelewa", "hatari"})
_EVERYONE = frozenset({"all", "everyone", "wote", "kila mtu"})

Replies = list[Reply]

ORDER_STATUS: dict[OrderStatus, str] = {
    OrderStatus.DRAFT: N_("admin.status_draft"),
    OrderStatus.CONFIRMED: N_("admin.status_confirmed"),
    OrderStatus.IN_PRODUCTION: N_("admin.status_in_production"),
    OrderStatus.READY: N_("admin.status_ready"),
    OrderStatus.SHIPPED: N_("admin.status_shipped"),
    OrderStatus.CANCELLED: N_("admin.status_cancelled"),
}
JOB_STATUS: dict[JobStatus, str] = {
    JobStatus.OPEN: N_("admin.job_open"),
    JobStatus.IN_PRODUCTION: N_("admin.job_in_production"),
    JobStatus.COMPLETED: N_("admin.job_completed"),
    JobStatus.CANCELLED: N_("admin.job_cancelled"),
}
ARTISAN_STATUS: dict[ArtisanStatus, str] = {
    ArtisanStatus.PENDING: N_("admin.artisan_pending"),
    ArtisanStatus.ACTIVE: N_("admin.artisan_active"),
    ArtisanStatus.PAUSED: N_("admin.artisan_paused"),
}
CUSTOMER_KIND: dict[CustomerKind, str] = {
    CustomerKind.RETAILER: N_("admin.kind_retailer"),
    CustomerKind.WEB_SHOP: N_("admin.kind_web_shop"),
}


# --- how numbers look -------------------------------------------------------------------------


def money(cents: int) -> str:
    """``125000`` -> ``KES 1,250``; cents shown only when there are any."""
    whole, part = divmod(cents, 100)
    return f"KES {whole:,}" if part == 0 else f"KES {whole:,}.{part:02d}"


def day(value: date) -> str:
    """A factory date (already Nairobi's) as Kenyans write it."""
    return value.strftime("%d/%m/%Y")


def percent(value: Decimal | None) -> str:
    return "–" if value is None else f"{(value * 100).quantize(Decimal('1'))}%"


def _an_id(argument: str) -> int | None:
    token = argument.strip().split(maxsplit=1)[0] if argument.strip() else ""
    return _id(token)


def _id(token: str) -> int | None:
    """``12`` or ``#12``: a row id as people type it (``domain.numbers``, digits only)."""
    return or_none(whole_number, token.removeprefix("#"), most=MAX_ID, strict=True)


def _chunks(header: str, lines: Iterable[str]) -> Replies:
    """``header`` and ``lines`` as few messages as fit WhatsApp's length."""
    replies: list[str] = [header]
    for line in lines:
        if len(replies[-1]) + 1 + len(line) > MAX_REPLY:
            replies.append(line)
        else:
            replies[-1] += "\n" + line
    return [Reply(text) for text in replies]


def _admin_id(ctx: Context) -> int:
    assert ctx.person is not None  # run_slash checked the role
    assert ctx.person.id is not None
    return ctx.person.id


def _share_line(ctx: Context, check: BandCheck | None) -> str:
    if check is None:
        return ctx.t("admin.share_none")
    params = {
        "share": percent(check.share),
        "low": percent(check.low),
        "high": percent(check.high),
    }
    if check.share < check.low:
        return ctx.t("admin.share_below", **params)
    if check.share > check.high:
        return ctx.t("admin.share_above", **params)
    return ctx.t("admin.share_within", **params)


# --- orders -----------------------------------------------------------------------------------


async def list_orders(ctx: Context, argument: str = "") -> Replies:
    wanted = argument.strip().casefold().replace(" ", "_")
    status = None
    if wanted:
        named = {ctx.t(msgid).casefold().replace(" ", "_"): s for s, msgid in ORDER_STATUS.items()}
        status = {str(s): s for s in OrderStatus}.get(wanted) or named.get(wanted)
        if status is None:
            choices = ", ".join(str(s) for s in OrderStatus)
            return [Reply(ctx.t("admin.orders_usage", statuses=choices))]
    rows, total = await reports.recent_orders(ctx.session, status=status, limit=MAX_LISTED)
    if not rows:
        return [Reply(ctx.t("admin.orders_none"))]
    lines: list[str] = []
    for current in OrderStatus:
        group = [row for row in rows if row.order.status is current]
        if not group:
            continue
        lines.append(f"*{ctx.t(ORDER_STATUS[current])}*")
        lines += [
            ctx.t(
                "admin.order_line",
                id=row.order.id,
                customer=quoted(row.customer.name),
                reference=quoted(row.order.reference),
                pieces=row.pieces,
                due=day(row.order.due_date),
            )
            for row in group
        ]
    if total > len(rows):
        lines.append(ctx.t("admin.more", count=total - len(rows)))
    lines.append(ctx.t("admin.orders_hint"))
    return _chunks(ctx.t("admin.orders_title", count=total), lines)


async def _order(ctx: Context, argument: str) -> Replies:
    order_id = _an_id(argument)
    if order_id is None:
        return [Reply(ctx.t("admin.order_usage"))]
    order = await ctx.session.get(Order, order_id)
    if order is None:
        return [Reply(ctx.t("admin.order_not_found", id=order_id))]
    customer = await ctx.session.get(Customer, order.customer_id)
    assert customer is not None
    header = ctx.t(
        "admin.order_header",
        id=order_id,
        customer=quoted(customer.name),
        kind=ctx.t(CUSTOMER_KIND[customer.kind]),
        reference=quoted(order.reference),
        status=ctx.t(ORDER_STATUS[order.status]),
        due=day(order.due_date),
    )
    lines: list[str] = []
    if order.cancel_reason:
        lines.append(ctx.t("admin.order_cancel_reason", reason=quoted(order.cancel_reason)))
    total = 0
    for line, product in await order_lines(ctx.session, order_id):
        total += line.quantity * line.unit_price_cents
        lines.append(
            ctx.t(
                "admin.order_item",
                sku=product.sku,
                name=product.name,
                quantity=line.quantity,
                price=money(line.unit_price_cents),
                total=money(line.quantity * line.unit_price_cents),
            )
        )
    lines.append(ctx.t("admin.order_total", total=money(total)))
    jobs = await jobs_of_order(ctx.session, order_id)
    if jobs:
        lines.append(ctx.t("admin.order_jobs"))
        lines += [await _job_line(ctx, job) for job in jobs]
    elif order.status is OrderStatus.DRAFT:
        lines.append(ctx.t("admin.order_draft_hint", id=order_id))
    lines.append(_share_line(ctx, await reports.order_share(ctx.session, [order_id], ctx.policy)))
    return _chunks(header, lines)


async def _job_line(ctx: Context, job: Job, order_id: int | None = None) -> str:
    assert job.id is not None
    component = await ctx.session.get(Component, job.component_id)
    assert component is not None
    tally = await job_tally(ctx.session, job.id)
    text = ctx.t(
        "admin.job_line",
        id=job.id,
        component=component.name,
        ordered=tally.ordered,
        due=day(job.due_date),
        status=ctx.t(JOB_STATUS[job.status]),
        allocated=tally.allocated,
        passed=tally.passed,
        received=tally.received,
    )
    if order_id is not None:
        text += " " + ctx.t("admin.job_of_order", order=order_id)
    return text


async def _new_order(ctx: Context, _argument: str) -> Start:
    return Start(NEW_ORDER_FLOW)


async def _import_orders(ctx: Context, _argument: str) -> Replies:
    if not ctx.media:
        return [Reply(ctx.t("admin.import_usage"))]
    if ctx.documents is None:
        return [Reply(ctx.t("admin.import_not_configured"))]
    if len(ctx.media) > 1:
        return [Reply(ctx.t("admin.import_one_file"))]
    [document] = ctx.media
    if document.size > MAX_CSV_BYTES:
        return [Reply(ctx.t("admin.import_too_big", max_kb=MAX_CSV_BYTES // 1000))]
    try:
        text = await ctx.documents.read_text(document.ref)
    except (DocumentUnreadable, OSError, UnicodeDecodeError) as exc:
        log.warning("could not read document %s: %s", document.ref, exc)
        return [Reply(ctx.t("admin.import_unreadable"))]
    known = await reports.order_context(ctx.session)
    try:
        specs = parse_orders_csv(
            text,
            known_skus=known.known_skus,
            today=factory_today(ctx.now),
            existing_orders=known.existing_orders,
            customer_kinds=known.customer_kinds,
            boms=await bills_of_materials(ctx.session),
        )
    except CsvRejected as rejected:
        header = ctx.t("admin.import_rejected", count=len(rejected.errors))
        return _chunks(header, (f"• {error}" for error in rejected.errors))
    if not specs:
        return [Reply(ctx.t("admin.import_empty"))]
    created: list[tuple[Order, str]] = []
    try:
        # A savepoint: should the database refuse one order after all, none is kept.
        async with ctx.session.begin_nested():
            for spec in specs:
                customer = await get_or_create_customer(
                    ctx.session, name=spec.customer, kind=spec.customer_kind
                )
                assert customer.id is not None
                order = await create_order(
                    ctx.session,
                    customer_id=customer.id,
                    reference=spec.reference,
                    due_date=spec.due_date,
                    lines=[(line.sku, line.quantity) for line in spec.lines],
                    now=ctx.now,
                )
                created.append((order, customer.name))
    except DomainError as exc:
        return [Reply(ctx.t("admin.import_failed", reason=str(exc)))]
    pieces = sum(line.quantity for spec in specs for line in spec.lines)
    lines = [
        ctx.t(
            "admin.imported_line",
            id=order.id,
            customer=quoted(name),
            reference=quoted(order.reference),
        )
        for order, name in created
    ]
    lines.append(ctx.t("admin.imported_hint"))
    return _chunks(ctx.t("admin.imported", count=len(created), pieces=pieces), lines)


async def _confirm(ctx: Context, argument: str) -> Replies:
    order_id = _an_id(argument)
    if order_id is None:
        return [Reply(ctx.t("admin.confirm_usage"))]
    try:
        jobs = await confirm_order(ctx.session, order_id, now=ctx.now)
    except NotFound:
        return [Reply(ctx.t("admin.order_not_found", id=order_id))]
    except IllegalTransition as exc:
        status = OrderStatus(exc.current)
        return [Reply(ctx.t("admin.confirm_not_draft", id=order_id, status=_said(ctx, status)))]
    except DomainError as exc:  # a product without a bill of materials
        return [Reply(ctx.t("admin.confirm_refused", id=order_id, reason=str(exc)))]
    return [Reply(ctx.t("admin.confirmed", id=order_id, jobs=len(jobs)))]


def _said(ctx: Context, status: OrderStatus) -> str:
    return ctx.t(ORDER_STATUS[status]).casefold()


async def _cancel(ctx: Context, argument: str) -> Replies:
    order_id = _an_id(argument)
    if order_id is None:
        return [Reply(ctx.t("admin.cancel_usage"))]
    parts = argument.split(maxsplit=1)
    reason = clean_text(parts[1])[:200] if len(parts) > 1 else ""
    assert ctx.person is not None
    try:
        open_before = [
            job
            for job in await jobs_of_order(ctx.session, order_id)
            if job.status in (JobStatus.OPEN, JobStatus.IN_PRODUCTION)
        ]
        await cancel_order(
            ctx.session,
            order_id,
            reason=reason or f"cancelled by {ctx.person.name}",
            now=ctx.now,
        )
    except NotFound:
        return [Reply(ctx.t("admin.order_not_found", id=order_id))]
    except IllegalTransition as exc:
        status = OrderStatus(exc.current)
        return [Reply(ctx.t("admin.cancel_refused", id=order_id, status=_said(ctx, status)))]
    return [Reply(ctx.t("admin.cancelled", id=order_id, jobs=len(open_before)))]


async def _ship(ctx: Context, argument: str) -> Replies:
    order_id = _an_id(argument)
    if order_id is None:
        return [Reply(ctx.t("admin.ship_usage"))]
    try:
        await ship_order(ctx.session, order_id, now=ctx.now)
    except NotFound:
        return [Reply(ctx.t("admin.order_not_found", id=order_id))]
    except IllegalTransition as exc:
        status = OrderStatus(exc.current)
        return [Reply(ctx.t("admin.ship_not_ready", id=order_id, status=_said(ctx, status)))]
    return [Reply(ctx.t("admin.shipped", id=order_id))]


# --- production -------------------------------------------------------------------------------


async def _jobs(ctx: Context, argument: str) -> Replies:
    wanted = " ".join(argument.casefold().split())
    if wanted and wanted not in _LATE:
        return [Reply(ctx.t("admin.jobs_usage"))]
    if wanted:
        late = await jobs_at_risk(ctx.session, now=ctx.now)
        if not late:
            return [Reply(ctx.t("admin.jobs_none_late"))]
        shown = [job for job, _ in late[:MAX_LISTED]]
        orders = await reports.order_of_jobs(ctx.session, [j.id for j in shown if j.id])
        lines = [await _job_line(ctx, job, orders.get(job.id or 0)) for job in shown]
        if len(late) > len(shown):
            lines.append(ctx.t("admin.more", count=len(late) - len(shown)))
        return _chunks(ctx.t("admin.jobs_late_title", count=len(late)), lines)
    rows, total = await reports.open_jobs(ctx.session, limit=MAX_LISTED)
    if not rows:
        return [Reply(ctx.t("admin.jobs_none"))]
    lines = [await _job_line(ctx, row.job, row.order_id) for row in rows]
    if total > len(rows):
        lines.append(ctx.t("admin.more", count=total - len(rows)))
    return _chunks(ctx.t("admin.jobs_title", count=total), lines)


async def _match(ctx: Context, _argument: str) -> Replies:
    if ctx.matcher is None:
        return [Reply(ctx.t("admin.match_not_configured"))]
    try:
        summary = await ctx.matcher(ctx.session, ctx.now)
    except DomainError as exc:
        return [Reply(ctx.t("admin.match_failed", reason=str(exc)))]
    return [
        Reply(ctx.t("admin.match_done", offers=summary.offers_made, pieces=summary.pieces_offered))
    ]


async def _why(ctx: Context, argument: str) -> Replies:
    match [_id(token) for token in argument.split()]:
        case [int(artisan_id), int(job_id)]:
            pass
        case _:
            return [Reply(ctx.t("admin.why_usage"))]
    matcher = ctx.matcher
    if matcher is None or not isinstance(matcher, MatchExplainer):
        return [Reply(ctx.t("admin.why_not_configured"))]
    if await ctx.session.get(ArtisanProfile, artisan_id) is None:
        return [Reply(ctx.t("admin.artisan_not_found", id=artisan_id))]
    if await ctx.session.get(Job, job_id) is None:
        return [Reply(ctx.t("admin.job_not_found", id=job_id))]
    explanation = await matcher.explain(
        ctx.session, artisan_id=artisan_id, job_id=job_id, now=ctx.now
    )
    return [Reply(ctx.t("admin.why", artisan=artisan_id, job=job_id, explanation=explanation))]


# --- artisans ---------------------------------------------------------------------------------


def _named(text: str, names: Iterable[str]) -> str | None:
    """The longest of ``names`` that ``text`` starts with (as a whole word), ignoring case."""
    folded = " ".join(text.casefold().split())
    best = None
    for name in names:
        key = name.casefold()
        if (folded == key or folded.startswith(key + " ")) and (
            best is None or len(key) > len(best)
        ):
            best = name
    return best


async def list_artisans(ctx: Context, argument: str = "") -> Replies:
    wanted = " ".join(argument.split())
    skill = area = None
    if wanted:
        skills = await reports.known_skills(ctx.session)
        areas = await reports.known_areas(ctx.session)
        skill = _full(wanted, skills)
        if skill is None:
            area = _full(wanted, areas)
        if skill is None and area is None:
            return [
                Reply(
                    ctx.t(
                        "admin.artisans_unknown_filter",
                        filter=wanted,
                        skills=", ".join(skills) or "–",
                        areas=", ".join(quoted(area) for area in areas) or "–",
                    )
                )
            ]
    rows, total = await reports.artisans(ctx.session, skill=skill, area=area, limit=MAX_LISTED)
    if not rows:
        return [Reply(ctx.t("admin.artisans_none"))]
    lines = [
        ctx.t(
            "admin.artisan_line",
            id=row.person.id,
            name=quoted(row.person.name),
            workshop=quoted(row.profile.workshop),
            area=quoted(row.person.area, missing="–"),
            status=ctx.t(ARTISAN_STATUS[row.profile.status]),
            skills=", ".join(s.skill for s in row.skills) or "–",
        )
        for row in rows
    ]
    if total > len(rows):
        lines.append(ctx.t("admin.more", count=total - len(rows)))
    lines.append(ctx.t("admin.artisans_hint"))
    return _chunks(ctx.t("admin.artisans_title", count=total), lines)


def _full(text: str, names: Iterable[str]) -> str | None:
    folded = " ".join(text.casefold().split())
    return next((name for name in names if name.casefold() == folded), None)


async def _artisan_profile(ctx: Context, argument: str) -> Replies:
    artisan_id = _an_id(argument)
    if artisan_id is None:
        return [Reply(ctx.t("admin.artisan_usage"))]
    profile = await ctx.session.get(ArtisanProfile, artisan_id)
    person = await ctx.session.get(Person, artisan_id)
    if profile is None or person is None:
        return [Reply(ctx.t("admin.artisan_not_found", id=artisan_id))]
    skills = await ctx.session.exec(
        select(ArtisanSkill)
        .where(ArtisanSkill.artisan_id == artisan_id)
        .order_by(col(ArtisanSkill.skill))
    )
    score = reputation(await artisan_history(ctx.session, artisan_id, now=ctx.now))
    balance = await artisan_balance(ctx.session, artisan_id)
    text = ctx.t(
        "admin.artisan_profile",
        id=artisan_id,
        name=quoted(person.name),
        workshop=quoted(profile.workshop),
        area=quoted(person.area, missing="–"),
        status=ctx.t(ARTISAN_STATUS[profile.status]),
        mpesa=profile.mpesa_number,
        skills=", ".join(f"{s.skill} ({s.weekly_capacity})" for s in skills) or "–",
        on_time=percent(Decimal(str(score.on_time_rate))),
        qc=percent(Decimal(str(score.qc_pass_rate))),
        acceptance=percent(Decimal(str(score.acceptance_rate))),
        volume=score.volume,
        active=await reports.active_allocations(ctx.session, artisan_id),
        earned=money(balance.earned_cents),
        paid=money(balance.paid_cents),
        in_flight=money(balance.in_flight_cents),
        available=money(balance.available_cents),
    )
    if person.opted_out:
        text += "\n" + ctx.t("admin.artisan_opted_out")
    return [Reply(text)]


async def _pause(ctx: Context, argument: str) -> Replies:
    return await _pause_or_resume(ctx, argument, pause=True)


async def _resume(ctx: Context, argument: str) -> Replies:
    return await _pause_or_resume(ctx, argument, pause=False)


async def _pause_or_resume(ctx: Context, argument: str, *, pause: bool) -> Replies:
    artisan_id = _an_id(argument)
    if artisan_id is None:
        usage = N_("admin.pause_usage") if pause else N_("admin.resume_usage")
        return [Reply(ctx.t(usage))]
    change = pause_artisan if pause else resume_artisan
    try:
        profile = await change(
            ctx.session, artisan_id=artisan_id, admin_id=_admin_id(ctx), now=ctx.now
        )
    except NotFound:
        return [Reply(ctx.t("admin.artisan_not_found", id=artisan_id))]
    except IllegalTransition as exc:
        status = ctx.t(ARTISAN_STATUS[ArtisanStatus(exc.current)]).casefold()
        msgid = N_("admin.pause_refused") if pause else N_("admin.resume_refused")
        return [Reply(ctx.t(msgid, id=artisan_id, status=status))]
    person = await ctx.session.get(Person, profile.person_id)
    assert person is not None
    msgid = N_("admin.paused") if pause else N_("admin.resumed")
    return [Reply(ctx.t(msgid, id=artisan_id, name=quoted(person.name)))]


async def _broadcast(ctx: Context, argument: str) -> Replies:
    text = argument.strip()
    if not text:
        return [Reply(ctx.t("admin.broadcast_usage"))]
    skills = await reports.known_skills(ctx.session)
    areas = await reports.known_areas(ctx.session)
    everyone = _named(text, _EVERYONE)
    skill = None if everyone else _named(text, skills)
    area = None if everyone or skill else _named(text, areas)
    audience = everyone or skill or area
    if audience is None:
        return [Reply(ctx.t("admin.broadcast_unknown_audience", audience=text.split()[0]))]
    message = text[len(audience) :].strip()
    if not message:
        return [Reply(ctx.t("admin.broadcast_usage"))]
    if len(message) > MAX_BROADCAST:
        return [Reply(ctx.t("admin.broadcast_too_long", max=MAX_BROADCAST))]
    rows, _ = await reports.artisans(
        ctx.session,
        skill=skill,
        area=area,
        statuses=(ArtisanStatus.ACTIVE, ArtisanStatus.PAUSED),
    )
    if not rows:
        return [Reply(ctx.t("admin.broadcast_nobody", audience=audience))]
    sent = 0
    for row in rows:
        words = ctx.catalogue.t(row.person.language, "admin.broadcast_message", text=message)
        if await notify_person(ctx.session, row.person, Reply(words), now=ctx.now) is not None:
            sent += 1
    log.info("person %s broadcast to %s: %s of %s sent", _admin_id(ctx), audience, sent, len(rows))
    return [Reply(ctx.t("admin.broadcast_done", sent=sent, skipped=len(rows) - sent))]


# --- payouts ----------------------------------------------------------------------------------


def _started_by(ctx: Context, starter: Person | None) -> str:
    """Who made a batch, as admins see it beside the batch: an admin's name, or the schedule."""
    if starter is None:
        return ctx.t("admin.batch_scheduled")
    return ctx.t("admin.batch_started_by", name=starter.name)


async def _batch_started_by(ctx: Context, batch: PayoutBatch) -> str:
    starters = await reports.batch_starters(ctx.session, [batch])
    return _started_by(ctx, starters.get(batch.id or 0))


async def payouts_preview(ctx: Context, _argument: str = "") -> Replies:
    minimum = money(ctx.policy.payout_minimum_cents)
    waiting = await reports.batches_awaiting_approval(ctx.session)
    starters = await reports.batch_starters(ctx.session, waiting)
    replies: Replies = []
    for batch in waiting:
        assert batch.id is not None
        lines = await reports.batch_lines(ctx.session, batch.id)
        header = ctx.t(
            "admin.payout_batch",
            id=batch.id,
            by=_started_by(ctx, starters.get(batch.id)),
            count=len(lines),
            total=money(sum(payout.amount_cents for payout, _ in lines)),
        )
        replies += _chunks(
            header,
            [
                ctx.t(
                    "admin.payout_line",
                    id=person.id,
                    name=quoted(person.name),
                    amount=money(payout.amount_cents),
                    msisdn=payout.msisdn,
                )
                for payout, person in lines
            ]
            + [ctx.t("admin.payout_approve_hint")],
        )
    if replies:
        if not ctx.policy.mpesa_configured:
            replies.append(Reply(ctx.t("admin.mpesa_not_configured")))
        return replies
    due = await reports.payable_now(ctx.session, ctx.policy.payout_minimum_cents)
    if not due:
        return [Reply(ctx.t("admin.payouts_nothing", minimum=minimum))]
    header = ctx.t(
        "admin.payouts_preview",
        minimum=minimum,
        count=len(due),
        total=money(sum(amount for _, amount in due)),
    )
    return _chunks(
        header,
        [
            ctx.t(
                "admin.payout_preview_line",
                id=person.id,
                name=quoted(person.name),
                amount=money(amount),
            )
            for person, amount in due
        ]
        + [ctx.t("admin.payouts_make_hint")],
    )


async def _make_payouts(ctx: Context, _argument: str) -> Replies:
    """A batch now of everyone owed the minimum or more, started by this admin, to approve next."""
    in_the_way = await _batch_in_the_way(ctx)
    if in_the_way:
        return in_the_way
    minimum = ctx.policy.payout_minimum_cents
    batch = await create_payout_batch(
        ctx.session, minimum_cents=minimum, now=ctx.now, created_by=_admin_id(ctx)
    )
    if batch is None:
        # On PostgreSQL another admin's batch may have reserved every balance while this one
        # waited for the lock: name that batch rather than say nobody is owed.
        in_the_way = await _batch_in_the_way(ctx)
        return in_the_way or [Reply(ctx.t("admin.payouts_made_nothing", minimum=money(minimum)))]
    assert batch.id is not None
    lines = await reports.batch_lines(ctx.session, batch.id)
    total = money(sum(payout.amount_cents for payout, _ in lines))
    log.info("person %s made payout batch %s: %s payouts", _admin_id(ctx), batch.id, len(lines))
    replies = [
        Reply(
            ctx.t(
                "admin.payouts_made",
                id=batch.id,
                count=len(lines),
                total=total,
                minimum=money(minimum),
            )
        )
    ]
    if not ctx.policy.mpesa_configured:
        replies.append(Reply(ctx.t("admin.mpesa_not_configured")))
    return replies


async def _batch_in_the_way(ctx: Context) -> Replies:
    """Why no new batch should be made now (one waits for approval, or one is being made)."""
    waiting = await reports.batches_awaiting_approval(ctx.session)
    if waiting:
        batch = waiting[0]
        by = await _batch_started_by(ctx, batch)
        return [Reply(ctx.t("admin.payouts_make_waiting", id=batch.id, by=by))]
    building = await reports.batch_being_built(ctx.session)
    if building is not None:
        # Adding to a batch someone else is still building would race its builder.
        by = await _batch_started_by(ctx, building)
        return [Reply(ctx.t("admin.payouts_make_building", id=building.id, by=by))]
    return []


async def _approve_payouts(ctx: Context, argument: str) -> Replies:
    batch = await _act_on_batch(ctx, argument, _APPROVE, approve_batch)
    if not isinstance(batch, PayoutBatch):
        return batch
    assert batch.id is not None
    lines = await reports.batch_lines(ctx.session, batch.id)
    said = {
        "id": batch.id,
        "by": await _batch_started_by(ctx, batch),
        "count": len(lines),
        "total": money(sum(payout.amount_cents for payout, _ in lines)),
    }
    if not ctx.policy.mpesa_configured:
        # Never a silent drop: the money stays reserved and goes once M-Pesa is set up.
        return [Reply(ctx.t("admin.approved_not_sent", **said))]
    return [Reply(ctx.t("admin.approved", **said))]


async def _cancel_payouts(ctx: Context, argument: str) -> Replies:
    """Drop a batch before approval (a mistake, a wrong minimum, one left half-made by a crash):
    its reservations are voided and the money goes in the next batch."""
    batch = await _act_on_batch(ctx, argument, _CANCEL, cancel_batch)
    if not isinstance(batch, PayoutBatch):
        return batch
    assert batch.id is not None
    count, total = await batch_count_and_total(ctx.session, batch.id)
    log.info("person %s cancelled payout batch %s: %s payouts", _admin_id(ctx), batch.id, count)
    by = await _batch_started_by(ctx, batch)
    return [
        Reply(ctx.t("admin.payouts_cancelled", id=batch.id, by=by, count=count, total=money(total)))
    ]


class _BatchAction(Protocol):
    async def __call__(
        self, session: AsyncSession, *, batch_id: int, admin_id: int, now: datetime
    ) -> PayoutBatch: ...


@dataclass(frozen=True)
class _BatchWords:
    """What a batch command says when it cannot tell which batch is meant, or may not act."""

    usage: str
    nothing: str
    which: str
    refused: str  # the batch is no longer waiting for approval


_APPROVE = _BatchWords(
    N_("admin.approve_usage"),
    N_("admin.approve_nothing"),
    N_("admin.approve_which"),
    N_("admin.approve_not_waiting"),
)
_CANCEL = _BatchWords(
    N_("admin.cancel_payouts_usage"),
    N_("admin.cancel_payouts_nothing"),
    N_("admin.cancel_payouts_which"),
    N_("admin.cancel_payouts_too_late"),
)


async def _act_on_batch(
    ctx: Context, argument: str, words: _BatchWords, act: _BatchAction
) -> PayoutBatch | Replies:
    """``act`` on the batch the command names, or on the one waiting for approval; else the
    reply saying why not (not a number, several or none waiting, no such batch, too late)."""
    batch_id = _an_id(argument)
    if argument.strip() and batch_id is None:
        return [Reply(ctx.t(words.usage))]
    if batch_id is None:
        waiting = await reports.batches_awaiting_approval(ctx.session)
        if not waiting:
            return [Reply(ctx.t(words.nothing))]
        if len(waiting) > 1:
            ids = ", ".join(f"#{batch.id}" for batch in waiting)
            return [Reply(ctx.t(words.which, ids=ids))]
        batch_id = waiting[0].id
        assert batch_id is not None
    try:
        return await act(ctx.session, batch_id=batch_id, admin_id=_admin_id(ctx), now=ctx.now)
    except NotFound:
        return [Reply(ctx.t("admin.batch_not_found", id=batch_id))]
    except IllegalTransition as exc:
        log.info("batch %s: %s", batch_id, exc)
        return [Reply(ctx.t(words.refused, id=batch_id))]


# --- the factory ------------------------------------------------------------------------------


async def factory_stats(ctx: Context, _argument: str = "") -> Replies:
    stats = await reports.factory_stats(ctx.session, now=ctx.now, policy=ctx.policy)
    text = ctx.t(
        "admin.stats",
        since=day(stats.since),
        on_time=percent(stats.on_time.value),
        on_time_count=stats.on_time.part,
        due=stats.on_time.whole,
        qc=percent(stats.qc_pass.value),
        passed=stats.qc_pass.part,
        reviewed=stats.qc_pass.whole,
        fill=percent(stats.fill.value),
        allocated=stats.fill.part,
        ordered=stats.fill.whole,
        orders=stats.orders,
    )
    return [Reply(text + "\n" + _share_line(ctx, stats.share))]


async def _dead_letters(ctx: Context, _argument: str) -> Replies:
    rows, total = await dead_letters.dead_letters(ctx.session, limit=MAX_LISTED)
    if not rows:
        return [Reply(ctx.t("admin.deadletters_none"))]
    lines = []
    for message, person in rows:
        preview = " ".join(Reply.from_json(message.body).text.split())
        lines.append(
            ctx.t(
                "admin.deadletter_line",
                id=message.id,
                who=quoted(person.name) if person is not None else message.address,
                channel=str(message.channel),
                attempts=message.attempts,
                error=message.error_code or "–",
                preview=preview[:60] + ("…" if len(preview) > 60 else ""),
            )
        )
    if total > len(rows):
        lines.append(ctx.t("admin.more", count=total - len(rows)))
    lines.append(ctx.t("admin.deadletters_hint"))
    return _chunks(ctx.t("admin.deadletters_title", count=total), lines)


async def _retry(ctx: Context, argument: str) -> Replies:
    message_id = _an_id(argument)
    if message_id is None:
        return [Reply(ctx.t("admin.retry_usage"))]
    try:
        await dead_letters.retry(ctx.session, message_id, now=ctx.now)
    except NotFound:
        return [Reply(ctx.t("admin.retry_not_found", id=message_id))]
    except IllegalTransition as exc:
        return [Reply(ctx.t("admin.retry_not_dead", id=message_id, status=exc.current))]
    log.info("person %s queued outbox message %s again", _admin_id(ctx), message_id)
    return [Reply(ctx.t("admin.retried", id=message_id))]


# --- the menu's admin items -------------------------------------------------------------------


def menu_action(
    show: Callable[[Context, str], Awaitable[Replies]],
) -> Callable[[Context], Awaitable[Replies]]:
    """A menu item for admins only: the menu offers it to admins, and checks again here."""

    async def action(ctx: Context) -> Replies:
        if ctx.person is None or ctx.person.role not in ADMINS:
            log.warning("refused admin menu item from %s", ctx.person and ctx.person.id)
            return [Reply(ctx.t("command.forbidden"))]
        return await show(ctx, "")

    return action


MENU_ACTIONS: dict[str, Callable[[Context], Awaitable[Replies]]] = {
    "orders": menu_action(list_orders),
    "artisans": menu_action(list_artisans),
    "payouts": menu_action(payouts_preview),
    "stats": menu_action(factory_stats),
}


COMMANDS: dict[str, Command] = {
    "orders": Command(ADMINS, list_orders, N_("admin.help_orders")),
    "order": Command(ADMINS, _order, N_("admin.help_order")),
    "neworder": Command(ADMINS, _new_order, N_("admin.help_neworder")),
    "import_orders": Command(ADMINS, _import_orders, N_("admin.help_import_orders")),
    "confirm": Command(ADMINS, _confirm, N_("admin.help_confirm")),
    "cancel": Command(ADMINS, _cancel, N_("admin.help_cancel")),
    "ship": Command(ADMINS, _ship, N_("admin.help_ship")),
    "jobs": Command(ADMINS, _jobs, N_("admin.help_jobs")),
    "match": Command(ADMINS, _match, N_("admin.help_match")),
    "why": Command(ADMINS, _why, N_("admin.help_why")),
    "artisans": Command(ADMINS, list_artisans, N_("admin.help_artisans")),
    "artisan": Command(ADMINS, _artisan_profile, N_("admin.help_artisan")),
    "pause": Command(ADMINS, _pause, N_("admin.help_pause")),
    "resume": Command(ADMINS, _resume, N_("admin.help_resume")),
    "broadcast": Command(ADMINS, _broadcast, N_("admin.help_broadcast")),
    "payouts": Command(ADMINS, payouts_preview, N_("admin.help_payouts")),
    "make_payouts": Command(ADMINS, _make_payouts, N_("admin.help_make_payouts")),
    "approve_payouts": Command(ADMINS, _approve_payouts, N_("admin.help_approve_payouts")),
    "cancel_payouts": Command(ADMINS, _cancel_payouts, N_("admin.help_cancel_payouts")),
    "stats": Command(ADMINS, factory_stats, N_("admin.help_stats")),
    "deadletters": Command(ADMINS, _dead_letters, N_("admin.help_deadletters")),
    "retry": Command(ADMINS, _retry, N_("admin.help_retry")),
}
