"""Statements: an artisan's month in pieces, earnings, deductions and M-Pesa receipts, in their
language, with a PDF a lender can check.

"Statement" in the menu asks which month (this one or the two before, as buttons
``statement:YYYY-MM``); ``/statement 2026-11`` asks for any month. The figures come from the
ledger (``domain.statements.month_statement``). Each PDF is issued under a new code
(``domain.statements.issue_statement``); it carries the code and ``PUBLIC_BASE_URL/verify/<code>``,
where a lender sees the totals, the period and the name. ``/revoke <number>`` (or the button under
the statement) withdraws a statement: its code verifies no more. No flow: each answer is one reply.
"""

from __future__ import annotations

import logging
from datetime import date

from babel.dates import format_date

from conversations.flow import Command, Context
from conversations.formatting import numeric_date
from conversations.i18n import N_
from conversations.messages import Choice, MediaItem, Reply
from conversations.ports import PrintedStatement
from domain.errors import Forbidden, NotFound
from domain.explosion import factory_today
from domain.impact import add_months, month_label
from domain.limits import MAX_ID
from domain.model import Role
from domain.numbers import or_none, whole_number
from domain.statements import (
    MonthStatement,
    issue_statement,
    live_statements,
    month_statement,
    revoke_statement,
)

log = logging.getLogger(__name__)

_ARTISANS = frozenset({Role.ARTISAN})
MONTHS_OFFERED = 3
MAX_LINES = 8  # receipts and earnings listed in chat; the PDF lists them all


def month_name(ctx: Context, month: date) -> str:
    return format_date(month, "MMMM y", locale=ctx.t("formatting.locale"))


def _parse_month(text: str) -> date | None:
    year, dash, month = text.strip().partition("-")
    if not dash or len(year) != 4 or not (year.isdigit() and month.isdigit()):
        return None
    try:
        return date(int(year), int(month), 1)
    except ValueError:
        return None


async def statement_menu(ctx: Context) -> list[Reply]:
    """Which month: this one and the two before, as buttons."""
    this_month = factory_today(ctx.now).replace(day=1)
    months = [add_months(this_month, -k) for k in range(MONTHS_OFFERED)]
    return [
        Reply(
            ctx.t("statement.which_month"),
            choices=tuple(
                Choice(f"statement:{month_label(m)}", month_name(ctx, m)) for m in months
            ),
        )
    ]


def _summary(ctx: Context, s: MonthStatement) -> list[str]:
    return [
        ctx.t("statement.pieces", pieces=s.pieces),
        ctx.t("statement.earned", amount=ctx.money(s.earned_cents)),
        ctx.t("statement.deductions", amount=ctx.money(s.deductions_cents)),
        ctx.t("statement.net", amount=ctx.money(s.net_cents)),
        ctx.t("statement.paid", amount=ctx.money(s.paid_cents)),
    ]


def _printed(ctx: Context, s: MonthStatement, code: str, url: str) -> PrintedStatement:
    lines = [
        ctx.t("statement.pdf_name", name=s.name),
        ctx.t("statement.pdf_period", period=month_name(ctx, s.month)),
        "",
        "# " + ctx.t("statement.pdf_summary"),
        *_summary(ctx, s),
        "",
        "# " + ctx.t("statement.pdf_earnings"),
    ]
    lines += [
        ctx.t(
            "statement.earning_line",
            date=numeric_date(e.at),
            reference=e.reference,
            pieces="-" if e.pieces is None else e.pieces,
            amount=ctx.money(e.amount_cents),
        )
        for e in s.earnings
    ] or [ctx.t("statement.none")]
    lines += ["", "# " + ctx.t("statement.pdf_deductions")]
    lines += [
        ctx.t(
            "statement.deduction_line",
            date=numeric_date(e.at),
            reference=e.reference,
            amount=ctx.money(e.amount_cents),
        )
        for e in s.deductions
    ] or [ctx.t("statement.none")]
    lines += ["", "# " + ctx.t("statement.pdf_payments")]
    lines += [
        ctx.t(
            "statement.payment_line",
            date=numeric_date(e.at),
            receipt=e.reference,
            amount=ctx.money(e.amount_cents),
        )
        for e in s.payments
    ] or [ctx.t("statement.none")]
    return PrintedStatement(
        title=ctx.t("statement.pdf_title", period=month_name(ctx, s.month)),
        lines=tuple(lines),
        code_label=ctx.t("statement.pdf_code", code=code),
        verify_url=url,
        footer=ctx.t("statement.pdf_footer", date=numeric_date(ctx.now)),
    )


