"""Admins' commands about orders and the work they become.

Orders: ``/orders [status]``, ``/order <id>``, ``/neworder`` (guided: ``flows/new_order.py``),
``/import_orders`` (caption of an attached CSV; its reply has "Confirm all N"), ``/confirm <id>``
(or several: ``/confirm 12 13``, ``/confirm 12-20``: ``confirm_orders.py``),
``/cancel <id> [reason]``, ``/ship <id> [carrier] [tracking]``.
Production: ``/jobs [late]``, ``/match``, ``/why <artisan> <job>``.
"""

from __future__ import annotations

import logging

from conversations.admin import queries as reports
from conversations.admin.confirm_orders import (
    confirm_hint,
    confirm_several,
    several_ids,
    with_confirm_all,
)
from conversations.admin.flows import cancel_order as cancel_order_flow
from conversations.admin.flows import new_order
from conversations.admin.order_write_offs import write_off_lines
from conversations.admin.pager import continuing, paged, split_page
from conversations.admin.pending import pieces_on_offer, why_nothing_offered
from conversations.admin.replies import (
    ADMINS,
    CUSTOMER_KIND,
    JOB_STATUS,
    ORDER_STATUS,
    Replies,
    an_id,
    chunks,
    row_id,
    share_line,
)
from conversations.errors import error_text, row_error_text
from conversations.flow import Command, Context, Start
from conversations.formatting import written_date
from conversations.i18n import N_
from conversations.messages import Reply
from conversations.ports import DocumentUnreadable, MatchExplainer, MatchExplanations
from conversations.why import why_text
from domain.csv_formats import CsvRejected, parse_orders_csv
from domain.errors import DomainError, IllegalTransition, NotFound
from domain.explosion import factory_today
from domain.limits import MAX_CARRIER_LENGTH, MAX_TRACKING_LENGTH
from domain.model import (
    ORDER_TRANSITIONS,
    ArtisanProfile,
    Component,
    Customer,
    Job,
    JobStatus,
    NameKind,
    Order,
    OrderStatus,
)
from domain.quantities import job_tally
from domain.services.catalogue_io import order_context
from domain.services.guards import InvalidField
from domain.services.materials import order_materials
from domain.services.orders import (
    bills_of_materials,
    confirm_order,
    create_order,
    get_or_create_customer,
    jobs_at_risk,
    jobs_of_order,
    order_lines,
    ship_order,
)
from domain.text import clean_text, quoted

log = logging.getLogger(__name__)

MAX_CSV_BYTES = 1_000_000
_ASSEMBLING = frozenset({OrderStatus.IN_PRODUCTION, OrderStatus.READY, OrderStatus.SHIPPED})
_LATE = frozenset({"late", "risk", "at risk", "chelewa", "kuchelewa", "hatari"})


# --- orders -----------------------------------------------------------------------------------


async def list_orders(ctx: Context, argument: str = "") -> Replies:
    filter_text, page = split_page(argument)
    wanted = filter_text.casefold().replace(" ", "_")
    status = None
    if wanted:
        named = {ctx.t(msgid).casefold().replace(" ", "_"): s for s, msgid in ORDER_STATUS.items()}
        status = {str(s): s for s in OrderStatus}.get(wanted) or named.get(wanted)
        if status is None:
            choices = ", ".join(str(s) for s in OrderStatus)
            return [Reply(ctx.t("admin.orders_usage", statuses=choices))]
    rows, total = await reports.recent_orders(
        ctx.session, status=status, limit=page.size, offset=page.offset
    )
    if not total:
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
                due=written_date(ctx.language, row.order.due_date),
            )
            for row in group
        ]
    return paged(
        ctx,
        command="orders",
        filter_text=filter_text,
        page=page,
        total=total,
        header=ctx.t("admin.orders_title", count=total),
        lines=lines,
        footer=[ctx.t("admin.orders_hint")],
    )


async def _order(ctx: Context, argument: str) -> Replies:
    order_id = an_id(argument)
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
        due=written_date(ctx.language, order.due_date),
    )
    lines: list[str] = []
    if order.cancel_reason:
        lines.append(ctx.t("admin.order_cancel_reason", reason=quoted(order.cancel_reason)))
    if order.status is OrderStatus.SHIPPED and (order.carrier or order.tracking_reference):
        lines.append(_shipped_with(ctx, order))
    total = 0
    for line, product in await order_lines(ctx.session, order_id):
        total += line.quantity * line.unit_price_cents
        item = ctx.t(
            "admin.order_item",
            sku=product.sku,
            name=ctx.catalogue.name(ctx.language, NameKind.PRODUCT, product.sku),
            quantity=line.quantity,
            price=ctx.money(line.unit_price_cents),
            total=ctx.money(line.quantity * line.unit_price_cents),
        )
        if order.status in _ASSEMBLING:
            item += " " + ctx.t(
                "admin.order_item_assembled",
                line=line.id,
                assembled=line.assembled_quantity,
                quantity=line.quantity,
            )
        lines.append(item)
    lines.append(ctx.t("admin.order_total", total=ctx.money(total)))
    jobs = await jobs_of_order(ctx.session, order_id)
    if jobs:
        lines.append(ctx.t("admin.order_jobs"))
        lines += [await _job_line(ctx, job) for job in jobs]
        lines += await _material_lines(ctx, order_id)
        lines += await write_off_lines(ctx, order_id)
    elif order.status is OrderStatus.DRAFT:
        lines.append(ctx.t("admin.order_draft_hint", id=order_id))
    lines.append(share_line(ctx, await reports.order_share(ctx.session, [order_id], ctx.policy)))
    return chunks(header, lines)


