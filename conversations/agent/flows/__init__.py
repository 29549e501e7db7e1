"""Every field agent flow; each module has its Mermaid diagram(s) beside it.

Adding a flow: write its module and diagram, list its ``Flow`` here, and start it from the
agent's commands or menu with ``Start(<module>.NAME)``.
"""

from __future__ import annotations

from conversations.agent.flows import qc_review, receipt, receipt_qc, visit
from conversations.flow import Flow

FLOWS: tuple[Flow, ...] = (
    qc_review.FLOW,
    receipt.PICK_FLOW,
    receipt.FLOW,
    receipt_qc.FLOW,
    visit.PICK_FLOW,
    visit.FLOW,
)
