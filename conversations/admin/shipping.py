"""Shipping from the Ship button: the carrier and tracking asked for in one short step.

The Ship button on "order #N is ready" (conversations/assembly.py) is ``shipping:N``, the same as
typing ``/shipping N``: it asks "Send the carrier and tracking number, e.g. “G4S 12345”, or press
Ship without tracking", then ships through the very path ``/ship`` takes
(conversations/admin/orders.py), so ``/ship N [carrier] [tracking]`` typed stays one step.
The answer is read as ``/ship`` reads its words (the tracking reference is the last word when it
has a digit). Control and invisible characters are dropped at the engine's edge
(``domain.text.clean_text``), so nothing hidden is stored; an answer with nothing left gets the
engine's "please type your answer", and a carrier or tracking reference past ``domain.limits``
is refused politely (``/ship``'s own words) and asked again, and
nothing is shipped until the answer is usable. The diagram is ship_order.mmd beside this module.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from conversations.admin.orders import _carrier_and_tracking, _ship
from conversations.flow import (
    DONE,
    Answer,
    Ask,
    Command,
    Context,
    Expect,
    Finish,
    Flow,
    Outcome,
    Start,
    Step,
)
from conversations.i18n import N_
from conversations.messages import Choice, Reply
from domain.limits import MAX_CARRIER_LENGTH, MAX_TRACKING_LENGTH
from domain.model import Order, OrderStatus, Role
from domain.statemachine import Transitions
from domain.text import clean_text, quoted

NAME = "ship_order"
UNTRACKED = "untracked"  # the "Ship without tracking" button's payload, offered with the question
_ADMINS = frozenset({Role.ADMIN})


class Shipping(StrEnum):
    CARRIER = "carrier"
    DONE = DONE


TABLE: dict[Shipping, frozenset[Shipping]] = {
    Shipping.CARRIER: frozenset({Shipping.DONE}),
    Shipping.DONE: frozenset(),
}


async def _shipping(ctx: Context, argument: str) -> list[Reply] | Start:
    """``/shipping N`` (the Ship button): ask for the carrier and tracking when order N is ready
    to ship; otherwise ``/ship N``'s own answer (not found, not ready, already shipped)."""
    head, _, rest = argument.strip().partition(" ")
    if rest.strip():  # ``/shipping 12 G4S 123`` typed: as ``/ship`` would
        return await _ship(ctx, argument)
    order = await ctx.session.get(Order, int(head)) if head.isdigit() and len(head) <= 9 else None
    if order is None or order.status is not OrderStatus.READY:
        return await _ship(ctx, head)  # its refusal: nothing is shipped
    return Start(NAME, {"order": order.id})


async def _ask_carrier(ctx: Context) -> Reply:
    order = await ctx.session.get(Order, int(ctx.data["order"]))
    assert order is not None
    return Reply(
        ctx.t("shipping.ask_carrier", id=order.id, order=quoted(order.reference)),
        choices=(Choice(UNTRACKED, ctx.t("shipping.without_tracking")),),
    )


def usable(ctx: Context, text: str) -> str | None:
    """Why ``text`` cannot be the carrier and tracking, or None when it can."""
    words = clean_text(text).split()  # never empty: the engine answers an empty message
    carrier, tracking = _carrier_and_tracking(words)
    if carrier is not None and len(carrier) > MAX_CARRIER_LENGTH:
        return ctx.t("admin.ship_carrier_too_long", max=MAX_CARRIER_LENGTH)
    if tracking is not None and len(tracking) > MAX_TRACKING_LENGTH:
        return ctx.t("admin.ship_tracking_too_long", max=MAX_TRACKING_LENGTH)
    return None


async def _on_carrier(ctx: Context, answer: Answer) -> Outcome:
    order_id = int(ctx.data["order"])
    if answer.choice is not None:  # "Ship without tracking"
        return Finish(tuple(await _ship(ctx, str(order_id))))
    problem = usable(ctx, answer.text)
    if problem is not None:
        return Ask(problem)
    return Finish(tuple(await _ship(ctx, f"{order_id} {clean_text(answer.text)}")))


FLOW = Flow(
    name=NAME,
    first=Shipping.CARRIER,
    table=Transitions(NAME, TABLE),
    steps={Shipping.CARRIER: Step(Expect.TEXT, _ask_carrier, _on_carrier)},
    diagram=Path(__file__).with_name("ship_order.mmd"),
)

COMMANDS: dict[str, Command] = {
    "shipping": Command(_ADMINS, _shipping, N_("shipping.help"), button=True),
}
