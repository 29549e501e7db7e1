"""An admin types in an order: customer, reference, due date, lines, then a draft is created.

Started by ``/neworder``. The state table is ``TABLE`` below; ``new_order.mmd`` beside this file
draws it. Nothing is written until the admin says "create" on the summary: a new customer is
created together with their order, so an abandoned order leaves no stray customer behind.
Confirming the draft (exploding it into jobs) stays a separate, deliberate step: the Confirm
button on the "created" reply, or ``/confirm <id>``. Due dates are read by ``typed_dates``
("15/1", "15 Jan", "15 Januari": the next such day), and every example shown is valid: a SKU
from the catalogue, a date four weeks ahead.
"""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from pathlib import Path

from sqlmodel import col, func, select

from conversations.admin.replies import ADMINS, CUSTOMER_KIND
from conversations.admin.typed_dates import day_in_words, example_day, parse_day
from conversations.errors import error_text
from conversations.flow import DONE, Answer, Ask, Context, Expect, Finish, Flow, Goto, Outcome, Step
from conversations.formatting import numeric_date, written_date, written_day
from conversations.messages import Choice, Reply
from domain.errors import DomainError
from domain.explosion import factory_today
from domain.limits import MAX_PIECES
from domain.model import Customer, CustomerKind, NameKind, Order, Product
from domain.numbers import or_none, whole_number
from domain.services.orders import OrderRejected, create_order, get_or_create_customer
from domain.statemachine import Transitions
from domain.text import clean_text

NAME = "new_order"
MAX_CUSTOMERS_LISTED = 8
MAX_PRODUCTS_LISTED = 12
MAX_NAME = 120
MAX_REFERENCE = 60
MAX_QUANTITY = MAX_PIECES
_DONE_WORDS = frozenset({"done", "finish", "finished", "maliza", "nimemaliza", "tayari"})
_YES = frozenset({"yes", "y", "ok", "create", "ndiyo", "ndio", "sawa", "unda"})
_LINE = re.compile(r"(?P<sku>[^\s×*]+?)\s*(?:[x×*]\s*)?(?P<qty>[0-9]+)", re.IGNORECASE)


class NewOrder(StrEnum):
    CUSTOMER = "customer"
    NEW_CUSTOMER = "new_customer"
    KIND = "kind"
    REFERENCE = "reference"
    DUE = "due"
    LINES = "lines"
    CONFIRM = "confirm"
    DONE = DONE


TABLE: dict[NewOrder, frozenset[NewOrder]] = {
    NewOrder.CUSTOMER: frozenset({NewOrder.NEW_CUSTOMER, NewOrder.KIND, NewOrder.REFERENCE}),
    NewOrder.NEW_CUSTOMER: frozenset({NewOrder.KIND, NewOrder.REFERENCE}),
    NewOrder.KIND: frozenset({NewOrder.REFERENCE}),
    NewOrder.REFERENCE: frozenset({NewOrder.DUE}),
    NewOrder.DUE: frozenset({NewOrder.LINES}),
    NewOrder.LINES: frozenset({NewOrder.LINES, NewOrder.CONFIRM}),
    NewOrder.CONFIRM: frozenset({NewOrder.CUSTOMER, NewOrder.DONE}),
    NewOrder.DONE: frozenset(),
}


def _words(text: str) -> str:
    return clean_text(text)


async def _customer_by_name(ctx: Context, name: str) -> Customer | None:
    statement = select(Customer).where(func.lower(col(Customer.name)) == name.casefold())
    return (await ctx.session.exec(statement)).first()


def _use_customer(ctx: Context, customer: Customer) -> None:
    ctx.data.update(customer_id=customer.id, customer=customer.name, kind=str(customer.kind))


# --- customer ---------------------------------------------------------------------------------


