"""The one module that knows the three roles: it builds ``REGISTRY`` from their parts.

Each role package (``conversations/artisan/``, ``agent/``, ``admin/``) declares its flows
(``flows/__init__.py``), its slash commands (``commands.py``), its menu (``menu.py``) and what its
people are told when something happens (``notices.py``); registration and the menu flow are
shared (``conversations/flows/``), and so is verifying new artisans
(``conversations/verification.py``) and answering material requests
(``conversations/materials.py``), which agents and admins both do. Nothing else imports the
roles: bot/main.py hands ``REGISTRY`` to the ``Engine``, and the scheduler's jobs and the payout
runner use its ``notifier``, so every domain event goes through the one table below.

Every ``domain.events`` type is told to someone or listed in ``SILENT`` with the reason
(tests/unit/test_conversations_registry.py fails when a new event is neither).
"""

from __future__ import annotations

from collections.abc import Mapping

from conversations import (
    assembly,
    channel_choice,
    console_sessions,
    customers,
    materials,
    payees,
    questions,
    verification,
)
from conversations.admin import commands as admin_commands
from conversations.admin import impact as admin_impact
from conversations.admin import menu as admin_menu
from conversations.admin import notices as admin_notices
from conversations.admin import pager as admin_pager
from conversations.admin import shipping as admin_shipping
from conversations.admin.flows import FLOWS as ADMIN_FLOWS
from conversations.admin.flows import approve_payouts
from conversations.agent import commands as agent_commands
from conversations.agent import menu as agent_menu
from conversations.agent import notices as agent_notices
from conversations.agent.flows import FLOWS as AGENT_FLOWS
from conversations.artisan import commands as artisan_commands
from conversations.artisan import menu as artisan_menu
from conversations.artisan import notices as artisan_notices
from conversations.artisan import statements as artisan_statements
from conversations.artisan.flows import FLOWS as ARTISAN_FLOWS
from conversations.artisan.flows.submit_work import photos_sent
from conversations.flows import menu, registration
from conversations.flows.menu import Menus
from conversations.parts import Registry
from conversations.slash import Commands
from domain import events
from domain.model import Role

MENUS: Menus = {
    Role.ARTISAN: artisan_menu.MENU,
    Role.FIELD_AGENT: agent_menu.MENU,
    Role.ADMIN: admin_menu.MENU,
}

# Every event is told to someone today. (OrderReady: the admins, with a Ship button
# (conversations/assembly.py), and retailers' callbacks.)
SILENT: Mapping[type[events.Event], str] = {}

REGISTRY = Registry.build(
    flows=(
        registration.FLOW,
        menu.build(MENUS),
        *ARTISAN_FLOWS,
        *AGENT_FLOWS,
        *ADMIN_FLOWS,
        materials.DECLINE_FLOW,
        questions.REPLY_FLOW,
        admin_shipping.FLOW,  # the Ship button asks for carrier and tracking
    ),
    # In this order in /help: verifying first, then each role's own.
    commands=Commands.merge(
        verification.COMMANDS,
        payees.COMMANDS,
        assembly.COMMANDS,
        materials.COMMANDS,
        questions.COMMANDS,
        console_sessions.COMMANDS,
        channel_choice.COMMANDS,
        agent_commands.COMMANDS,
        admin_commands.COMMANDS,
        artisan_commands.COMMANDS,
        admin_impact.COMMANDS,  # /impact (issue 19)
        artisan_statements.COMMANDS,  # /statement, /revoke (issue 19)
        admin_pager.COMMANDS,  # /more (or "more", "zaidi" alone): the next page of the last list
    ),
    menus=MENUS,
    # When two tables tell the same event (a delivery discrepancy), they run in this order.
    notices=(
        verification.NOTICES,
        payees.NOTICES,
        assembly.NOTICES,
        materials.NOTICES,
        questions.NOTICES,
        agent_notices.NOTICES,
        artisan_notices.NOTICES,
        admin_notices.NOTICES,
        # Customers (the web shop, retailers' callbacks) hear about their orders' progress.
        customers.NOTICES,
        approve_payouts.NOTICES,  # the float has come for a waiting batch
    ),
    silent=SILENT,
    # Photos sent when no question asks for one: an artisan's start "submit finished work".
    photos={Role.ARTISAN: photos_sent},
)
