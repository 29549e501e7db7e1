"""The field agent's main menu, in the order shown."""

from __future__ import annotations

from conversations import assembly, materials, questions
from conversations.agent.commands import at_risk, start_qc, start_receipt, start_visit
from conversations.flows.menu import MenuItem
from conversations.i18n import N_
from conversations.verification import pending_artisans

MENU: tuple[MenuItem, ...] = (
    MenuItem("pending", N_("menu.item.pending"), pending_artisans),
    MenuItem("qc", N_("menu.item.qc"), start_qc),
    MenuItem("receipt", N_("menu.item.receipt"), start_receipt),
    MenuItem("visit", N_("menu.item.visit"), start_visit),
    MenuItem("atrisk", N_("menu.item.atrisk"), at_risk),
    # What /help lists for agents, reachable from the menu too (issue 16, found in the web chat).
    MenuItem("questions", N_("clarity.menu_questions"), questions.list_open),
    MenuItem("materials", N_("clarity.menu_materials"), materials.open_requests),
    MenuItem(
        "assembly",
        N_("clarity.menu_assembly"),
        lambda ctx: assembly.COMMANDS["assembly"].run(ctx, ""),
        shown=assembly.at_workshop,  # only agents who work at the central workshop
    ),
)
