"""The main menu: what a registered person can do, by role.

One step (``home``) whose choices depend on the role. Each role declares its menu as data in its
``menu.py``, a tuple of ``MenuItem``; conversations/registry.py hands the three to ``build``. An
item without an action yet says politely that it is coming soon rather than showing made-up
figures.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

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
from conversations.messages import Choice, Reply
from domain.model import ArtisanProfile, ArtisanStatus, Person, Role
from domain.statemachine import Transitions

NAME = "menu"

Action = Callable[[Context], Awaitable[list[Reply] | Start]]
"""What a menu item does: answer at once (a list of replies) or start a flow (``Start``)."""


@dataclass(frozen=True, slots=True)
class MenuItem:
    """One line of a role's menu: its button payload is ``menu:<key>``."""

    key: str
    label_msgid: str
    action: Action | None  # None: "coming soon"
    # Who of the role sees it (None: everyone); the action still checks for itself.
    shown: Callable[[Person], bool] | None = None


Menus = Mapping[Role, tuple[MenuItem, ...]]


class Menu(StrEnum):
    HOME = "home"
    DONE = DONE


TABLE: dict[Menu, frozenset[Menu]] = {
    Menu.HOME: frozenset({Menu.DONE}),
    Menu.DONE: frozenset(),
}


def item_for(menus: Menus, role: Role, key: str) -> MenuItem | None:
    """The item ``key`` of ``role``'s menu: what a ``menu:<key>`` button stands for."""
    return next((item for item in menus.get(role, ()) if item.key == key), None)


async def run_item(ctx: Context, item: MenuItem) -> list[Reply] | Start:
    """What choosing ``item`` does, from the menu or from a button of an older menu."""
    if item.action is None:
        return [Reply(ctx.t("menu.coming_soon", item=ctx.t(item.label_msgid)))]
    return await item.action(ctx)


def build(menus: Menus) -> Flow:
    """The menu flow offering each role its ``menus`` items, in the order given."""

    async def ask(ctx: Context) -> Reply:
        assert ctx.person is not None  # only registered people reach the menu
        person = ctx.person
        items = [i for i in menus.get(person.role, ()) if i.shown is None or i.shown(person)]
        choices = tuple(Choice(f"menu:{item.key}", ctx.t(item.label_msgid)) for item in items)
        text = ctx.t("menu.title", name=ctx.person.name)
        if ctx.person.role is Role.ARTISAN:
            profile = await ctx.session.get(ArtisanProfile, ctx.person.id)
            if profile is not None and profile.status is ArtisanStatus.PAUSED:
                text = ctx.t("menu.paused") + "\n\n" + text
        return Reply(text, choices=choices)

    async def on_choice(ctx: Context, answer: Answer) -> Outcome:
        assert answer.choice is not None  # Expect.CHOICE
        key = answer.choice.payload.removeprefix("menu:")
        item = None if ctx.person is None else item_for(menus, ctx.person.role, key)
        if item is None:
            return Ask(ctx.unclear(answer.text))
        result = await run_item(ctx, item)
        return result if isinstance(result, Start) else Finish(say=tuple(result))

    return Flow(
        name=NAME,
        first=Menu.HOME,
        table=Transitions(NAME, TABLE),
        steps={Menu.HOME: Step(Expect.CHOICE, ask, on_choice)},
        diagram=Path(__file__).with_name("menu.mmd"),
        times_out=False,  # a menu left open is harmless; there is nothing half-done to drop
    )
