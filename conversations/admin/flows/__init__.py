"""Every admin flow; each module has its Mermaid diagram beside it.

Adding a flow: write its module and diagram, list its ``Flow`` here, and start it from an admin
command with ``Start(<module>.NAME)``.
"""

from __future__ import annotations

from conversations.admin.flows import approve_payouts, broadcast, cancel_order, new_order
from conversations.flow import Flow

FLOWS: tuple[Flow, ...] = (new_order.FLOW, approve_payouts.FLOW, broadcast.FLOW, cancel_order.FLOW)
