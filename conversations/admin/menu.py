"""The admin's main menu, in the order shown."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from conversations.admin.orders import list_orders
from conversations.admin.payouts import payouts_preview
from conversations.admin.people import list_artisans
from conversations.admin.replies import ADMINS, Replies
from conversations.admin.reports import factory_stats
from conversations.flow import Context
from conversations.flows.menu import MenuItem
from conversations.i18n import N_
from conversations.messages import Reply
from conversations.verification import pending_artisans

log = logging.getLogger(__name__)


def menu_action(
    show: Callable[[Context, str], Awaitable[Replies]],
) -> Callable[[Context], Awaitable[Replies]]:
    """A menu item for admins only: the menu offers it to admins, and checks again here."""

    async def action(ctx: Context) -> Replies:
        if ctx.person is None or ctx.person.role not in ADMINS:
            log.warning("refused admin menu item from %s", ctx.person and ctx.person.id)
            return [Reply(ctx.t("command.forbidden"))]
        return await show(ctx, "")

    return action


MENU: tuple[MenuItem, ...] = (
    MenuItem("pending", N_("menu.item.pending"), pending_artisans),
    MenuItem("orders", N_("menu.item.orders"), menu_action(list_orders)),
    MenuItem("artisans", N_("menu.item.artisans"), menu_action(list_artisans)),
    MenuItem("payouts", N_("menu.item.payouts"), menu_action(payouts_preview)),
    MenuItem("stats", N_("menu.item.stats"), menu_action(factory_stats)),
)
