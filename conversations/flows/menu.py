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
from domain.model import ArtisanProfile, ArtisanStatus, Role
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


Menus = Mapping[Role, tuple[MenuItem, ...]]


class Menu(StrEnum):
    HOME = "home"
    DONE = DONE


TABLE: dict[Menu, frozenset[Menu]] = {
    Menu.HOME: frozenset({Menu.DONE}),
    Menu.DONE: frozenset(),
}


def build(menus: Menus) -> Flow:
    """The menu flow offering each role its ``menus`` items, in the order given."""

    async def ask(ctx: Context) -> Reply:
        assert ctx.person is not None  # only registered people reach the menu
        items = menus.get(ctx.person.role, ())
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
        items = () if ctx.person is None else menus.get(ctx.person.role, ())
        item = next((item for item in items if item.key == key), None)
        if item is None:
            return Ask(ctx.t("engine.choose_one", count=len(ctx.choices)))
        if item.action is None:
            return Finish(say=(Reply(ctx.t("menu.coming_soon", item=answer.choice.label)),))
        result = await item.action(ctx)
        return result if isinstance(result, Start) else Finish(say=tuple(result))

    return Flow(
        name=NAME,
        first=Menu.HOME,
        table=Transitions(NAME, TABLE),
        steps={Menu.HOME: Step(Expect.CHOICE, ask, on_choice)},
        diagram=Path(__file__).with_name("menu.mmd"),
        times_out=False,  # a menu left open is harmless; there is nothing half-done to drop
    )