async def _material_lines(ctx: Context, order_id: int) -> list[str]:
    """Per material: what the order's jobs need by their bills of materials, against what was
    handed over on requests made for them (none when the components list no material)."""
    issues = await order_materials(ctx.session, order_id)
    if not issues:
        return []
    return [
        ctx.t("materials.order_title"),
        *(
            ctx.t(
                "materials.order_line",
                material=issue.material,
                unit=issue.unit,
                needed=f"{issue.needed.normalize():f}",
                handed=f"{issue.handed_over.normalize():f}",
            )
            for issue in issues
        ),
    ]


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
        due=written_date(ctx.language, job.due_date),
        status=ctx.t(JOB_STATUS[job.status]),
        allocated=tally.allocated,
        passed=tally.passed,
        received=tally.received,
    )
    if order_id is not None:
        text += " " + ctx.t("admin.job_of_order", order=order_id)
    if job.status in (JobStatus.OPEN, JobStatus.IN_PRODUCTION):
        # Pending work, so "0 / 0 / 0" never hides offers that are out.
        offered = await pieces_on_offer(ctx.session, job.id)
        text += "\n" + ctx.t(
            "admin.job_pending",
            accepted=tally.allocated,
            offered=offered,
            untaken=max(0, tally.ordered - tally.allocated),
        )
    return text


async def _new_order(ctx: Context, _argument: str) -> Start:
    return Start(new_order.NAME)


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
    known = await order_context(ctx.session)
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
        return chunks(header, ("• " + row_error_text(ctx, error) for error in rejected.errors))
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
        return [Reply(ctx.t("admin.import_failed", reason=error_text(ctx, exc)))]
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
    ids = [order.id for order, _ in created if order.id is not None]
    lines.append(confirm_hint(ctx, ids))
    replies = chunks(ctx.t("admin.imported", count=len(created), pieces=pieces), lines)
    return with_confirm_all(ctx, replies, ids)


async def _confirm(ctx: Context, argument: str) -> Replies:
    several = several_ids(argument)
    if several is not None and len(several) > 1:  # "Confirm all N", or /confirm 12 13 14
        return await confirm_several(ctx, several)
    order_id = an_id(argument)
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
        return [Reply(ctx.t("admin.confirm_refused", id=order_id, reason=error_text(ctx, exc)))]
    return [Reply(ctx.t("admin.confirmed", id=order_id, jobs=len(jobs), count=len(jobs)))]


def _said(ctx: Context, status: OrderStatus) -> str:
    return ctx.t(ORDER_STATUS[status]).casefold()


async def _cancel(ctx: Context, argument: str) -> Replies | Start:
    """Check the order may still be cancelled, then show what stops and ask
    (``flows/cancel_order.py``): artisans' work is not stopped on one typed line."""
    order_id = an_id(argument)
    if order_id is None:
        return [Reply(ctx.t("admin.cancel_usage"))]
    parts = argument.split(maxsplit=1)
    reason = clean_text(parts[1])[:200] if len(parts) > 1 else ""
    order = await ctx.session.get(Order, order_id)
    if order is None:
        return [Reply(ctx.t("admin.order_not_found", id=order_id))]
    if not ORDER_TRANSITIONS.can(order.status, OrderStatus.CANCELLED):
        return [Reply(ctx.t("admin.cancel_refused", id=order_id, status=_said(ctx, order.status)))]
    return Start(cancel_order_flow.NAME, {"order": order_id, "reason": reason})


def _carrier_and_tracking(words: list[str]) -> tuple[str | None, str | None]:
    """``G4S KE123`` after the order's number: the carrier's name, then the tracking reference
    as the last word when it has a digit in it (``Fargo Courier FC-0042``); either may be left
    out."""
    if len(words) >= 2 and any(ch.isdigit() for ch in words[-1]):
        return " ".join(words[:-1]), words[-1]
    return (" ".join(words) or None), None


