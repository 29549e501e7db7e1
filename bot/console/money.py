"""The console's money and impact pages.

- Payouts: every batch with its payouts and M-Pesa's results, the last known M-Pesa float
  against a waiting batch's total, and the differences ``karakana payouts reconcile`` finds
  (``domain.payouts.reconcile_payouts``, the same function).
- Approving a batch takes two steps: a confirmation page that runs
  ``domain.payouts.check_approval`` (the batch limit, maker-checker, the float) and shows what
  will be paid, then a POST that calls ``domain.payouts.approve_batch`` with exactly the
  arguments chat's ``/approve_payouts`` confirmation gives it (conversations/admin/flows/
  approve_payouts.py), so both surfaces obey the same rules.
- Impact: ``domain.impact.impact_report`` and ``bot.charts.impact_chart_png``, the same figures
  and chart as ``karakana report impact`` and ``/impact``.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bot.console.app import Console
from bot.console.auth import Staff
from bot.console.pages import an_id
from bot.console.payout_batches import batches
from conversations.admin import queries as admin_queries
from conversations.admin.impact import CHART_WORDS
from conversations.formatting import money
from domain.errors import DomainError, Forbidden, IllegalTransition, NotFound
from domain.impact import ImpactReport, ShareBand, impact_report
from domain.model import Language, PayoutBatch
from domain.payouts import (
    FloatTooLow,
    FloatUnknown,
    MakerCannotApprove,
    OverBatchLimit,
    approve_batch,
    check_approval,
    float_shortfall,
    known_float,
)
from domain.payouts.reconcile import reconcile_payouts

log = logging.getLogger(__name__)

_REFUSALS: dict[type[Exception], str] = {
    OverBatchLimit: "console.approve_over_limit",
    MakerCannotApprove: "console.approve_maker",
    FloatUnknown: "console.approve_float_unknown",
    FloatTooLow: "console.approve_float_short",
    IllegalTransition: "console.approve_not_waiting",
    Forbidden: "console.not_for_your_role",
}


def _refusal(exc: Exception) -> str:
    return next(
        (msgid for kind, msgid in _REFUSALS.items() if isinstance(exc, kind)),
        "console.approve_refused",
    )


async def payouts(console: Console, request: Request, staff: Staff) -> Response:
    now = console.clock()
    async with console.read() as session:
        rows = await batches(session)
        known = await known_float(session)
    differences = await reconcile_payouts(console.store, now=now)
    return console.render(
        "payouts.html",
        staff=staff,
        rows=rows,
        known=known,
        differences=differences,
        mpesa=console.policy.mpesa_configured,
    )


async def batch(console: Console, request: Request, staff: Staff) -> Response:
    batch_id = an_id(request.path_params["batch_id"])
    if batch_id is None:
        return console.refuse(staff, 404, "console.not_found")
    async with console.read() as session:
        found = await session.get(PayoutBatch, batch_id)
        if found is None:
            return console.refuse(staff, 404, "console.not_found")
        lines = await admin_queries.batch_lines(session, batch_id)
        known = await known_float(session)
    total = sum(payout.amount_cents for payout, _ in lines)
    return console.render(
        "batch.html",
        staff=staff,
        batch=found,
        lines=lines,
        total=total,
        known=known,
        short=float_shortfall(known, total) if known is not None else 0,
        done=request.query_params.get("done"),
    )


def _approval_arguments(console: Console, staff: Staff, batch_id: int) -> dict[str, Any]:
    """What chat's ``/approve_payouts`` confirmation hands the domain, from the same policy."""
    policy = console.policy
    return {
        "batch_id": batch_id,
        "admin_id": staff.id,
        "max_batch_cents": policy.payout_max_per_batch_cents,
        "check_float": policy.mpesa_configured,
        "maker_checker": policy.payout_maker_checker,
    }


async def confirm_approval(console: Console, request: Request, staff: Staff) -> Response:
    """Step one: what approving would pay, checked, with the button that does it."""
    batch_id = an_id(request.path_params["batch_id"])
    if batch_id is None:
        return console.refuse(staff, 404, "console.not_found")
    async with console.read() as session:
        try:
            checked = await check_approval(session, **_approval_arguments(console, staff, batch_id))
        except NotFound:
            return console.refuse(staff, 404, "console.not_found")
        except DomainError as exc:
            log.info("console: batch %s cannot be approved by %s: %s", batch_id, staff.id, exc)
            return console.render(
                "approve.html", staff=staff, batch_id=batch_id, checked=None, refusal=_refusal(exc)
            )
        lines = await admin_queries.batch_lines(session, batch_id)
    return console.render(
        "approve.html",
        staff=staff,
        batch_id=batch_id,
        checked=checked,
        lines=lines,
        refusal=None,
        mpesa=console.policy.mpesa_configured,
    )


