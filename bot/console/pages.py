"""The console's production pages: Factory, Orders (and one order, confirm a draft), Jobs,
Artisans (and one artisan, with the /why explanation). Each reads through the existing queries
(``domain.reports``, ``conversations/admin/queries.py``, ``domain.services.orders``) or the small
console modules named for what they read; confirming a draft calls the domain service chat's
``/confirm`` calls."""

from __future__ import annotations

import logging
from functools import partial

from markupsafe import Markup
from sqlmodel import col, select
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bot.channels.dispatcher import backlog, held
from bot.console.app import Console
from bot.console.artisan_record import lots_of, payouts_of
from bot.console.auth import Staff
from bot.console.charts import Bar, rate_bars
from bot.console.factory_week import pieces_this_week, weekly_rates
from bot.console.order_history import order_view
from conversations.admin import queries as admin_queries
from conversations.ports import MatchExplanations
from conversations.why import why_text
from domain.errors import DomainError, IllegalTransition, NotFound
from domain.ledger import artisan_balance
from domain.limits import MAX_ID
from domain.model import (
    ArtisanProfile,
    ArtisanSkill,
    ArtisanStatus,
    Channel,
    Job,
    OrderStatus,
    Person,
    Role,
)
from domain.reports import read_status
from domain.reputation import artisan_history, reputation
from domain.services.dead_letters import HELD_CODES, dead_letters
from domain.services.orders import confirm_order, jobs_at_risk

log = logging.getLogger(__name__)

MAX_LISTED = 100
PERSON_CHANNELS = [c for c in Channel if c not in (Channel.SHOPIFY, Channel.RETAILER_CALLBACK)]


# The outbox's states in words (its keys are the statuses /healthz reports).
OUTBOX_WORDS = {
    "queued": "console.outbox_queued",
    "sending": "console.outbox_sending",
    "failed": "console.outbox_failed",
    "dead": "console.outbox_dead",
}
HELD_WHY = HELD_CODES  # a listed message with one of these codes is held, not failed


def an_id(text: str | None) -> int | None:
    """A row id typed in a URL or form, or None."""
    text = (text or "").strip()
    if not text.isdigit() or len(text) > 9:
        return None
    value = int(text)
    return value if 0 < value <= MAX_ID else None


def _choice(value: str | None, allowed: list[str]) -> str | None:
    """A filter value only if it is one of the values offered (case-insensitive)."""
    folded = (value or "").strip().casefold()
    return next((a for a in allowed if a.casefold() == folded), None)


# --- Factory ----------------------------------------------------------------------------------


async def factory(console: Console, request: Request, staff: Staff) -> Response:
    now = console.clock()
    async with console.read() as session:
        status = await read_status(session)
        late = await jobs_at_risk(session, now=now)
        week = await pieces_this_week(session, now=now)
        rates = await weekly_rates(session, now=now)
        letters, letters_total = await dead_letters(session, limit=20)
    outbox = await backlog(console.store, PERSON_CHANNELS)
    waiting = await held(console.store)
    say = staff.person.language

    def label(monday: object) -> str:
        return f"{monday:%d/%m}"

    qc_chart = rate_bars(
        console.say(say, "console.chart_qc"),
        [Bar(label(r.week), r.qc_rate, f"{r.qc_passed}/{r.qc_reviewed}") for r in rates],
    )
    on_time_chart = rate_bars(
        console.say(say, "console.chart_on_time"),
        [Bar(label(r.week), r.on_time_rate, f"{r.on_time}/{r.due}") for r in rates],
    )
    return console.render(
        "factory.html",
        staff=staff,
        status=status,
        late=late[:MAX_LISTED],
        late_count=len(late),
        week=week,
        rates=rates,
        qc_chart=Markup(qc_chart),  # noqa: S704  (built by charts.py, every text escaped)
        on_time_chart=Markup(on_time_chart),  # noqa: S704
        outbox=outbox,
        held=waiting,
        letters=letters,
        # What needs an admin is the held messages (above) and those we gave up sending.
        failed_total=max(0, letters_total - waiting),
        outbox_words=OUTBOX_WORDS,
        held_why=HELD_WHY,
    )


# --- Orders and jobs --------------------------------------------------------------------------


async def orders(console: Console, request: Request, staff: Staff) -> Response:
    wanted = _choice(request.query_params.get("status"), [s.value for s in OrderStatus])
    status = None if wanted is None else OrderStatus(wanted)
    async with console.read() as session:
        rows, total = await admin_queries.recent_orders(session, status=status, limit=MAX_LISTED)
    return console.render(
        "orders.html",
        staff=staff,
        rows=rows,
        total=total,
        status=status,
        statuses=list(OrderStatus),
    )


async def order(console: Console, request: Request, staff: Staff) -> Response:
    order_id = an_id(request.path_params["order_id"])
    if order_id is None:
        return console.refuse(staff, 404, "console.not_found")
    async with console.read() as session:
        view = await order_view(session, order_id)
    if view is None:
        return console.refuse(staff, 404, "console.not_found")
    return console.render(
        "order.html",
        staff=staff,
        view=view,
        done=request.query_params.get("done"),
        problem=request.query_params.get("problem"),
    )


