"""The main menu: what a registered person can do, by role.

One step (``home``) whose choices depend on the role. Items whose flows are not built yet say so
politely rather than showing made-up figures; each later flow replaces its "coming soon" here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from enum import StrEnum
from pathlib import Path

from conversations import admin_commands, agent_actions
from conversations.agent_commands import pending_artisans
from conversations.flow import (
    DONE,
    Answer,
    Ask,
    Context,
    Expect,
    Finish,
    Flow,
    Outcome,
    Start,
    Step,
)
from conversations.flows import artisan_flows
from conversations.i18n import N_
from conversations.messages import Choice, Reply
from domain.model import ArtisanProfile, ArtisanStatus, Role
from domain.statemachine import Transitions

NAME = "menu"


class Menu(StrEnum):
    HOME = "home"
    DONE = DONE


TABLE: dict[Menu, frozenset[Menu]] = {
    Menu.HOME: frozenset({Menu.DONE}),
    Menu.DONE: frozenset(),
}

# (payload key, label msgid) per role, in the order shown.
ITEMS: dict[Role, tuple[tuple[str, str], ...]] = {
    Role.ARTISAN: (
        ("offers", N_("menu.item.offers")),
        ("jobs", N_("menu.item.jobs")),
        ("submit", N_("menu.item.submit")),
        ("delivery", N_("menu.item.delivery")),
        ("earnings", N_("menu.item.earnings")),
        ("materials", N_("menu.item.materials")),
        ("score", N_("menu.item.score")),
    ),
    Role.FIELD_AGENT: (
        ("pending", N_("menu.item.pending")),
        ("qc", N_("menu.item.qc")),
        ("receipt", N_("menu.item.receipt")),
        ("visit", N_("menu.item.visit")),
        ("atrisk", N_("menu.item.atrisk")),
    ),
    Role.ADMIN: (
        ("pending", N_("menu.item.pending")),
        ("orders", N_("menu.item.orders")),
        ("artisans", N_("menu.item.artisans")),
        ("payouts", N_("menu.item.payouts")),
        ("stats", N_("menu.item.stats")),
    ),
}

# Items that work today; every other item is "coming soon". An action answers at once (a list of
# replies) or starts a flow (``Start``).
ACTIONS: dict[str, Callable[[Context], Awaitable[list[Reply] | Start]]] = {
    "pending": pending_artisans,
    **agent_actions.MENU_ACTIONS,  # qc, receipt, visit, atrisk
    **admin_commands.MENU_ACTIONS,  # orders, artisans, payouts, stats
    **artisan_flows.MENU_ACTIONS,  # offers, jobs, submit, delivery, earnings, materials, score
}


async def _ask(ctx: Context) -> Reply:
    assert ctx.person is not None  # only registered people reach the menu
    choices = tuple(Choice(f"menu:{key}", ctx.t(msgid)) for key, msgid in ITEMS[ctx.person.role])
    text = ctx.t("menu.title", name=ctx.person.name)
    if ctx.person.role is Role.ARTISAN:
        profile = await ctx.session.get(ArtisanProfile, ctx.person.id)
        if profile is not None and profile.status is ArtisanStatus.PAUSED:
            text = ctx.t("menu.paused") + "\n\n" + text
    return Reply(text, choices=choices)


async def _on_choice(ctx: Context, answer: Answer) -> Outcome:
    assert answer.choice is not None  # Expect.CHOICE
    key = answer.choice.payload.removeprefix("menu:")
    action = ACTIONS.get(key)
    if action is not None:
        result = await action(ctx)
        return result if isinstance(result, Start) else Finish(say=tuple(result))
    if ctx.person is None or key not in {k for k, _ in ITEMS[ctx.person.role]}:
        return Ask(ctx.t("engine.choose_one", count=len(ctx.choices)))
    return Finish(say=(Reply(ctx.t("menu.coming_soon", item=answer.choice.label)),))


FLOW = Flow(
    name=NAME,
    first=Menu.HOME,
    table=Transitions(NAME, TABLE),
    steps={Menu.HOME: Step(Expect.CHOICE, _ask, _on_choice)},
    diagram=Path(__file__).with_name("menu.mmd"),
    times_out=False,  # a menu left open is harmless; there is nothing half-done to drop
)
