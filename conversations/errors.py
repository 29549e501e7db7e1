"""Domain errors as people read them: in their language, never the English ``str()``.

A ``DomainError`` that reaches a person carries its ``reasons`` (``domain.errors.Problem``: a
stable code and the facts it needs); each code has its message ``error.<code>`` in
``locale/*/LC_MESSAGES/errors.po``. The English text stays for logs and the CLI: an error without
reasons (or with a code no catalogue words) is logged in English and shown as "this could not be
done", so no reader ever gets English they did not choose.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date
from enum import StrEnum

from conversations.flow import Context
from conversations.formatting import weekday_date
from conversations.i18n import N_
from domain.csv_formats import RowError
from domain.errors import DomainError, Problem
from domain.model import Channel, CustomerKind, NameKind

log = logging.getLogger(__name__)

UNEXPLAINED = N_("error.unexplained")

# What a field, a thing or a choice is called, by the code the domain uses for it.
_FIELDS = {
    "customer name": N_("error.field.customer_name"),
    "order reference": N_("error.field.order_reference"),
    "contact": N_("error.field.contact"),
    "name": N_("error.field.name"),
    "workshop": N_("error.field.workshop"),
    "area": N_("error.field.area"),
}
_THINGS = {
    "order": N_("error.thing.order"),
    "customer": N_("error.thing.customer"),
    "artisan": N_("error.thing.artisan"),
    "person": N_("error.thing.person"),
    "job": N_("error.thing.job"),
    "offer": N_("error.thing.offer"),
    "product": N_("error.thing.product"),
    "component": N_("error.thing.component"),
}
_KINDS = {
    CustomerKind.RETAILER: N_("error.kind.retailer"),
    CustomerKind.WEB_SHOP: N_("error.kind.web_shop"),
}
_CHANNELS = {
    Channel.WHATSAPP: N_("error.channel.whatsapp"),
    Channel.TELEGRAM: N_("error.channel.telegram"),
    Channel.SMS: N_("error.channel.sms"),
}
# Each Problem code's message (marked one by one, so the catalogue test finds them).
MESSAGES = {
    "not_found": N_("error.not_found"),
    "empty": N_("error.empty"),
    "too_long": N_("error.too_long"),
    "customer_kind": N_("error.customer_kind"),
    "due_in_past": N_("error.due_in_past"),
    "duplicate_reference": N_("error.duplicate_reference"),
    "no_lines": N_("error.no_lines"),
    "sku_twice": N_("error.sku_twice"),
    "bad_quantity": N_("error.bad_quantity"),
    "unknown_sku": N_("error.unknown_sku"),
    "price_not_on_order": N_("error.price_not_on_order"),
    "bad_price": N_("error.bad_price"),
    "too_many_pieces": N_("error.too_many_pieces"),
    "too_much_pay": N_("error.too_much_pay"),
    "no_bom": N_("error.no_bom"),
    "identity_taken": N_("error.identity_taken"),
    "not_a_mobile": N_("error.not_a_mobile"),
    "no_skill": N_("error.no_skill"),
    "skill_twice": N_("error.skill_twice"),
    "bad_capacity": N_("error.bad_capacity"),
    "unknown_skills": N_("error.unknown_skills"),
    "csv.missing_value": N_("error.csv.missing_value"),
    "csv.unreadable": N_("error.csv.unreadable"),
    "csv.empty": N_("error.csv.empty"),
    "csv.column_twice": N_("error.csv.column_twice"),
    "csv.unknown_column": N_("error.csv.unknown_column"),
    "csv.missing_column": N_("error.csv.missing_column"),
    "csv.too_many_values": N_("error.csv.too_many_values"),
    "csv.no_rows": N_("error.csv.no_rows"),
    "csv.too_long": N_("error.csv.too_long"),
    "csv.bad_kind": N_("error.csv.bad_kind"),
    "csv.not_a_date": N_("error.csv.not_a_date"),
    "csv.kind_disagrees": N_("error.csv.kind_disagrees"),
    "csv.due_disagrees": N_("error.csv.due_disagrees"),
    "csv.sku_twice": N_("error.csv.sku_twice"),
    "number.empty": N_("error.number.empty"),
    "number.not_a_number": N_("error.number.not_a_number"),
    "number.several": N_("error.number.several"),
    "number.negative": N_("error.number.negative"),
    "number.signed": N_("error.number.signed"),
    "number.decimal": N_("error.number.decimal"),
    "number.exponent": N_("error.number.exponent"),
    "number.grouping": N_("error.number.grouping"),
    "number.too_small": N_("error.number.too_small"),
    "number.too_large": N_("error.number.too_large"),
}
_CENTS = frozenset({"cents", "most_cents"})
_REFERENCES = frozenset({"key", "line", "first_line"})  # numbers people look up: no commas


def error_lines(ctx: Context, error: DomainError) -> list[str]:
    """Each reason ``error`` gives, as a sentence in the reader's language; one "could not be
    done" when it gives none a catalogue words (its English is logged)."""
    lines = [problem_text(ctx, reason) for reason in error.reasons]
    if not lines or None in lines:
        log.warning("shown as unexplained to a person: %s", error)
        return [ctx.t(UNEXPLAINED)]
    return [line for line in lines if line is not None]


def row_error_text(ctx: Context, error: RowError) -> str:
    """One problem of a CSV file, where it is and what it is, in the reader's language; a
    problem the domain gave no facts for is "could not be read" (its English is logged)."""
    what = None if error.fact is None else problem_text(ctx, error.fact)
    if what is None:
        log.warning("CSV problem shown as unexplained: %s", error)
        what = ctx.t(N_("error.csv.unexplained"))
    if error.column is None:
        return ctx.t(N_("error.csv.at_line"), line=error.line, problem=what)
    return ctx.t(N_("error.csv.at_cell"), line=error.line, column=error.column, problem=what)


def error_text(ctx: Context, error: DomainError) -> str:
    """``error_lines`` as one sentence (``; `` between reasons)."""
    return "; ".join(error_lines(ctx, error))


def problem_text(ctx: Context, problem: Problem) -> str | None:
    """One reason in the reader's language, or None when no catalogue words its code."""
    msgid = MESSAGES.get(problem.code)
    if msgid is None or not ctx.catalogue.has(ctx.language, msgid):
        return None
    fields = {name: _shown(ctx, name, value) for name, value in problem.fields.items()}
    return ctx.t(msgid, **fields)


def _shown(ctx: Context, name: str, value: object) -> object:
    if name == "field" and isinstance(value, str):
        return ctx.t(_FIELDS.get(value, N_("error.field.other")))
    if name == "what" and isinstance(value, str):
        return ctx.t(_THINGS.get(value, N_("error.thing.other")))
    if isinstance(value, CustomerKind):
        return ctx.t(_KINDS[value])
    if isinstance(value, Channel):
        return ctx.t(_CHANNELS.get(value, N_("error.channel.other")))
    if isinstance(value, date):
        return weekday_date(ctx.t, value)
    if name in _CENTS and isinstance(value, int):
        return ctx.money(value)
    if name in {"skills", "known"} and isinstance(value, Iterable):
        return _joined(ctx.catalogue.name(ctx.language, NameKind.SKILL, str(s)) for s in value)
    if isinstance(value, bool | StrEnum):
        return str(value)
    if isinstance(value, int) and name not in _REFERENCES:
        return f"{value:,}"
    if isinstance(value, tuple | list):
        return _joined(str(item) for item in value)
    return value


def _joined(items: Iterable[str]) -> str:
    return ", ".join(items)