async def _ask_customer(ctx: Context) -> Reply:
    customers = await ctx.session.exec(
        select(Customer).order_by(col(Customer.name)).limit(MAX_CUSTOMERS_LISTED)
    )
    choices = [Choice(f"cust:{c.id}", c.name) for c in customers]
    choices.append(Choice("cust:new", ctx.t("neworder.new_customer")))
    return Reply(ctx.t("neworder.ask_customer"), choices=tuple(choices))


async def _on_customer(ctx: Context, answer: Answer) -> Outcome:
    for key in ("customer_id", "customer", "kind", "reference", "due", "lines"):
        ctx.data.pop(key, None)  # starting again forgets the previous attempt
    if answer.choice is not None and answer.choice.payload == "cust:new":
        return Goto(NewOrder.NEW_CUSTOMER)
    if answer.choice is not None:
        customer = await ctx.session.get(Customer, int(answer.choice.payload.split(":")[1]))
    else:
        customer = await _customer_by_name(ctx, _words(answer.text))
    if customer is not None:
        _use_customer(ctx, customer)
        return Goto(NewOrder.REFERENCE)
    # A name we do not know yet: take it as the new customer's name.
    outcome = _new_name(ctx, answer.text)
    return outcome if outcome is not None else Goto(NewOrder.KIND)


def _new_name(ctx: Context, text: str) -> Ask | None:
    name = _words(text)
    if len(name) < 2 or len(name) > MAX_NAME or not any(ch.isalpha() for ch in name):
        return Ask(ctx.t("neworder.customer_invalid", max=MAX_NAME))
    ctx.data.update(customer_id=None, customer=name)
    return None


async def _ask_new_customer(ctx: Context) -> Reply:
    return Reply(ctx.t("neworder.ask_new_customer"))


async def _on_new_customer(ctx: Context, answer: Answer) -> Outcome:
    existing = await _customer_by_name(ctx, _words(answer.text))
    if existing is not None:
        _use_customer(ctx, existing)
        return Goto(NewOrder.REFERENCE, say=(Reply(ctx.t("neworder.customer_known")),))
    problem = _new_name(ctx, answer.text)
    return problem if problem is not None else Goto(NewOrder.KIND)


async def _ask_kind(ctx: Context) -> Reply:
    return Reply(
        ctx.t("neworder.ask_kind", customer=ctx.data["customer"]),
        choices=tuple(Choice(f"kind:{kind}", ctx.t(CUSTOMER_KIND[kind])) for kind in CustomerKind),
    )


async def _on_kind(ctx: Context, answer: Answer) -> Outcome:
    assert answer.choice is not None  # Expect.CHOICE
    ctx.data["kind"] = str(CustomerKind(answer.choice.payload.split(":")[1]))
    return Goto(NewOrder.REFERENCE)


# --- reference and due date -------------------------------------------------------------------


async def _ask_reference(ctx: Context) -> Reply:
    return Reply(ctx.t("neworder.ask_reference", customer=ctx.data["customer"]))


async def _on_reference(ctx: Context, answer: Answer) -> Outcome:
    reference = _words(answer.text)
    if not reference or len(reference) > MAX_REFERENCE:
        return Ask(ctx.t("neworder.reference_invalid", max=MAX_REFERENCE))
    customer_id = ctx.data.get("customer_id")
    if customer_id is not None:
        taken = await ctx.session.exec(
            select(Order.id).where(Order.customer_id == customer_id, Order.reference == reference)
        )
        if (order_id := taken.first()) is not None:
            return Ask(ctx.t("neworder.reference_taken", reference=reference, id=order_id))
    ctx.data["reference"] = reference
    return Goto(NewOrder.DUE)


def _due_examples(ctx: Context) -> dict[str, str]:
    """A due date four weeks ahead, as figures and in words: an example that is always valid."""
    example = example_day(factory_today(ctx.now))
    return {"example": numeric_date(example), "example_words": day_in_words(ctx.language, example)}


