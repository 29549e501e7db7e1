"""Materials: an artisan reports what they have in stock, asks for material for a job, or sees
what they hold and have asked for (and withdraws a request nobody has answered yet).

``kind`` (report stock / request material / mine) -> ``mine`` (their stock and open requests, a
"Withdraw" button per request: ``cancel_material_request``) or ``job`` (requests only: one of
their active jobs, or none in particular) -> ``material`` (from the job's bill of materials or
what they reported before, or typed) -> ``amount`` ("5 kg", "2.5 m", "40"; the unit defaults to
the one we know for that material) -> ``report_stock`` or ``request_material``.
"""

from __future__ import annotations

import re
from decimal import Decimal
from enum import StrEnum
from pathlib import Path

from sqlmodel import col, select

from conversations.artisan.queries import active_allocations
from conversations.artisan.views import amount, job_label
from conversations.flow import (
    DONE,
    Answer,
    Ask,
    Context,
    Expect,
    Finish,
    Flow,
    Goto,
    Option,
    Outcome,
    Start,
    Step,
    pick_one_step,
)
from conversations.formatting import me, written_date
from conversations.i18n import N_
from conversations.messages import Choice, Reply
from domain.errors import DomainError, Forbidden, IllegalTransition, NotFound
from domain.model import ComponentMaterial, MaterialStock, NameKind
from domain.services.catalogue import clean_material
from domain.services.materials import (
    cancel_material_request,
    open_requests_of,
    report_stock,
    request_material,
    stock_of,
)
from domain.statemachine import Transitions

NAME = "materials"
MAX_LISTED = 8
_AMOUNT = re.compile(r"(\d{1,9}(?:[.,]\d{1,3})?)\s*([^\W\d_][\w.]{0,11})?", re.UNICODE)
_UNIT_FIRST = re.compile(r"([^\W\d_][\w.]{0,11})\s+(\d{1,9}(?:[.,]\d{1,3})?)", re.UNICODE)
# Pieces, however they are written, are stored as ``pcs`` (shown as "vipande" in Kiswahili).
_PIECES = dict.fromkeys(("pc", "pcs", "pcs.", "piece", "pieces", "kipande", "vipande"), "pcs")


class Materials(StrEnum):
    KIND = "kind"
    JOB = "job"
    MATERIAL = "material"
    AMOUNT = "amount"
    MINE = "mine"
    DONE = DONE


TABLE: dict[Materials, frozenset[Materials]] = {
    Materials.KIND: frozenset({Materials.MATERIAL, Materials.JOB, Materials.MINE, Materials.DONE}),
    Materials.MINE: frozenset({Materials.DONE}),
    Materials.JOB: frozenset({Materials.MATERIAL}),
    Materials.MATERIAL: frozenset({Materials.AMOUNT}),
    Materials.AMOUNT: frozenset({Materials.DONE}),
    Materials.DONE: frozenset(),
}


async def menu_materials(ctx: Context) -> Start:
    return Start(NAME)


async def _ask_kind(ctx: Context) -> Reply:
    return Reply(
        ctx.t("artisan.materials_what"),
        choices=(
            Choice("mat:stock", ctx.t("artisan.materials_stock")),
            Choice("mat:request", ctx.t("artisan.materials_request")),
            Choice("mat:mine", ctx.t("artisan.materials_mine")),
        ),
    )


async def _on_kind(ctx: Context, answer: Answer) -> Outcome:
    assert answer.choice is not None  # Expect.CHOICE
    kind = answer.choice.payload.removeprefix("mat:")
    ctx.data["kind"] = kind
    if kind == "mine":
        if not await open_requests_of(ctx.session, me(ctx)):
            return Finish(say=(Reply(await _holdings(ctx)),))
        return Goto(Materials.MINE)
    if kind == "request" and await active_allocations(ctx.session, me(ctx)):
        return Goto(Materials.JOB)
    return Goto(Materials.MATERIAL)


async def _jobs(ctx: Context) -> list[Option]:
    jobs = await active_allocations(ctx.session, me(ctx))
    return [
        *(Option(str(a.id), job_label(ctx.t, a, c, p.quantity)) for a, c, p in jobs[:MAX_LISTED]),
        Option("none", ctx.t("artisan.materials_no_job")),
    ]