async def confirm(console: Console, request: Request, staff: Staff) -> Response:
    """Confirm a draft: ``domain.services.orders.confirm_order``, as chat's ``/confirm``."""
    order_id = an_id(request.path_params["order_id"])
    if order_id is None:
        return console.refuse(staff, 404, "console.not_found")
    outcome = "done=confirmed"
    try:
        async with console.store.transaction() as session:
            jobs = await confirm_order(session, order_id, now=console.clock())
        log.info("console: person %s confirmed order %s (%s jobs)", staff.id, order_id, len(jobs))
        console.wake_outbox()
    except NotFound:
        return console.refuse(staff, 404, "console.not_found")
    except IllegalTransition:
        outcome = "problem=not_draft"
    except DomainError as exc:
        log.info("console: order %s not confirmed: %s", order_id, exc)
        outcome = "problem=refused"
    return RedirectResponse(f"/console/orders/{order_id}?{outcome}", status_code=303)


async def jobs(console: Console, request: Request, staff: Staff) -> Response:
    late_only = request.query_params.get("show") == "late"
    now = console.clock()
    async with console.read() as session:
        at_risk = await jobs_at_risk(session, now=now)
        late_ids = {job.id for job, _ in at_risk}
        if late_only:
            shown = at_risk[:MAX_LISTED]
            orders_of = await admin_queries.order_of_jobs(
                session, [j.id for j, _ in shown if j.id is not None]
            )
            rows = [(job, component, orders_of.get(job.id or 0, 0)) for job, component in shown]
            total = len(at_risk)
        else:
            found, total = await admin_queries.open_jobs(session, limit=MAX_LISTED)
            rows = [(row.job, row.component, row.order_id) for row in found]
    return console.render(
        "jobs.html",
        staff=staff,
        rows=rows,
        total=total,
        late_only=late_only,
        late_ids=late_ids,
    )


# --- Artisans ---------------------------------------------------------------------------------


def _in_areas(staff: Staff, area: str | None) -> bool:
    """Whether a field agent covers ``area``; admins see every area."""
    if staff.person.role is Role.ADMIN:
        return True
    return area is not None and area.casefold() in {a.casefold() for a in staff.areas}


async def artisans(console: Console, request: Request, staff: Staff) -> Response:
    query = request.query_params
    async with console.read() as session:
        skills = await admin_queries.known_skills(session)
        areas = await admin_queries.known_areas(session)
        if staff.person.role is not Role.ADMIN:
            areas = [a for a in areas if _in_areas(staff, a)]
        skill = _choice(query.get("skill"), skills)
        area = _choice(query.get("area"), areas)
        wanted = _choice(query.get("status"), [s.value for s in ArtisanStatus])
        statuses = tuple(ArtisanStatus) if wanted is None else (ArtisanStatus(wanted),)
        rows, _ = await admin_queries.artisans(session, skill=skill, area=area, statuses=statuses)
    rows = [row for row in rows if _in_areas(staff, row.person.area)]
    return console.render(
        "artisans.html",
        staff=staff,
        rows=rows[:MAX_LISTED],
        total=len(rows),
        skills=skills,
        areas=areas,
        skill=skill,
        area=area,
        status=wanted,
        statuses=list(ArtisanStatus),
    )


async def artisan(console: Console, request: Request, staff: Staff) -> Response:
    artisan_id = an_id(request.path_params["artisan_id"])
    if artisan_id is None:
        return console.refuse(staff, 404, "console.not_found")
    now = console.clock()
    job_id = an_id(request.query_params.get("job"))
    explanation = None
    async with console.read() as session:
        person = await session.get(Person, artisan_id)
        profile = await session.get(ArtisanProfile, artisan_id)
        # Another area's artisan is "not found" to a field agent: no hint they exist.
        if person is None or profile is None or not _in_areas(staff, person.area):
            return console.refuse(staff, 404, "console.not_found")
        skills = list(
            await session.exec(
                select(ArtisanSkill)
                .where(ArtisanSkill.artisan_id == artisan_id)
                .order_by(col(ArtisanSkill.skill))
            )
        )
        history = await artisan_history(session, artisan_id, now=now)
        score = reputation(history)
        balance = await artisan_balance(session, artisan_id)
        lots = await lots_of(session, artisan_id)
        payouts = await payouts_of(session, artisan_id) if staff.person.role is Role.ADMIN else []
        if job_id is not None and console.explainer is not None:
            if await session.get(Job, job_id) is None:
                explanation = console.say(staff.person.language, "console.job_not_found")
            elif isinstance(console.explainer, MatchExplanations):
                # The figures said in the viewer's language, as chat's /why says them.
                figures = await console.explainer.explanation(
                    session, artisan_id=artisan_id, job_id=job_id, now=now
                )
                explanation = why_text(partial(console.say, staff.person.language), figures)
            else:
                explanation = await console.explainer.explain(
                    session, artisan_id=artisan_id, job_id=job_id, now=now
                )
    return console.render(
        "artisan.html",
        staff=staff,
        person=person,
        profile=profile,
        skills=skills,
        history=history,
        score=score,
        balance=balance,
        lots=lots,
        payouts=payouts,
        job_id=job_id,
        explanation=explanation,
        can_explain=console.explainer is not None,
    )