async def approve(console: Console, request: Request, staff: Staff) -> Response:
    """Step two (POST, CSRF-checked by the guard): approve through the domain, which checks every
    rule again (the float may have changed since the confirmation page)."""
    batch_id = an_id(request.path_params["batch_id"])
    if batch_id is None:
        return console.refuse(staff, 404, "console.not_found")
    if request.state.form.get("confirm") != "yes":
        return RedirectResponse(f"/console/payouts/{batch_id}/approve", status_code=303)
    try:
        async with console.store.transaction() as session:
            await approve_batch(
                session, now=console.clock(), **_approval_arguments(console, staff, batch_id)
            )
    except NotFound:
        return console.refuse(staff, 404, "console.not_found")
    except DomainError as exc:
        log.warning("console: approval of batch %s by %s refused: %s", batch_id, staff.id, exc)
        return console.render(
            "approve.html",
            staff=staff,
            batch_id=batch_id,
            checked=None,
            refusal=_refusal(exc),
            http_status=409,
        )
    log.info("console: person %s approved payout batch %s", staff.id, batch_id)
    console.wake_payouts()
    return RedirectResponse(f"/console/payouts/{batch_id}?done=approved", status_code=303)


# --- Impact ---------------------------------------------------------------------------------


def _month(text: str | None) -> date | None:
    try:
        return None if not text else date.fromisoformat(f"{text.strip()[:7]}-01")
    except ValueError:
        return None


def _shown(value: object, unit: str, currency: str) -> str:
    """One value of a figure as people read it: money, a percentage, times, or a count."""
    if not isinstance(value, int | Decimal):
        return "–"
    if unit == "cents":
        return money(int(value), currency)
    if unit == "share":
        return f"{Decimal(value) * 100:.1f}%"
    if unit == "ratio":
        return f"{Decimal(value):.2f}×"
    return f"{value:,}"


async def _report(console: Console, request: Request) -> tuple[ImpactReport, list[str]]:
    policy = console.policy
    async with console.read() as session:
        areas = await admin_queries.known_areas(session)
        wanted = request.query_params.get("area", "").strip().casefold()
        area = next((a for a in areas if a.casefold() == wanted), None)
        report = await impact_report(
            session,
            month=_month(request.query_params.get("month")),
            area=area,
            band=ShareBand(policy.share_low, policy.share_high),
        )
    return report, areas


async def impact(console: Console, request: Request, staff: Staff) -> Response:
    """The Impact page: ``domain.impact.impact_report`` (the same figures as ``karakana report
    impact`` and ``/impact``), each with its definition and the people it rests on; groups
    under the report's minimum are suppressed by the report itself."""
    report, areas = await _report(console, request)
    language = staff.person.language

    def said(msgid: str, fallback: str) -> str:
        has = console.catalogue.has(language, msgid) or console.catalogue.has(Language.EN, msgid)
        return console.say(language, msgid) if has else fallback

    currency = console.catalogue.currency
    figures = [
        {
            "title": said(figure.title_key, figure.key.replace("_", " ")),
            "definition": said(figure.definition_key, figure.definition),
            # None: the figure rests on fewer people than the report shows (suppressed).
            "people": figure.people if figure.people is not None else f"<{report.min_group}",
            "names": sorted({name for row in figure.rows for name in row.values}),
            "rows": [
                {
                    "label": row.label,
                    "people": row.people if row.people is not None else f"<{report.min_group}",
                    "suppressed": row.suppressed,
                    "values": {
                        name: _shown(value, figure.unit_of(name), currency)
                        for name, value in row.values.items()
                    },
                }
                for row in figure.rows
            ],
        }
        for figure in report.figures
    ]
    query = urlencode(
        {
            k: v
            for k, v in (
                ("month", request.query_params.get("month", "")),
                ("area", report.area or ""),
            )
            if v
        }
    )
    return console.render(
        "impact.html",
        staff=staff,
        report=report,
        figures=figures,
        areas=areas,
        chart_query=f"?{query}" if query else "",
    )


async def impact_chart(console: Console, request: Request, staff: Staff) -> Response:
    # matplotlib is imported on the first chart, not when the process starts.
    from bot.charts import impact_chart_png

    report, _ = await _report(console, request)
    language = staff.person.language
    labels = {word: console.say(language, msgid) for word, msgid in CHART_WORDS.items()}
    png = await asyncio.to_thread(
        impact_chart_png, report, labels=labels, currency=console.catalogue.currency
    )
    return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})