async def _on_job(ctx: Context, chosen: str) -> Outcome:
    if chosen != "none":
        ctx.data["allocation"] = int(chosen)
        ctx.data["component"] = await _component_of(ctx, int(chosen))
    return Goto(Materials.MATERIAL)


async def _component_of(ctx: Context, allocation_id: int) -> int | None:
    for allocation, component, _ in await active_allocations(ctx.session, me(ctx)):
        if allocation.id == allocation_id:
            return component.id
    return None


async def _known(ctx: Context) -> dict[str, str]:
    """Materials worth offering as buttons, with their units: the chosen job's, else the
    artisan's own stock and their jobs' materials."""
    known: dict[str, str] = {}
    if ctx.data.get("component") is not None:
        components = [ctx.data["component"]]
    else:
        stock = await ctx.session.exec(
            select(MaterialStock)
            .where(MaterialStock.artisan_id == me(ctx))
            .order_by(col(MaterialStock.material))
        )
        known.update({row.material: row.unit for row in stock})
        components = [c.id for _, c, _ in await active_allocations(ctx.session, me(ctx))]
    if components:
        uses = await ctx.session.exec(
            select(ComponentMaterial)
            .where(col(ComponentMaterial.component_id).in_(components))
            .order_by(col(ComponentMaterial.material))
        )
        for use in uses:
            known.setdefault(use.material, use.unit)
    return dict(list(known.items())[:MAX_LISTED])


async def _ask_material(ctx: Context) -> Reply:
    known = await _known(ctx)
    msgid = (
        N_("artisan.materials_which_stock")
        if ctx.data["kind"] == "stock"
        else N_("artisan.materials_which_request")
    )
    return Reply(
        ctx.t(msgid),
        choices=tuple(  # each by its name in the artisan's language (catalogue data)
            Choice(f"m:{n}", ctx.catalogue.name(ctx.language, NameKind.MATERIAL, code))
            for n, code in enumerate(known, start=1)
        ),
    )


async def _on_material(ctx: Context, answer: Answer) -> Outcome:
    if answer.choice is not None:  # the material behind the numbered name
        listed = list(await _known(ctx))
        number = int(answer.choice.payload.rsplit(":", 1)[1])
        name = listed[number - 1] if number <= len(listed) else answer.choice.label
    else:  # typed: a material's name in either language is that material
        name = ctx.catalogue.names.find(NameKind.MATERIAL, answer.text) or answer.text
    if not any(ch.isalpha() for ch in name):
        return Ask(ctx.t("artisan.materials_name_invalid"))
    try:
        material = clean_material(name)
    except DomainError:
        return Ask(ctx.t("artisan.materials_name_invalid"))
    ctx.data["material"] = material
    unit = (await _known(ctx)).get(material)
    if unit is None:
        stock = await ctx.session.get(MaterialStock, (me(ctx), material))
        unit = None if stock is None else stock.unit
    ctx.data["unit"] = unit
    return Goto(Materials.AMOUNT)


async def _ask_amount(ctx: Context) -> Reply:
    unit = ctx.data.get("unit")
    material = ctx.data["material"]
    if ctx.data["kind"] == "stock":
        if unit:
            return Reply(ctx.t("artisan.materials_stock_how_much", material=material, unit=unit))
        return Reply(ctx.t("artisan.materials_stock_how_much_unit", material=material))
    if unit:
        return Reply(ctx.t("artisan.materials_request_how_much", material=material, unit=unit))
    return Reply(ctx.t("artisan.materials_request_how_much_unit", material=material))


def _parse_amount(text: str, default_unit: str | None) -> tuple[Decimal, str] | None:
    match = _AMOUNT.fullmatch(text.strip())
    if match is not None:
        number, unit = match.group(1), match.group(2) or default_unit
    elif (match := _UNIT_FIRST.fullmatch(text.strip())) is not None:  # "vipande 40"
        unit, number = match.group(1), match.group(2)
    else:
        return None
    if not unit:
        return None
    return Decimal(number.replace(",", ".")), _PIECES.get(unit.lower(), unit.lower())