async def _ship(ctx: Context, argument: str) -> Replies:
    order_id = an_id(argument)
    if order_id is None:
        return [Reply(ctx.t("admin.ship_usage"))]
    carrier, tracking = _carrier_and_tracking(argument.split()[1:])
    try:
        async with ctx.session.begin_nested():  # a refusal leaves nothing half-made
            order = await ship_order(
                ctx.session, order_id, now=ctx.now, carrier=carrier, tracking=tracking
            )
    except NotFound:
        return [Reply(ctx.t("admin.order_not_found", id=order_id))]
    except IllegalTransition as exc:
        status = OrderStatus(exc.current)
        shipped = await ctx.session.get(Order, order_id)
        if status is OrderStatus.SHIPPED and shipped is not None:  # sent twice, or by two admins
            text = ctx.t("admin.ship_already", id=order_id)
            if shipped.carrier or shipped.tracking_reference:
                text += "\n" + _shipped_with(ctx, shipped)
            return [Reply(text)]
        return [Reply(ctx.t("admin.ship_not_ready", id=order_id, status=_said(ctx, status)))]
    except InvalidField as exc:
        most = MAX_CARRIER_LENGTH if exc.field == "carrier" else MAX_TRACKING_LENGTH
        msgid = (
            N_("admin.ship_carrier_too_long")
            if exc.field == "carrier"
            else N_("admin.ship_tracking_too_long")
        )
        return [Reply(ctx.t(msgid, max=most))]
    text = ctx.t("admin.shipped", id=order_id)
    if order.carrier or order.tracking_reference:
        text += "\n" + _shipped_with(ctx, order)
    return [Reply(text)]


def _shipped_with(ctx: Context, order: Order) -> str:
    return ctx.t(
        "admin.order_shipped_with",
        carrier=quoted(order.carrier),
        tracking=quoted(order.tracking_reference),
    )


# --- production -------------------------------------------------------------------------------


async def _jobs(ctx: Context, argument: str) -> Replies:
    filter_text, page = split_page(argument)
    wanted = filter_text.casefold()
    if wanted and wanted not in _LATE:
        return [Reply(ctx.t("admin.jobs_usage"))]
    if wanted:
        late = await jobs_at_risk(ctx.session, now=ctx.now)
        if not late:
            return [Reply(ctx.t("admin.jobs_none_late"))]
        shown = [job for job, _ in late[page.offset : page.offset + page.size]]
        orders = await reports.order_of_jobs(ctx.session, [j.id for j in shown if j.id])
        lines = [await _job_line(ctx, job, orders.get(job.id or 0)) for job in shown]
        header = ctx.t("admin.jobs_late_title", count=len(late))
        total = len(late)
    else:
        rows, total = await reports.open_jobs(ctx.session, limit=page.size, offset=page.offset)
        if not total:
            return [Reply(ctx.t("admin.jobs_none"))]
        lines = [await _job_line(ctx, row.job, row.order_id) for row in rows]
        header = ctx.t("admin.jobs_title", count=total)
    return paged(
        ctx,
        command="jobs",
        filter_text=filter_text,
        page=page,
        total=total,
        header=header,
        lines=lines,
    )


async def _match(ctx: Context, _argument: str) -> Replies:
    if ctx.matcher is None:
        return [Reply(ctx.t("admin.match_not_configured"))]
    try:
        summary = await ctx.matcher(ctx.session, ctx.now)
    except DomainError as exc:
        return [Reply(ctx.t("admin.match_failed", reason=error_text(ctx, exc)))]
    done = ctx.t("admin.match_done", offers=summary.offers_made, pieces=summary.pieces_offered)
    if summary.offers_made:
        return [Reply(done)]
    return chunks(ctx.t("admin.match_none"), await why_nothing_offered(ctx, summary))


async def _why(ctx: Context, argument: str) -> Replies:
    match [row_id(token) for token in argument.split()]:
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
    if isinstance(matcher, MatchExplanations):  # said in the admin's language
        figures = await matcher.explanation(
            ctx.session, artisan_id=artisan_id, job_id=job_id, now=ctx.now
        )
        explanation = why_text(ctx.t, figures)
    else:
        explanation = await matcher.explain(
            ctx.session, artisan_id=artisan_id, job_id=job_id, now=ctx.now
        )
    return [Reply(ctx.t("admin.why", artisan=artisan_id, job=job_id, explanation=explanation))]


COMMANDS: dict[str, Command] = {
    "orders": Command(
        ADMINS, continuing("orders", list_orders), N_("admin.help_orders"), button=True
    ),
    "order": Command(ADMINS, _order, N_("admin.help_order")),
    "neworder": Command(ADMINS, _new_order, N_("admin.help_neworder")),
    "import_orders": Command(ADMINS, _import_orders, N_("admin.help_import_orders")),
    "confirm": Command(ADMINS, _confirm, N_("admin.help_confirm"), button=True),
    "cancel": Command(ADMINS, _cancel, N_("admin.help_cancel")),
    "ship": Command(ADMINS, _ship, N_("admin.help_ship"), button=True),
    "jobs": Command(ADMINS, continuing("jobs", _jobs), N_("admin.help_jobs"), button=True),
    "match": Command(ADMINS, _match, N_("admin.help_match")),
    "why": Command(ADMINS, _why, N_("admin.help_why")),
}