async def statement(ctx: Context, argument: str) -> list[Reply]:
    """One month's statement in chat, with its PDF (a new code each time)."""
    assert ctx.person is not None
    assert ctx.person.id is not None
    this_month = factory_today(ctx.now).replace(day=1)
    if not argument.strip():
        return await statement_menu(ctx)
    month = _parse_month(argument)
    if month is None or month > this_month:
        return [Reply(ctx.t("statement.usage"))]
    s = await month_statement(ctx.session, ctx.person.id, month)
    lines = [ctx.t("statement.heading", period=month_name(ctx, month)), *_summary(ctx, s)]
    if s.payments:
        lines.append(ctx.t("statement.receipts"))
        lines += [
            ctx.t(
                "statement.payment_line",
                date=numeric_date(e.at),
                receipt=e.reference,
                amount=ctx.money(e.amount_cents),
            )
            for e in s.payments[:MAX_LINES]
        ]
        if len(s.payments) > MAX_LINES:
            lines.append(ctx.t("statement.more_in_pdf"))
    if ctx.attachments is None:
        lines.append(ctx.t("statement.no_pdf"))
        return [Reply("\n".join(lines))]
    issued, code = await issue_statement(ctx.session, s, now=ctx.now)
    assert issued.id is not None
    url = ctx.attachments.verify_url(code)
    pdf = await ctx.attachments.statement_pdf(_printed(ctx, s, code, url))
    lines.append(ctx.t("statement.pdf_sent", url=url, code=code, number=issued.id))
    return [
        Reply(
            "\n".join(lines),
            choices=(Choice(f"revoke:{issued.id}", ctx.t("statement.revoke_button")),),
            media=(MediaItem(pdf.content_type, pdf.size, pdf.ref),),
        )
    ]


async def revoke(ctx: Context, argument: str) -> list[Reply]:
    """``/revoke <number>``: the statement's code verifies no more; alone, lists those live."""
    assert ctx.person is not None
    assert ctx.person.id is not None
    if not argument.strip():
        live = await live_statements(ctx.session, ctx.person.id)
        if not live:
            return [Reply(ctx.t("statement.none_live"))]
        listed = "\n".join(
            ctx.t(
                "statement.live_line",
                number=s.id,
                period=month_name(ctx, s.month),
                date=numeric_date(s.issued_at),
            )
            for s in live[:MAX_LINES]
        )
        return [Reply(ctx.t("statement.live", statements=listed))]
    number = or_none(whole_number, argument.strip().removeprefix("#"), most=MAX_ID, strict=True)
    if number is None:
        return [Reply(ctx.t("statement.revoke_usage"))]
    try:
        revoked = await revoke_statement(
            ctx.session, statement_id=number, artisan_id=ctx.person.id, now=ctx.now
        )
    except (NotFound, Forbidden):
        log.warning("artisan %s tried to revoke statement %s", ctx.person.id, number)
        return [Reply(ctx.t("statement.not_yours", number=number))]
    return [Reply(ctx.t("statement.revoked", number=number, period=month_name(ctx, revoked.month)))]


COMMANDS: dict[str, Command] = {
    "statement": Command(_ARTISANS, statement, N_("statement.help"), button=True),
    "revoke": Command(_ARTISANS, revoke, N_("statement.help_revoke"), button=True),
}