async def _on_amount(ctx: Context, answer: Answer) -> Outcome:
    parsed = _parse_amount(answer.text, ctx.data.get("unit"))
    stock = ctx.data["kind"] == "stock"
    if parsed is None or (not stock and parsed[0] <= 0):
        return Ask(ctx.t("artisan.materials_amount_invalid"))
    quantity, unit = parsed
    material: str = ctx.data["material"]
    try:
        if stock:
            await report_stock(
                ctx.session,
                artisan_id=me(ctx),
                material=material,
                quantity=quantity,
                unit=unit,
                now=ctx.now,
            )
        else:
            await request_material(
                ctx.session,
                artisan_id=me(ctx),
                material=material,
                quantity=quantity,
                unit=unit,
                allocation_id=ctx.data.get("allocation"),
                now=ctx.now,
            )
    except Forbidden:
        return Finish(say=(Reply(ctx.t("command.forbidden")),))
    except DomainError:
        return Ask(ctx.t("artisan.materials_amount_invalid"))
    said = {"material": material, "quantity": amount(quantity), "unit": unit}
    if stock:
        return Finish(say=(Reply(ctx.t("artisan.materials_stock_saved", **said)),))
    return Finish(say=(Reply(ctx.t("artisan.materials_requested", **said)),))


async def _holdings(ctx: Context) -> str:
    """What they told us they hold, and what they asked for that nobody has answered yet."""
    stock = [
        ctx.t(
            "artisan.materials_mine_stock_line",
            material=row.material,
            quantity=amount(row.quantity),
            unit=row.unit,
        )
        for row in await stock_of(ctx.session, me(ctx))
        if row.quantity > 0
    ]
    asked = [
        ctx.t(
            "artisan.materials_mine_request_line",
            id=request.id,
            material=request.material,
            quantity=amount(request.quantity),
            unit=request.unit,
            since=written_date(ctx.language, request.created_at),
        )
        for request in await open_requests_of(ctx.session, me(ctx))
    ]
    parts = [
        ctx.t("artisan.materials_mine_stock", lines="\n".join(stock))
        if stock
        else ctx.t("artisan.materials_mine_no_stock"),
        ctx.t("artisan.materials_mine_requests", lines="\n".join(asked))
        if asked
        else ctx.t("artisan.materials_mine_no_requests"),
    ]
    return "\n\n".join(parts)


async def _ask_withdraw(ctx: Context) -> Reply:
    requests = await open_requests_of(ctx.session, me(ctx))
    return Reply(
        "\n\n".join((await _holdings(ctx), ctx.t("artisan.materials_mine_withdraw_ask"))),
        choices=(
            *(
                Choice(
                    f"withdraw:{r.id}",
                    ctx.t("artisan.materials_withdraw_button", id=r.id, material=r.material),
                )
                for r in requests[:MAX_LISTED]
            ),
            Choice("withdraw:none", ctx.t("artisan.materials_keep_all")),
        ),
    )


async def _on_withdraw(ctx: Context, answer: Answer) -> Outcome:
    assert answer.choice is not None  # Expect.CHOICE
    chosen = answer.choice.payload.removeprefix("withdraw:")
    if chosen == "none":
        return Finish(say=(Reply(ctx.t("artisan.materials_kept")),))
    try:
        request = await cancel_material_request(
            ctx.session, request_id=int(chosen), by_id=me(ctx), now=ctx.now
        )
    except (Forbidden, IllegalTransition, NotFound):
        # Answered (or withdrawn) since the list was shown, or not theirs: say so plainly.
        return Finish(say=(Reply(ctx.t("artisan.materials_withdraw_too_late", id=chosen)),))
    return Finish(
        say=(
            Reply(
                ctx.t(
                    "artisan.materials_withdrawn",
                    id=request.id,
                    material=request.material,
                    quantity=amount(request.quantity),
                    unit=request.unit,
                )
            ),
        )
    )


FLOW = Flow(
    name=NAME,
    first=Materials.KIND,
    table=Transitions(NAME, TABLE),
    steps={
        Materials.KIND: Step(Expect.CHOICE, _ask_kind, _on_kind),
        Materials.JOB: pick_one_step(
            asks=N_("artisan.materials_which_job"), prefix="job", options=_jobs, picked=_on_job
        ),
        Materials.MATERIAL: Step(Expect.TEXT, _ask_material, _on_material),
        Materials.AMOUNT: Step(Expect.TEXT, _ask_amount, _on_amount),
        Materials.MINE: Step(Expect.CHOICE, _ask_withdraw, _on_withdraw),
    },
    diagram=Path(__file__).with_name("materials.mmd"),
)
