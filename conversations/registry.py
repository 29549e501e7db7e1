"""The one module that knows the three roles: it builds ``REGISTRY`` from their parts.

Each role package (``conversations/artisan/``, ``agent/``, ``admin/``) declares its flows
(``flows/__init__.py``), its slash commands (``commands.py``), its menu (``menu.py``) and what its
people are told when something happens (``notices.py``); registration and the menu flow are
shared (``conversations/flows/``), and so is verifying new artisans
(``conversations/verification.py``), which agents and admins both do. Nothing else imports the
roles: bot/main.py hands ``REGISTRY`` to the ``Engine``, and the scheduler's jobs and the payout
runner use its ``notifier``, so every domain event goes through the one table below.

Every ``domain.events`` type is told to someone or listed in ``SILENT`` with the reason
(tests/unit/test_conversations_registry.py fails when a new event is neither).
"""

from __future__ import annotations

from collections.abc import Mapping

from conversations import verification
from conversations.admin import commands as admin_commands
from conversations.admin import menu as admin_menu
from conversations.admin import notices as admin_notices
from conversations.admin.flows import FLOWS as ADMIN_FLOWS
from conversations.agent import commands as agent_commands
from conversations.agent import menu as agent_menu
from conversations.agent import notices as agent_notices
from conversations.agent.flows import FLOWS as AGENT_FLOWS
from conversations.artisan import commands as artisan_commands
from conversations.artisan import menu as artisan_menu
from conversations.artisan import notices as artisan_notices
from conversations.artisan.flows import FLOWS as ARTISAN_FLOWS
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

SILENT: Mapping[type[events.Event], str] = {
    events.OrderReady: (
        "every line of the order was already announced to the admins as ready for assembly "
        "(OrderLineReadyForAssembly), and whoever recorded the last assembly knows the order "
        "is complete; /order <id> shows it ready to ship"
    ),
    # Raised from the start of issue 15's work; each is given its notice by the change that
    # builds its consumer (admins' Confirm button, the customer's callback, Shopify fulfillment).
    events.OrderPlaced: "not told yet: admins see drafts in /orders",
    events.OrderConfirmed: "not told yet: the admin who confirmed is answered by /confirm",
    events.OrderShipped: "not told yet: the admin who shipped is answered by /ship",
    events.JobCancelled: (
        "a job is only cancelled with its order, by an admin whose /cancel reply says how many "
        "jobs stopped; artisans with an open offer hear OfferWithdrawn. Artisans holding an "
        "allocation of the job are not told yet: a gap to close with its own notice"
    ),
}

REGISTRY = Registry.build(
    flows=(
        registration.FLOW,
        menu.build(MENUS),
        *ARTISAN_FLOWS,
        *AGENT_FLOWS,
        *ADMIN_FLOWS,
    ),
    # In this order in /help: verifying first, then each role's own.
    commands=Commands.merge(
        verification.COMMANDS,
        agent_commands.COMMANDS,
        admin_commands.COMMANDS,
        artisan_commands.COMMANDS,
    ),
    menus=MENUS,
    # When two tables tell the same event (a delivery discrepancy), they run in this order.
    notices=(
        verification.NOTICES,
        agent_notices.NOTICES,
        artisan_notices.NOTICES,
        admin_notices.NOTICES,
    ),
    silent=SILENT,
)
