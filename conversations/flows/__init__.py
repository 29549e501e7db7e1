"""Every conversation flow, by name. Adding a flow: write its module and diagram, list it here."""

from __future__ import annotations

from collections.abc import Mapping

from conversations.flow import Flow
from conversations.flows import (
    artisan_flows,
    menu,
    new_order,
    qc_review,
    receipt,
    registration,
    visit,
)

FLOWS: Mapping[str, Flow] = (
    {flow.name: flow for flow in (registration.FLOW, menu.FLOW)}
    | {
        flow.name: flow
        for flow in (qc_review.FLOW, receipt.PICK_FLOW, receipt.FLOW, visit.PICK_FLOW, visit.FLOW)
    }
    | {new_order.FLOW.name: new_order.FLOW}
    | {flow.name: flow for flow in artisan_flows.FLOWS}
)