async def _ask_due(ctx: Context) -> Reply:
    today = written_date(ctx.language, factory_today(ctx.now))
    return Reply(ctx.t("neworder.ask_due", today=today, **_due_examples(ctx)))


async def _on_due(ctx: Context, answer: Answer) -> Outcome:
    today = factory_today(ctx.now)
    due = parse_day(answer.text, today)
    if due is None:
        return Ask(ctx.t("neworder.due_invalid", **_due_examples(ctx)))
    if due < today:
        return Ask(
            ctx.t(
                "neworder.due_past",
                due=written_day(ctx.language, due, today),
                today=written_date(ctx.language, today),
            )
        )
    ctx.data["due"] = due.isoformat()
    return Goto(NewOrder.LINES)


# --- lines ------------------------------------------------------------------------------------


def _lines(ctx: Context) -> dict[str, int]:
    lines: dict[str, int] = ctx.data.setdefault("lines", {})
    return lines


def _listed(ctx: Context) -> str:
    return "\n".join(f"• {sku} × {quantity}" for sku, quantity in _lines(ctx).items())


async def _ask_lines(ctx: Context) -> Reply:
    if _lines(ctx):
        return Reply(
            ctx.t("neworder.ask_more_lines", lines=_listed(ctx)),
            choices=(Choice("neworder:done", ctx.t("neworder.lines_done")),),
        )
    products = await ctx.session.exec(
        select(Product).order_by(col(Product.sku)).limit(MAX_PRODUCTS_LISTED)
    )
    catalogue = "\n".join(
        f"• {p.sku} – {ctx.catalogue.name(ctx.language, NameKind.PRODUCT, p.sku)}" for p in products
    )
    return Reply(
        ctx.t("neworder.ask_lines", products=catalogue or "–", example=await _example_line(ctx))
    )


async def _example_line(ctx: Context) -> str:
    """``NECK-1 x 10`` with a SKU that really is in the catalogue (the first one)."""
    sku = (await ctx.session.exec(select(Product.sku).order_by(col(Product.sku)))).first()
    return f"{sku} x 10" if sku is not None else ctx.t("neworder.example_no_products")


async def _on_lines(ctx: Context, answer: Answer) -> Outcome:
    said = answer.text.strip().casefold()
    if (answer.choice is not None and answer.choice.payload == "neworder:done") or (
        said in _DONE_WORDS
    ):
        if not _lines(ctx):
            return Ask(ctx.t("neworder.lines_empty"))
        return Goto(NewOrder.CONFIRM)
    wanted: list[tuple[str, int | None]] = []
    # Commas separate lines here, so a quantity is written without thousands separators.
    for part in re.split(r"[,;\n]+", answer.text):
        if not part.strip():
            continue
        match = _LINE.fullmatch(part.strip())
        if match is None:
            return Ask(ctx.t("neworder.line_invalid", example=await _example_line(ctx)))
        quantity = or_none(whole_number, match.group("qty"), least=1, most=MAX_QUANTITY)
        wanted.append((match.group("sku"), quantity))
    skus = {
        sku.casefold(): sku
        for sku in await ctx.session.exec(
            select(Product.sku).where(
                func.lower(col(Product.sku)).in_([s.casefold() for s, _ in wanted])
            )
        )
    }
    for typed, quantity in wanted:
        if typed.casefold() not in skus:
            return Ask(ctx.t("neworder.sku_unknown", sku=typed))
        if quantity is None:
            return Ask(ctx.t("neworder.quantity_invalid", max=MAX_QUANTITY))
    lines = _lines(ctx)
    for typed, quantity in wanted:
        assert quantity is not None  # checked above
        lines[skus[typed.casefold()]] = quantity  # a SKU given again replaces its quantity
    return Goto(NewOrder.LINES)


# --- summary and creation ---------------------------------------------------------------------


