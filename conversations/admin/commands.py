"""Slash commands for admins, the same on every channel, each answered in the admin's language.

One table from the topics' own: orders and production (``orders.py``: ``/orders [status]``,
``/order <id>``, ``/neworder`` (guided), ``/import_orders`` (caption of an attached CSV),
``/confirm <id>``, ``/cancel <id> [reason]``, ``/ship <id>``, ``/jobs [late]``, ``/match``,
``/why <artisan> <job>``), a job's offers by the numbers artisans see (``job_offers.py``:
``/offers <job>``), artisans (``people.py``: ``/artisans [skill|area]``, ``/artisan <id>``,
``/pause <id>``, ``/resume <id>``, ``/broadcast <skill|area|all> en: <text> sw: <text>``), money
(``payouts.py``: ``/payouts``, ``/make_payouts``, ``/approve_payouts [batch]`` (confirmed, and
never by the batch's maker while another admin can: ``flows/approve_payouts.py``),
``/cancel_payouts [batch]``) and the factory (``reports.py``: ``/stats``, ``/deadletters``,
``/retry <id>``), and cancelled work (``settlement.py``: ``/writeoff <allocation> <reason>``).
``/help`` (a global word) lists them from their usage msgids, in this order. Every list
(``/artisans``, ``/orders``, ``/jobs``, ``/deadletters``) pages through ``pager.py``: a page
number as the last word (``/jobs 2``) or the More button.

Only admins may run any of them: ``slash.Commands.run`` refuses everybody else with a clear reply
and logs who tried. Domain errors each map to a polite reply; the domain's own English reason is
shown only where an admin needs it to fix something (a refused CSV line, a BOM missing).
"""

from __future__ import annotations

from collections.abc import Mapping

from conversations.admin import job_offers, orders, payouts, people, reports, settlement, shipping
from conversations.flow import Command
from conversations.slash import Commands

COMMANDS: Mapping[str, Command] = Commands.merge(
    orders.COMMANDS,
    job_offers.COMMANDS,
    people.COMMANDS,
    payouts.COMMANDS,
    reports.COMMANDS,
    settlement.COMMANDS,
    shipping.COMMANDS,  # /shipping N: the Ship button, asking for carrier and tracking
).table