async def _summary(ctx: Context) -> str:
    kind = CustomerKind(ctx.data["kind"])
    products = {
        p.sku: p
        for p in await ctx.session.exec(
            select(Product).where(col(Product.sku).in_(list(_lines(ctx))))
        )
    }
    total = 0
    rows = []
    for sku, quantity in _lines(ctx).items():
        product = products[sku]
        price = (
            product.wholesale_price_cents
            if kind is CustomerKind.RETAILER
            else product.retail_price_cents
        )
        total += price * quantity
        rows.append(
            ctx.t(
                "neworder.summary_line",
                sku=sku,
                name=ctx.catalogue.name(ctx.language, NameKind.PRODUCT, sku),
                quantity=quantity,
                price=ctx.money(price),
                total=ctx.money(price * quantity),
            )
        )
    return ctx.t(
        "neworder.summary",
        customer=ctx.data["customer"],
        kind=ctx.t(CUSTOMER_KIND[kind]),
        reference=ctx.data["reference"],
        due=written_day(ctx.language, date.fromisoformat(ctx.data["due"]), factory_today(ctx.now)),
        lines="\n".join(rows),
        total=ctx.money(total),
    )


async def _ask_confirm(ctx: Context) -> Reply:
    return Reply(
        await _summary(ctx),
        choices=(
            Choice("neworder:create", ctx.t("neworder.create")),
            Choice("neworder:restart", ctx.t("neworder.restart")),
        ),
    )


async def _on_confirm(ctx: Context, answer: Answer) -> Outcome:
    payload = answer.choice.payload if answer.choice is not None else None
    if payload is None and answer.text.casefold().strip(" .!") in _YES:
        payload = "neworder:create"
    if payload == "neworder:restart":
        return Goto(NewOrder.CUSTOMER)
    if payload != "neworder:create":
        return Ask(ctx.unclear(answer.text))
    if ctx.person is None or ctx.person.role not in ADMINS:  # the role may have changed since
        return Finish(say=(Reply(ctx.t("command.forbidden")),))
    try:
        customer_id = ctx.data.get("customer_id")
        if customer_id is None:
            customer = await get_or_create_customer(
                ctx.session, name=ctx.data["customer"], kind=CustomerKind(ctx.data["kind"])
            )
            customer_id = customer.id
            assert customer_id is not None
        order = await create_order(
            ctx.session,
            customer_id=customer_id,
            reference=ctx.data["reference"],
            due_date=date.fromisoformat(ctx.data["due"]),
            lines=list(_lines(ctx).items()),
            now=ctx.now,
        )
    except OrderRejected as rejected:
        # Something changed since the answers were checked (a clash with another admin).
        return Ask(ctx.t("neworder.rejected", problems=error_text(ctx, rejected)))
    except DomainError as exc:
        return Ask(ctx.t("neworder.rejected", problems=error_text(ctx, exc)))
    confirm = Choice(f"confirm:{order.id}", ctx.t("neworder.confirm_button", id=order.id))
    return Finish(say=(Reply(ctx.t("neworder.created", id=order.id), choices=(confirm,)),))


FLOW = Flow(
    name=NAME,
    first=NewOrder.CUSTOMER,
    table=Transitions(NAME, TABLE),
    steps={
        NewOrder.CUSTOMER: Step(Expect.TEXT, _ask_customer, _on_customer),
        NewOrder.NEW_CUSTOMER: Step(Expect.TEXT, _ask_new_customer, _on_new_customer),
        NewOrder.KIND: Step(Expect.CHOICE, _ask_kind, _on_kind),
        NewOrder.REFERENCE: Step(Expect.TEXT, _ask_reference, _on_reference),
        NewOrder.DUE: Step(Expect.TEXT, _ask_due, _on_due),
        NewOrder.LINES: Step(Expect.TEXT, _ask_lines, _on_lines),
        NewOrder.CONFIRM: Step(Expect.TEXT, _ask_confirm, _on_confirm),
    },
    diagram=Path(__file__).with_name("new_order.mmd"),
)
